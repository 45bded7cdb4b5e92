"""Wire-compatible simulators of both venues (docs/simulators.md), apart from the production adapters.

* `common/`: what both simulators share (seeded market model, fault plan, frames, transports, control, money, stamps).
* `extended/`: the Extended simulator (`hedged.sim.extended.server.ExtendedSim`).
* `lighter/`: the Lighter simulator (`hedged.sim.lighter.server.LighterSim`).

Import rule (tests/test_import_rules.py): no module under `hedged/venues/` imports `hedged.sim` except
`hedged/venues/assembly.py`, where `mode = "sim"` is assembled; no module here imports a venue adapter
(`hedged.venues.extended`, `hedged.venues.lighter`).
"""
