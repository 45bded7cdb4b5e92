"""systemd notify protocol over the AF_UNIX datagram socket in $NOTIFY_SOCKET.

A no-op without NOTIFY_SOCKET, so the daemon runs the same by hand. WATCHDOG=1 is
sent at half of $WATCHDOG_USEC, and only while the health check passes: a wedged
or unhealthy daemon stops petting and systemd restarts it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping

import trio
from loguru import logger


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._sock: trio.socket.SocketType | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._addr)

    async def send(self, *lines: str) -> None:
        if not self._addr:
            return
        if self._sock is None:
            self._sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            await self._sock.sendto("\n".join(lines).encode(), self._addr)
        except OSError as e:
            logger.warning("sd_notify_failed error={}", e.strerror)

    async def ready(self) -> None:
        await self.send("READY=1", "STATUS=ready")

    async def status(self, text: str) -> None:
        await self.send(f"STATUS={text}")

    async def stopping(self) -> None:
        await self.send("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def watchdog(self, healthy: Callable[[], bool]) -> None:
        """Pet the watchdog forever, skipping beats while unhealthy."""
        if self.watchdog_interval_s is None or not self._addr:
            await trio.sleep_forever()
        assert self.watchdog_interval_s is not None
        while True:
            if healthy():
                await self.send("WATCHDOG=1")
            else:
                logger.warning("watchdog_skipped reason=unhealthy")
            await trio.sleep(self.watchdog_interval_s)
