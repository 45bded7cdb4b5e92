"""Stand-ins for Telegram, Lark and a webhook, and log capture.

Determinism rules for these tests:
- Anything that waits on a timeout or a backoff runs on `autojump_clock` and talks to
  `FakeSinks`, an in-memory httpx transport: real sockets would let the mock clock jump
  while bytes are in flight.
- Real-socket tests (`recording_server`) run on the real clock, under one absolute
  `trio.fail_after` deadline, and wait on the recorder's events, never on sleeps.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from loguru import logger

TELEGRAM_TOKEN = "7712345678:AAH-secretTokenValue_0123456789abcdefXYZ"
LARK_HOOK_ID = "4f1c2b7e-lark-hook-secret-9a8b7c6d"
LARK_SECRET = "larkSigningSecret42"
WEBHOOK_AUTH = "Bearer webhook-auth-secret-abc123"
ALL_SECRETS = (TELEGRAM_TOKEN, LARK_HOOK_ID, LARK_SECRET, WEBHOOK_AUTH)


@dataclass
class Received:
    sink: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


Behaviour = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


def _sink_of(url: str) -> str:
    if "/bot" in url and url.endswith("/sendMessage"):
        return "telegram"
    if "/hook/" in url:
        return "lark"
    return "webhook"


def ok_response(sink: str) -> httpx.Response:
    if sink == "telegram":
        return httpx.Response(200, json={"ok": True, "result": {"message_id": 1}})
    if sink == "lark":
        return httpx.Response(200, json={"code": 0, "msg": "success", "data": {}})
    return httpx.Response(204)


@dataclass
class FakeSinks:
    """In-memory httpx transport answering like the three services; scriptable per sink."""

    received: list[Received] = field(default_factory=list)
    attempts: list[tuple[float, str]] = field(default_factory=list)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    delivered: trio.Event = field(default_factory=trio.Event)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        sink = _sink_of(url)
        self.attempts.append((trio.current_time(), sink))
        behave = self.behaviour.get(sink)
        if behave is not None:
            result = behave(request)
            response = await result if isinstance(result, Awaitable) else result
        else:
            response = ok_response(sink)
        if 200 <= response.status_code < 300:
            self.received.append(Received(sink, url, dict(request.headers), json.loads(request.content)))
            self.delivered.set()
        return response

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def bodies(self, sink: str) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.sink == sink]


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"connection refused for {request.url}", request=request)


@pytest.fixture
def fake_sinks() -> FakeSinks:
    return FakeSinks()


@pytest.fixture
def loguru_lines() -> list[str]:
    """Every loguru message at any level, formatted with its extra fields."""
    lines: list[str] = []
    sink_id = logger.add(lambda m: lines.append(str(m)), level="TRACE", format="{level} {message} {extra}")
    yield lines
    logger.remove(sink_id)


@dataclass
class RecordingServer:
    """A real HTTP server on 127.0.0.1 that answers as Telegram, Lark or a webhook."""

    port: int
    received: list[Received]
    arrived: trio.Event
    status_for: dict[str, int]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_for(self, count: int) -> None:
        while len(self.received) < count:
            await self.arrived.wait()
            self.arrived = trio.Event()


async def _read_body(receive: Callable) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


@asynccontextmanager
async def recording_server() -> AsyncIterator[RecordingServer]:
    received: list[Received] = []
    server = RecordingServer(0, received, trio.Event(), {})

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = await _read_body(receive)
        path = scope["path"]
        sink = _sink_of(path)
        status = server.status_for.get(sink, 200)
        if status == 200:
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            received.append(Received(sink, path, headers, json.loads(body)))
            server.arrived.set()
            reply = ok_response(sink)
            out = reply.content
        else:
            out = b'{"ok": false, "description": "Internal Server Error"}'
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": out})

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, mode="asgi"))
        server.port = int(binds[0].rsplit(":", 1)[1])
        yield server
        nursery.cancel_scope.cancel()


@contextmanager
def on_log(fragment: str, count: int = 1) -> Iterator[trio.Event]:
    """An event set once `count` loguru messages containing `fragment` were logged.

    loguru calls sinks synchronously in the logging thread (the Trio thread here), so
    setting a trio.Event from the sink is safe.
    """
    event = trio.Event()
    seen = 0

    def sink(message: object) -> None:
        nonlocal seen
        if fragment in str(message):
            seen += 1
            if seen >= count:
                event.set()

    sink_id = logger.add(sink, level="TRACE", format="{message}")
    try:
        yield event
    finally:
        logger.remove(sink_id)
