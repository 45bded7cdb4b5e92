"""`hedged sim`: both simulators as a separate process, reachable with their credentials and
control endpoints, stopped cleanly by SIGINT (real sockets, one absolute deadline)."""

from __future__ import annotations

import json
import re
import signal
import tomllib
from pathlib import Path

import httpx
import trio

from tests.daemon_harness import hedged_process, read_until

REPO = Path(__file__).resolve().parent.parent


async def test_hedged_sim_serves_both_venues_and_their_control_endpoints(tmp_path):
    state = tmp_path / "state"
    buf = bytearray()
    with trio.fail_after(60):
        async with hedged_process("sim", "--config", str(REPO / "etc" / "hedged.toml"), "--log-format", "json",
                                  "--state-dir", str(state), cwd=tmp_path) as proc:
            await read_until(proc.stderr, b"sim_ready", buf)
            line = next(json.loads(raw) for raw in buf.splitlines() if b"sim_ready" in raw)
            urls = dict(re.findall(r"(\w+)=(\S+)", line["msg"]))
            env = dict(row.split("=", 1) for row in (state / "sim.env").read_text().split())
            assert set(env) == {"HEDGED_EXTENDED_API_KEY", "HEDGED_EXTENDED_STARK_PRIVATE_KEY",
                                "HEDGED_LIGHTER_API_PRIVATE_KEY"}
            assert (state / "sim.env").stat().st_mode & 0o077 == 0  # credentials readable by the owner only
            venues = tomllib.loads((state / "sim-venues.toml").read_text())
            assert venues["venues"]["extended"]["rest_url"] == urls["extended"]
            async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
                markets = await http.get(urls["extended"] + "/info/markets", headers={"User-Agent": "test"})
                assert markets.json()["status"] == "OK"
                books = await http.get(urls["lighter"] + "/api/v1/orderBooks")
                assert books.json()["code"] == 200
                before = (await http.get(urls["lighter_control"] + "/truth")).json()["reference"]
                moved = await http.post(urls["extended_control"] + "/price", json={"pct": "-2"})
                assert moved.status_code == 200
                after = (await http.get(urls["lighter_control"] + "/truth")).json()["reference"]
                assert float(after) < float(before)  # one shared market: a move on one venue moves both
            proc.send_signal(signal.SIGINT)
            assert await proc.wait() == 0
