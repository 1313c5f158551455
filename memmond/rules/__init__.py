"""Rules: the expression language, the state machine that turns expressions into events, pressure levels."""
