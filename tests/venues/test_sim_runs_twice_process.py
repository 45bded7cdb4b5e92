"""`make run` twice on the same state dir, as processes: the second run's embedded simulators hand out ids
the first run's journal has never seen, so its fills are hedged like the first run's (issue 11.8)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import trio

from hedged.config import Config
from tests.daemon_harness import hedged_process

REPO = Path(__file__).resolve().parents[2]
# Quick cycles, and DEBUG so that `hedge_settled` (the end of a hedge) is logged.
FAST_CYCLES = {"delay_min_s": "0.1", "delay_max_s": "0.2", "hold_min_s": "0.5", "hold_max_s": "1.0",
               "level": '"DEBUG"'}


def fast_config(path: Path) -> Path:
    text = (REPO / "etc" / "hedged.toml").read_text()
    for key, value in FAST_CYCLES.items():
        text, n = re.subn(rf"^{key} = [^\s#]+", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    path.write_text(text)
    return path


ANOMALIES = ("cumulative_regressed", "orders_merged", "hedge_failed", "guard_breach", "side_mismatch")


async def run_until_a_hedge_settles(config: Path, state: Path, cwd: Path) -> tuple[int, str]:
    """Run the daemon until a hedge settles (or an anomaly shows up, which fails fast), then SIGTERM it."""
    buf = bytearray()
    async with hedged_process("--config", str(config), "--metrics-port", "0", "--log-format", "json",
                              "--state-dir", str(state), cwd=cwd) as proc:
        while b"hedge_settled" not in buf and not any(a.encode() in buf for a in ANOMALIES):
            chunk = await proc.stderr.receive_some(65536)
            assert chunk, f"the daemon ended early: {buf.decode(errors='replace')}"
            buf.extend(chunk)
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(Config().daemon.graceful_stop_s + 5):
            code = await proc.wait()
        while chunk := await proc.stderr.receive_some(1 << 20):
            buf.extend(chunk)
    return code, buf.decode(errors="replace")


async def test_a_second_run_on_the_same_state_dir_hedges_without_id_anomalies(tmp_path):
    config, state = fast_config(tmp_path / "hedged.toml"), tmp_path / "state"
    with trio.fail_after(90):
        first_code, first = await run_until_a_hedge_settles(config, state, tmp_path)
        second_code, second = await run_until_a_hedge_settles(config, state, tmp_path)
    assert first_code == 0, first
    assert second_code == 0, second
    for bad in ANOMALIES:
        assert bad not in second, bad
    assert "hedge_settled" in second
