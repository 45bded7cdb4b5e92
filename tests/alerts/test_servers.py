"""End to end over real sockets: local HTTP servers stand in for Telegram, Lark and a webhook."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

from hedged.alerts import Alerter, AlertSettings, IncidentStore, LarkSettings, Severity, TelegramSettings, WebhookSettings
from hedged.alerts.sinks import lark_sign
from hedged.alerts.store import SENT

from .conftest import LARK_HOOK_ID, LARK_SECRET, TELEGRAM_TOKEN, WEBHOOK_AUTH, on_log, recording_server


def _settings(base: str, **kw: object) -> AlertSettings:
    return AlertSettings(
        telegram=TelegramSettings(bot_token=TELEGRAM_TOKEN, chat_id="-1001", base_url=base),
        lark=LarkSettings(webhook_url=f"{base}/open-apis/bot/v2/hook/{LARK_HOOK_ID}", secret=LARK_SECRET),
        webhook=WebhookSettings(url=f"{base}/hedged/incidents", headers={"Authorization": WEBHOOK_AUTH}),
        timeout_s=5.0,
        # Real clock here: keep the retry short so a sink outage costs milliseconds.
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        **kw,  # type: ignore[arg-type]
    )


async def test_three_services_receive_well_formed_requests(tmp_path: Path) -> None:
    with trio.fail_after(15), IncidentStore(tmp_path / "i.sqlite") as store, on_log("alert_sent", 3) as sent:
        async with recording_server() as server, trio.open_nursery() as nursery:
            alerter = Alerter(
                _settings(server.base), store, daemon="hedged-btc", market="BTC-USD",
                positions=lambda: {"extended": Decimal("0.010"), "lighter": Decimal("-0.010")},
            )
            await nursery.start(alerter.run)
            incident_id = await alerter.alert("hedge_failed", Severity.CRITICAL, reason="rejected", attempt=3)
            await sent.wait()
            nursery.cancel_scope.cancel()
        by_sink = {r.sink: r for r in server.received}
        telegram = by_sink["telegram"]
        assert telegram.url == f"/bot{TELEGRAM_TOKEN}/sendMessage"
        assert telegram.headers["content-type"] == "application/json"
        assert telegram.body["chat_id"] == "-1001"
        assert telegram.body["text"].startswith("[CRITICAL] hedge_failed (hedged-btc BTC-USD)\n")
        lark = by_sink["lark"]
        assert lark.url == f"/open-apis/bot/v2/hook/{LARK_HOOK_ID}"
        assert lark.body["sign"] == lark_sign(int(lark.body["timestamp"]), LARK_SECRET)
        webhook = by_sink["webhook"]
        assert webhook.headers["authorization"] == WEBHOOK_AUTH
        assert webhook.body["incident_id"] == incident_id
        assert webhook.body["positions"] == {"extended": "0.010", "lighter": "-0.010"}
        assert webhook.body["details"] == {"reason": "rejected", "attempt": 3}
        assert {d.state for d in store.get(incident_id).deliveries} == {SENT}


async def test_a_sink_answering_500_gets_the_incident_once_it_recovers(tmp_path: Path) -> None:
    with trio.fail_after(15), IncidentStore(tmp_path / "i.sqlite") as store, on_log(
        "alert_retry sink=webhook"
    ) as failed, on_log("alert_sent sink=webhook") as sent:
        async with recording_server() as server, trio.open_nursery() as nursery:
            server.status_for["webhook"] = 500
            alerter = Alerter(_settings(server.base), store)
            await nursery.start(alerter.run)
            incident_id = await alerter.alert("halted", Severity.CRITICAL)
            await server.wait_for(2)  # telegram and lark
            await failed.wait()
            del server.status_for["webhook"]
            await sent.wait()
            nursery.cancel_scope.cancel()
        webhook = {d.sink: d for d in store.get(incident_id).deliveries}["webhook"]
        assert webhook.state == SENT
        assert webhook.last_error == "webhook http 500"


async def test_a_sink_that_is_not_listening_yet_is_retried_until_it_is(tmp_path: Path) -> None:
    # Reserve a port, close it, point the webhook there; nothing listens until we say so.
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with trio.fail_after(15), IncidentStore(tmp_path / "i.sqlite") as store, on_log(
        "alert_retry sink=webhook"
    ) as refused, on_log("alert_sent sink=webhook") as sent:
        settings = AlertSettings(
            webhook=WebhookSettings(url=f"http://127.0.0.1:{port}/hook"),
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
        )
        alerter = Alerter(settings, store)
        async with trio.open_nursery() as nursery:
            await nursery.start(alerter.run)
            incident_id = await alerter.alert("halted", Severity.CRITICAL)
            await refused.wait()
            assert store.attempts(incident_id, "webhook") >= 1
            received: list[dict] = []

            async def handler(stream: trio.SocketStream) -> None:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += await stream.receive_some()
                head, _, body = data.partition(b"\r\n\r\n")
                length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
                while len(body) < length:
                    body += await stream.receive_some()
                received.append({"head": head.split(b"\r\n")[0].decode(), "len": length})
                await stream.send_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")

            listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
            nursery.start_soon(trio.serve_listeners, handler, listeners)
            await sent.wait()
            nursery.cancel_scope.cancel()
        assert received[0]["head"] == "POST /hook HTTP/1.1"
        assert store.attempts(incident_id, "webhook") >= 2
