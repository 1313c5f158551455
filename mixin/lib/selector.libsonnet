// Checks a selector (label matchers without braces) before it is pasted into every query, so that a
// typo fails the render with the position and the problem, not later as a PromQL parse error on each of
// thirty expressions in Prometheus's log. Only double-quoted values are accepted.
local nameStart(c) = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
local nameChar(c) = nameStart(c) || (c >= '0' && c <= '9');

local step(st, c) =
  local at = st { i: st.i + 1 };
  local go(state) = at { state: state };
  local fail(what) = at { problem: 'character %d (%s): %s' % [st.i + 1, std.manifestJson(c), what] };
  if st.problem != null then st
  else if st.state == 'start' then
    (if c == ' ' then at else if nameStart(c) then go('name') else fail('expected a label name'))
  else if st.state == 'name' then
    (if nameChar(c) then at else if c == ' ' then go('afterName') else if c == '=' then go('eq')
     else if c == '!' then go('bang') else fail('expected =, !=, =~ or !~ after the label name'))
  else if st.state == 'afterName' then
    (if c == ' ' then at else if c == '=' then go('eq') else if c == '!' then go('bang')
     else fail('expected =, !=, =~ or !~ after the label name'))
  else if st.state == 'eq' then
    (if c == '~' || c == ' ' then go('op') else if c == '"' then go('value') else fail('expected a "quoted" value'))
  else if st.state == 'bang' then
    (if c == '=' || c == '~' then go('op') else fail('expected != or !~'))
  else if st.state == 'op' then
    (if c == ' ' then at else if c == '"' then go('value') else fail('expected a "quoted" value'))
  else if st.state == 'value' then
    (if c == '\\' then go('escape') else if c == '"' then go('after') else at)
  else if st.state == 'escape' then go('value')
  else
    (if c == ' ' then at else if c == ',' then go('start') else fail('expected a comma between matchers'));

{
  // null when `selector` is one or more matchers like  job="memmond", cluster=~"eu-.*"  else the problem.
  problem(selector)::
    if std.type(selector) != 'string' then 'must be a string, not a %s' % std.type(selector)
    else
      local end = std.foldl(step, std.stringChars(selector), { state: 'start', i: 0, problem: null });
      if end.problem != null then end.problem
      else if end.state != 'after' then
        (if std.length(std.stripChars(selector, ' ')) == 0 then 'is empty: give at least one matcher, e.g. job="memmond"'
         else 'ends inside a matcher (an unclosed quote, a missing value or a trailing comma)')
      else null,

  check(selector)::
    local problem = self.problem(selector);
    assert problem == null : 'memmond mixin: _config.selector %s: %s' % [std.manifestJson(selector), problem];
    selector,
}
