"""Rules that keep this suite deterministic (read before adding a test):

1. A test that waits on time uses the `autojump_clock` fixture (trio.testing.MockClock with
   autojump_threshold=0): a 30 s hedge timeout runs in microseconds, the same way every time.
   Never sleep to "let something happen": wait on the AsyncValue, Event or channel that says it did.
2. Tests that cross real sockets (subprocess, sd_notify, loopback HTTP) do not use the autojump
   clock, since bytes in the kernel look like idleness to it; they carry one absolute deadline
   (trio.fail_after) so a hang fails instead of stalling CI.
3. Randomness comes from a seeded random.Random passed in; a failing seed is reproducible.
4. Simulators are reached through their in-memory transport under the autojump clock, or on
   127.0.0.1 ephemeral ports with real time. Never any other address.
5. Nursery failures are ExceptionGroups: assert them with pytest.RaisesGroup.
6. One side initiates a close, and every resource a test opens is closed by an `async with`.
"""

import dataclasses  # noqa: E402

import pytest  # noqa: E402

from hedged.config import Config  # noqa: E402


@pytest.fixture
def sim_config(tmp_path) -> Config:
    """The shipped defaults with the state dir in the test's tmp_path."""
    cfg = Config()
    return dataclasses.replace(cfg, daemon=dataclasses.replace(cfg.daemon, state_dir=tmp_path / "state"))


@pytest.fixture
async def sim_pair_tcp(nursery, sim_config):
    """Both venue simulators, one shared market, served on 127.0.0.1 ephemeral ports in the test's nursery."""
    from hedged.venues.assembly import SimPair

    pair = SimPair.build(sim_config)
    await nursery.start(pair.serve)
    return pair
