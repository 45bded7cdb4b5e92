"""Fixtures for the Lighter simulator: a running sim with one funded account and a registered test key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from hedged.venues.lighter.signing import Signer
from hedged.sim.lighter.server import LighterSim, LighterSimSettings
from tests.venues.lighter.sim_trader import LighterSimTrader, prepare_sim


@pytest.fixture
def lighter_sim_settings() -> LighterSimSettings:
    return LighterSimSettings(seed=7)


@pytest.fixture
async def lighter_sim(nursery: trio.Nursery, lighter_sim_settings: LighterSimSettings) -> LighterSim:
    """A running simulator (book feed + sequencer in the test's nursery); account 604118 with key 5."""
    sim = LighterSim(lighter_sim_settings)
    sim.test_signer = prepare_sim(sim)  # type: ignore[attr-defined]
    await nursery.start(sim.run)
    return sim


@pytest.fixture
def lighter_sim_signer(lighter_sim: LighterSim) -> Signer:
    return lighter_sim.test_signer  # type: ignore[attr-defined]


@pytest.fixture
async def lighter_sim_http(lighter_sim: LighterSim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=lighter_sim.http_transport(), base_url="http://lighter.sim") as client:
        yield client


@pytest.fixture
def lighter_sim_trader(
    lighter_sim: LighterSim, lighter_sim_signer: Signer, lighter_sim_http: httpx.AsyncClient
) -> LighterSimTrader:
    return LighterSimTrader(lighter_sim, lighter_sim_signer, lighter_sim_http)
