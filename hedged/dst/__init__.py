"""Deterministic simulation testing (DST) of the whole daemon: one integer seed decides everything.

* `world`: the seed's config, both simulators, the virtual wall clock, cuttable cables, the trace.
* `plan`: the seed's fault plan (timed actions over every simulator knob, crashes, graceful stops).
* `checker`: the invariants, against the simulators' truth.
* `runner`: `run_seed(seed, minutes)` -> `SeedResult` (violations, stats, the byte-stable trace).
* `cli`: `hedged dst`, `make dst`, `make soak`.

See docs/dst.md.
"""
