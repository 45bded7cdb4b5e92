"""sd_notify against a real AF_UNIX datagram socket (real clock, one absolute deadline)."""

from __future__ import annotations

import os
import signal
import socket

import trio

from hedged.config import Config, MetricsConfig
from hedged import daemon
from hedged.nursery import Notifier


async def _receive(sock: trio.socket.SocketType, want: str, seen: list[str]) -> None:
    while not any(want in m for m in seen):
        data = await sock.recv(4096)
        seen.append(data.decode())


async def test_notifier_is_a_no_op_without_notify_socket():
    n = Notifier(environ={})
    assert not n.enabled and n.watchdog_interval_s is None
    await n.ready()  # must not raise or open anything
    n.close()


async def test_daemon_sends_ready_watchdog_and_stopping(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    await sock.bind(path)
    notifier = Notifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    assert notifier.watchdog_interval_s == 0.05
    cfg = Config(metrics=MetricsConfig(port=0))
    cfg = daemon_config(cfg, tmp_path)
    seen: list[str] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as n:
            codes: list[int] = []

            async def run_daemon():
                codes.append(await daemon.main(cfg, notifier=notifier))

            n.start_soon(run_daemon)
            await _receive(sock, "READY=1", seen)
            await _receive(sock, "WATCHDOG=1", seen)
            # Stop the way systemd does: SIGTERM to the process, caught by the daemon's signal watcher.
            os.kill(os.getpid(), signal.SIGTERM)
            await _receive(sock, "STOPPING=1", seen)
    sock.close()
    assert codes == [0]
    ready_at = next(i for i, m in enumerate(seen) if "READY=1" in m)
    stopping_at = next(i for i, m in enumerate(seen) if "STOPPING=1" in m)
    assert ready_at < stopping_at
    assert any(m.startswith("STATUS=") for m in seen)


def daemon_config(cfg: Config, tmp_path) -> Config:
    import dataclasses

    return dataclasses.replace(cfg, daemon=dataclasses.replace(cfg.daemon, state_dir=tmp_path / "state"))


async def test_watchdog_beats_only_while_healthy(autojump_clock, tmp_path):
    sent: list[str] = []

    class Recording(Notifier):
        async def send(self, *lines: str) -> None:
            sent.extend(lines)

    healthy = True
    n = Recording(environ={"NOTIFY_SOCKET": "/unused", "WATCHDOG_USEC": "2000000"})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(n.watchdog, lambda: healthy)
        await trio.sleep(3.5)  # beats at 0, 1, 2, 3
        healthy = False
        await trio.sleep(3)
        nursery.cancel_scope.cancel()
    assert sent.count("WATCHDOG=1") == 4
