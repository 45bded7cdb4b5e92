"""The testnet road of docs/simulators.md: `hedged sim` writes a `[venues.*]` fragment and an env
file; a testnet-mode config made from them passes `hedged config check` (as processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

from tests.daemon_harness import hedged_process, read_until

REPO = Path(__file__).resolve().parent.parent


async def test_hedged_sims_fragment_loads_in_a_testnet_config(tmp_path):
    state = tmp_path / "state"
    buf = bytearray()
    with trio.fail_after(60):
        async with hedged_process("sim", "--config", str(REPO / "etc" / "hedged.toml"), "--log-format", "json",
                                  "--state-dir", str(state), cwd=tmp_path) as proc:
            await read_until(proc.stderr, b"sim_credentials", buf)
            fragment = (state / "sim-venues.toml").read_text()
            env = dict(line.split("=", 1) for line in (state / "sim.env").read_text().split())
            proc.send_signal(signal.SIGINT)
            assert await proc.wait() == 0
    assert 'mode = "testnet"' in fragment and "stark_public_key = \"0x" in fragment
    config = tmp_path / "testnet.toml"
    config.write_text(f"[daemon]\nstate_dir = \"{tmp_path / 'live'}\"\n\n{fragment}")
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    res = await trio.to_thread.run_sync(lambda: subprocess.run(
        [sys.executable, "-m", "hedged.cli", "config", "check", "--config", str(config)],
        env={**base, **env}, capture_output=True, text=True, timeout=60))
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(": set") == 3
    for value in env.values():
        assert value not in res.stdout + res.stderr
