"""The daemon as a process: SIGTERM stops it with exit 0; nothing is left behind in-process."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from pathlib import Path

import trio

from hedged.config import Config, MetricsConfig
from hedged.venues.lighter.signing import generate_api_key
from tests.daemon_harness import hedged_process, read_until, run_daemon

REPO = Path(__file__).resolve().parent.parent


async def test_sigterm_stops_the_daemon_with_exit_0_within_the_deadline(tmp_path):
    buf = bytearray()
    with trio.fail_after(60):
        async with hedged_process("--config", str(REPO / "etc" / "hedged.toml"), "--metrics-port", "0",
                                  "--log-format", "json", "--state-dir", str(tmp_path / "state"),
                                  cwd=tmp_path) as proc:
            await read_until(proc.stderr, b"status ready", buf)
            proc.send_signal(signal.SIGTERM)
            with trio.fail_after(Config().daemon.graceful_stop_s + 5):
                code = await proc.wait()
            while chunk := await proc.stderr.receive_some(1 << 20):
                buf.extend(chunk)
    assert code == 0, buf.decode(errors="replace")
    assert b"daemon_stopped" in buf


def _our_tasks() -> int:
    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(child) for nursery in task.child_nurseries for child in nursery.child_tasks)

    return count(trio.lowlevel.current_root_task())


def _threads() -> set[str]:
    # Trio keeps idle worker threads cached for reuse; they hold nothing of ours.
    return {t.name for t in threading.enumerate() if not t.name.startswith("Trio thread")}


async def test_nothing_is_left_open_after_the_root_scope_exits(tmp_path):
    cfg = dataclasses.replace(
        Config(metrics=MetricsConfig(port=0)),
        daemon=dataclasses.replace(Config().daemon, state_dir=tmp_path / "state"),
    )
    # The Lighter signer is a Go library: its runtime opens an epoll and an eventfd once per
    # process, on first use, and keeps them. Start it first so the baseline includes them.
    generate_api_key()
    fds_before = set(os.listdir("/proc/self/fd"))
    threads_before = _threads()
    tasks_before = _our_tasks()
    with trio.fail_after(20):
        _, code = await run_daemon(cfg)
    assert code == 0
    assert _our_tasks() == tasks_before
    assert _threads() == threads_before
    leaked = {fd for fd in set(os.listdir("/proc/self/fd")) - fds_before if os.path.exists(f"/proc/self/fd/{fd}")}
    assert leaked == set(), [os.readlink(f"/proc/self/fd/{fd}") for fd in leaked]
