"""Rules over cgroups (`for_each: cgroup`): one state machine per cgroup of the walk, the built-in
cgroup_near_limit / cgroup_oom_kill / cgroup_memory_stall, and the config's checks. The cgroups come from
the v2 fixture tree (read by the real source); the test moves their figures and the clock."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import FIXTURES
from test_rules import VOCAB, snap

from memmond import config
from memmond.config import ConfigError
from memmond.model.cgroups import OTHER, CgroupSample
from memmond.rules import ruleset
from memmond.rules.engine import FIRING, Engine, Rule
from memmond.sources import cgroup
from memmond.sources.cgroup import CgroupMemory

MiB = 1 << 20
NGINX = "/system.slice/nginx.service"
POSTGRES = "/system.slice/postgresql.service"
TREE = cgroup.Tree.from_roots([FIXTURES / "cgroup-v2-systemd"])
assert TREE is not None
FIXTURE = {c.path: c for c in cgroup.walk(TREE)}


def builtin(name: str) -> Rule:
    rules = ruleset.build(config.Config(), VOCAB).rules
    return next(rule for rule in rules if rule.name == name)


def user_rules(text: str) -> list[Rule]:
    return ruleset.build(config.parse("builtin_rules: {enabled: false}\n" + text, "m.yaml"), VOCAB).rules


class Walks:
    """Feeds an engine one machine sample and one cgroup walk a second, as the daemon does."""

    def __init__(self, *rules: Rule) -> None:
        self.engine = Engine(rules, VOCAB)
        self.history = [snap(0)]
        self.t = 0.0

    def walk(self, *cgroups: CgroupMemory) -> list[tuple[str, str, str]]:
        self.t += 1.0
        self.history.append(snap(self.t))
        sample = CgroupSample(tuple(cgroups), 0, len(cgroups), 0.0, self.t)
        transitions = self.engine.evaluate(self.history, 1.0, sample, 1.0)
        return [(t.rule.name, t.state, t.cgroup) for t in transitions]

    def walks(self, seconds: int, *cgroups: CgroupMemory) -> list[tuple[str, str, str]]:
        return [transition for _ in range(seconds) for transition in self.walk(*cgroups)]


def at(path: str, **changes: object) -> CgroupMemory:
    return dataclasses.replace(FIXTURE[path], **changes)


def test_near_limit_fires_for_the_cgroup_that_stays_near_its_limit_for_a_minute() -> None:
    walks = Walks(builtin("cgroup_near_limit"))
    near = at(NGINX, current=500 * MiB)  # of 512 MiB
    roomy = at(POSTGRES)  # 3 of 8 GiB
    assert walks.walks(60, near, roomy) == [("cgroup_near_limit", "pending", NGINX)]
    assert walks.walk(near, roomy) == [("cgroup_near_limit", FIRING, NGINX)]
    assert walks.engine.firing_cgroups("cgroup_near_limit") == [(NGINX, "nginx.service")]
    assert walks.engine.states["cgroup_near_limit"].state == FIRING
    assert walks.engine.states["cgroup_near_limit"].events_total == 1
    # hysteresis: below 90 % but above the 85 % clear line it stays firing; under 85 % it resolves
    assert walks.walk(at(NGINX, current=450 * MiB), roomy) == []
    assert walks.walk(at(NGINX, current=400 * MiB), roomy) == [("cgroup_near_limit", "resolved", NGINX)]
    assert walks.engine.firing_cgroups("cgroup_near_limit") == []
    assert walks.engine.cgroup_states["cgroup_near_limit"] == {}  # quiet cgroups keep no state


def test_the_summary_names_the_unit_the_cgroup_and_its_figures() -> None:
    engine = Engine([builtin("cgroup_near_limit")], VOCAB)
    engine.rules[0] = dataclasses.replace(engine.rules[0], for_seconds=0)
    sample = CgroupSample((at(NGINX, current=500 * MiB),), 0, 1, 0.0, 1.0)
    (transition,) = engine.evaluate([snap(1)], 1.0, sample, 1.0)
    assert transition.summary == (
        "nginx.service (/system.slice/nginx.service) uses 500.0 MiB of its 512.0 MiB limit; past it the kernel "
        "reclaims its cache, then OOM-kills inside it"
    )
    assert (transition.cgroup, transition.unit, transition.value) == (NGINX, "nginx.service", 500 * MiB)


def test_an_oom_kill_between_two_walks_fires_for_that_cgroup_only() -> None:
    walks = Walks(builtin("cgroup_oom_kill"))
    kills = FIXTURE[NGINX].events["oom_kill"]
    before = at(NGINX)
    assert walks.walk(before, at(POSTGRES)) == []
    after = at(NGINX, events={**FIXTURE[NGINX].events, "oom_kill": kills + 1})
    assert walks.walk(after, at(POSTGRES)) == [("cgroup_oom_kill", FIRING, NGINX)]
    # keep_firing_for 5m: quiet walks keep it firing, then it resolves
    assert walks.walks(299, after, at(POSTGRES)) == []
    assert walks.walk(after, at(POSTGRES)) == [("cgroup_oom_kill", "resolved", NGINX)]


def test_a_cgroup_first_seen_with_old_kills_does_not_fire() -> None:
    walks = Walks(builtin("cgroup_oom_kill"))
    assert walks.walks(3, at(NGINX)) == []  # two kills since it was created, none since memmond saw it


def test_the_stall_rule_reads_each_cgroups_own_pressure() -> None:
    walks = Walks(builtin("cgroup_memory_stall"))
    # the fixture's nginx.service stalls 14.2 % (avg10), postgresql 0 %
    transitions = walks.walks(61, at(NGINX), at(POSTGRES))
    assert transitions == [("cgroup_memory_stall", "pending", NGINX), ("cgroup_memory_stall", FIRING, NGINX)]


def test_a_cgroup_that_leaves_the_walk_resolves_and_forgets_its_state() -> None:
    (rule,) = user_rules("rules:\n- {name: big, for_each: cgroup, expr: cgroup_memory > 100MiB}\n")
    walks = Walks(rule)
    assert walks.walk(at(NGINX), at(POSTGRES)) == [("big", FIRING, NGINX), ("big", FIRING, POSTGRES)]
    assert walks.engine.states["big"].events_total == 2
    assert walks.walk(at(POSTGRES)) == [("big", "resolved", NGINX)]
    assert walks.engine.firing_cgroups("big") == [(POSTGRES, "postgresql.service")]
    assert walks.walk(at(NGINX), at(POSTGRES)) == [("big", FIRING, NGINX)]  # back: a new event
    assert walks.engine.states["big"].events_total == 3


def test_the_other_entry_is_not_a_cgroup_rules_look_at() -> None:
    (rule,) = user_rules("rules:\n- {name: big, for_each: cgroup, expr: cgroup_memory > 1MiB}\n")
    walks = Walks(rule)
    other = CgroupMemory(path=OTHER, unit="", version=2, current=10 << 30)
    assert walks.walk(at(POSTGRES), other) == [("big", FIRING, POSTGRES)]


def test_per_cgroup_rules_advance_per_walk_not_per_sample() -> None:
    (rule,) = user_rules("rules:\n- {name: big, for_each: cgroup, expr: cgroup_memory > 100MiB, for: 2s}\n")
    engine = Engine([rule], VOCAB)
    sample = CgroupSample((at(NGINX),), 0, 1, 0.0, 1.0)
    history = [snap(1)]
    assert [t.state for t in engine.evaluate(history, 1.0, sample, 5.0)] == ["pending"]
    for t in range(2, 10):  # the walk runs every 5 s: the same walk seen again changes nothing
        history.append(snap(t))
        assert engine.evaluate(history, 1.0, sample, 5.0) == []
    later = dataclasses.replace(sample, monotonic=6.0)
    assert [t.state for t in engine.evaluate(history, 1.0, later, 5.0)] == [FIRING]


def test_window_functions_look_back_on_each_cgroups_own_samples() -> None:
    (rule,) = user_rules("rules:\n- {name: growing, for_each: cgroup, expr: 'delta(cgroup_anon, 10s) > 50MiB'}\n")
    walks = Walks(rule)
    base = FIXTURE[NGINX].anon or 0
    out = []
    for step in range(12):
        out += walks.walk(at(NGINX, anon=base + step * 10 * MiB), at(POSTGRES))
    # nginx grows 10 MiB a second: no data until its own history covers 10 s, then 100 MiB > 50 MiB
    assert out == [("growing", FIRING, NGINX)]
    assert walks.t == 12


def test_machine_wide_names_can_stand_beside_cgroup_names() -> None:
    (rule,) = user_rules("rules:\n- {name: share, for_each: cgroup, expr: cgroup_memory > 10% * mem_total}\n")
    walks = Walks(rule)  # mem_total is 16 GiB in these samples: postgresql's 3 GiB is over 1.6 GiB
    assert walks.walk(at(NGINX), at(POSTGRES)) == [("share", FIRING, POSTGRES)]


BAD_RULES = """\
builtin_rules: {enabled: false}
rules:
  - {name: no_cgroup_name, for_each: cgroup, expr: mem_available < 1GiB}
  - {name: missing_for_each, expr: cgroup_memory > 1GiB}
  - {name: summary_without_cgroup, expr: mem_available < 1GiB, summary: "in {{ cgroup }}"}
  - {name: mixed_window, for_each: cgroup, expr: "rate(cgroup_oom_kill + pgmajfault) > 0"}
  - {name: clear_per_cgroup, expr: mem_available < 1GiB, clear: cgroup_memory > 1GiB}
  - {name: for_each_what, for_each: process, expr: mem_available < 1GiB}
  - {name: reserved_label, for_each: cgroup, expr: cgroup_memory > 1GiB, labels: {unit: x}}
"""


def test_every_mistake_in_a_per_cgroup_rule_is_named_in_one_run() -> None:
    with pytest.raises(ConfigError) as caught:
        ruleset.build(config.parse(BAD_RULES, "m.yaml"), VOCAB)
    problems = "\n".join(caught.value.problems)
    with pytest.raises(ConfigError) as structural:
        config.parse(BAD_RULES, "m.yaml")
    structure = "\n".join(structural.value.problems)
    assert "m.yaml:8:37: rules[5].for_each: expected one of cgroup, got 'process'" in structure
    assert "m.yaml:9:83: rules[6].labels.unit: 'unit' is set by memmond and cannot be a label" in structure
    # the expression problems, once the structure is right
    fixed = BAD_RULES.replace("for_each: process", "for_each: cgroup").replace("labels: {unit: x}", "labels: {}")
    with pytest.raises(ConfigError) as caught:
        ruleset.build(config.parse(fixed, "m.yaml"), VOCAB)
    problems = "\n".join(caught.value.problems)
    assert "rules[0].expr: a rule with 'for_each: cgroup' looks at each cgroup: use a cgroup_* name" in problems
    assert "rules[1].expr: cgroup_memory is a value of each cgroup: add 'for_each: cgroup' to the rule" in problems
    assert "rules[2].summary: {{ cgroup }}: only a rule with 'for_each: cgroup' has a cgroup to name" in problems
    assert "rules[3].expr: a window function looks back on one kind of series" in problems
    assert "rules[4].clear: cgroup_memory is a value of each cgroup" in problems
    assert len(caught.value.problems) == 6  # rules[5] too: for_each cgroup over machine-wide names


def test_per_cgroup_rules_need_cgroups_on() -> None:
    text = "cgroups: {enabled: false}\nrules:\n- {name: big, for_each: cgroup, expr: cgroup_memory > 1GiB}\n"
    with pytest.raises(ConfigError) as caught:
        ruleset.build(config.parse(text, "m.yaml"), VOCAB)
    assert caught.value.problems == ["m.yaml:3:3: rules[0].for_each: needs cgroups (set cgroups.enabled: true)"]
    # the built-in per-cgroup rules are skipped with the reason, not an error
    built = ruleset.build(config.parse("cgroups: {enabled: false}\n", "m.yaml"), VOCAB)
    assert built.skipped["cgroup_near_limit"] == "cgroups are disabled in the config (cgroups.enabled)"


def test_a_reload_keeps_the_state_of_an_unchanged_per_cgroup_rule() -> None:
    walks = Walks(*user_rules("rules:\n- {name: big, for_each: cgroup, expr: cgroup_memory > 1GiB}\n"))
    assert walks.walk(at(POSTGRES)) == [("big", FIRING, POSTGRES)]
    walks.engine.replace_rules(
        user_rules("rules:\n- {name: big, for_each: cgroup, expr: cgroup_memory > 1GiB}\n"), VOCAB
    )
    assert walks.walk(at(POSTGRES)) == []  # still firing, no second event
    assert walks.engine.firing_cgroups("big") == [(POSTGRES, "postgresql.service")]
    walks.engine.replace_rules(
        user_rules("rules:\n- {name: big, for_each: cgroup, expr: cgroup_memory > 2GiB}\n"), VOCAB
    )
    assert walks.walk(at(POSTGRES)) == [("big", FIRING, POSTGRES)]  # a changed rule starts afresh
