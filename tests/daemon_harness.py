"""Running the whole daemon inside a test: the way its end-to-end tests start and stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio

from hedged import daemon
from hedged.config import Config
from hedged.nursery import Notifier


async def run_daemon(cfg: Config, until: Callable[[daemon.Runtime], Awaitable[None]] | None = None
                     ) -> tuple[daemon.Runtime, int]:
    """Run `daemon.main(cfg)` until it is ready and `until(runtime)` has returned, then stop it the
    way systemd does (SIGTERM to this process, caught by the daemon's own signal watcher).
    Returns the runtime, for the aftermath, and the exit code."""
    ready = trio.Event()
    runtime: list[daemon.Runtime] = []
    codes: list[int] = []

    class ReadyNotifier(Notifier):
        async def ready(self) -> None:
            ready.set()

    async def run() -> None:
        codes.append(await daemon.main(cfg, notifier=ReadyNotifier(environ={}), on_runtime=runtime.append))

    async with trio.open_nursery() as n:
        n.start_soon(run)
        await ready.wait()  # the signal watcher and every service are up
        if until is not None:
            await until(runtime[0])
        os.kill(os.getpid(), signal.SIGTERM)
    return runtime[0], codes[0]


@asynccontextmanager
async def hedged_process(*args: str, cwd) -> AsyncIterator[trio.lowlevel.Process]:
    """`python -m hedged.cli ARGS` with stderr piped; killed on the way out if it is still running."""
    proc = await trio.lowlevel.open_process([sys.executable, "-m", "hedged.cli", *args],
                                            stderr=subprocess.PIPE, cwd=cwd)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()
        await proc.stderr.aclose()


async def read_until(stream: trio.abc.ReceiveStream, marker: bytes, buf: bytearray) -> None:
    """Read `stream` into `buf` until `marker` shows up (fails if the stream ends first)."""
    while marker not in buf:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise AssertionError(f"process ended before {marker!r}: {buf.decode(errors='replace')}")
        buf.extend(chunk)
