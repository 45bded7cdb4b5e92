"""The batched frame writer: several messages in one socket write are still separate, intact text messages."""

import pytest
import trio
import trio_websocket
import wsproto
from wsproto.events import TextMessage

from hedged.sim.common.frames import send_texts, ws_text_frames
from hedged.sim.common.transport import MemoryWsConnector, serve_tcp

# Lengths at each edge of the three WebSocket length encodings (7-bit, 16-bit, 64-bit).
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def _payload(n: int, seed: int) -> bytes:
    text = "".join(chr(ord("a") + (i * 7 + seed) % 26) for i in range(n))
    return text.encode()


def test_built_frames_decode_as_one_text_message_each_for_every_length_encoding():
    payloads = [_payload(n, i) for i, n in enumerate(SIZES)]
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(client.send(wsproto.events.Request(host="x", target="/")))
    next(server.events())
    client.receive_data(server.send(wsproto.events.AcceptConnection()))
    list(client.events())
    client.receive_data(ws_text_frames(payloads))
    got = list(client.events())
    assert all(isinstance(e, TextMessage) and e.message_finished for e in got)
    assert [e.data.encode() for e in got] == payloads


class Burst:
    """Sends every payload of `payloads` with one `send_texts` call, then waits for the client to close."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.payloads = payloads

    async def serve_ws(self, path, query, headers, conn) -> None:
        await send_texts(conn, self.payloads)
        await conn.get_message()


async def _read_all(conn: trio_websocket.WebSocketConnection, n: int) -> list[str]:
    return [await conn.get_message() for _ in range(n)]


async def test_a_burst_over_a_socket_arrives_as_separate_messages_in_order():
    payloads = [_payload(n, i) for i, n in enumerate(SIZES)] + [b'{"k":"\xc3\xa9"}']
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_tcp, None, Burst(payloads))
        async with trio_websocket.open_websocket_url(server.ws_url("/x")) as ws:
            got = await _read_all(ws, len(payloads))
        nursery.cancel_scope.cancel()
    assert [g.encode() for g in got] == payloads


async def test_a_burst_over_the_in_memory_connector_arrives_as_separate_messages_in_order():
    payloads = [b"one", b"", b"three" * 40]
    async with MemoryWsConnector(Burst(payloads))("ws://sim/x") as ws:
        got = await _read_all(ws, len(payloads))
    assert [g.encode() for g in got] == payloads


async def test_sending_on_a_closed_connection_raises_connection_closed():
    closed = trio.Event()

    class CloseThenSend:
        async def serve_ws(self, path, query, headers, conn) -> None:
            await conn.aclose()
            with pytest.raises(trio_websocket.ConnectionClosed):
                await send_texts(conn, [b"late"])
            closed.set()

    async with MemoryWsConnector(CloseThenSend())("ws://sim/x") as ws:
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()
        await closed.wait()
