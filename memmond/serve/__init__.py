"""Stage 4, serve: the daemon.

`daemon` wires config, sampling loop, rules, signals and reload; `exposition` turns the latest sample
into Prometheus text once per sample; `http` serves it; `webconfig` adds TLS and basic auth; `logs`
writes journald events; `notify` speaks sd_notify.

May import every stage below it (sources, model, config, rules) and `memmond.format`; never `memmond.cli`
or `memmond.api`, so the daemon's process loads neither.
"""
