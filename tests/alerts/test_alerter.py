"""The Alerter against in-memory stand-ins of the three services, on the mock clock."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from hedged.alerts import (
    Alerter,
    AlertSettings,
    IncidentStore,
    LarkSettings,
    Severity,
    TelegramSettings,
    WebhookSettings,
)
from hedged.alerts.store import EXPIRED, FAILED, PENDING, SENT
from hedged.metrics import Metrics

from .conftest import (
    ALL_SECRETS,
    LARK_HOOK_ID,
    LARK_SECRET,
    TELEGRAM_TOKEN,
    WEBHOOK_AUTH,
    FakeSinks,
    down,
)

EPOCH = 1_700_000_000.0


def settings(**overrides: object) -> AlertSettings:
    base: dict[str, object] = dict(
        telegram=TelegramSettings(bot_token=TELEGRAM_TOKEN, chat_id="-100", base_url="https://tg.test"),
        lark=LarkSettings(webhook_url=f"https://lark.test/open-apis/bot/v2/hook/{LARK_HOOK_ID}", secret=LARK_SECRET),
        webhook=WebhookSettings(url="https://hooks.test/incidents", headers={"Authorization": WEBHOOK_AUTH}),
        timeout_s=5.0,
        backoff_initial_s=1.0,
        backoff_factor=2.0,
        backoff_max_s=60.0,
        dedup_window_s=300.0,
        rate_limit_count=3,
        rate_limit_period_s=600.0,
    )
    base.update(overrides)
    return AlertSettings(**base)  # type: ignore[arg-type]


def wall() -> float:
    # Wall time that moves with the mock clock, so ages and timestamps are deterministic.
    return EPOCH + trio.current_time()


def make(store: IncidentStore, fakes: FakeSinks, metrics: Metrics | None = None, **kw: object) -> Alerter:
    return Alerter(
        kw.pop("cfg", None) or settings(),  # type: ignore[arg-type]
        store,
        daemon="hedged-eth",
        market="ETH-USD",
        positions=lambda: {"extended": Decimal("1.50"), "lighter": Decimal("-1.50")},
        metrics=metrics,
        transport=fakes.transport(),
        wall=wall,
        **kw,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def running(alerter: Alerter) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        await nursery.start(alerter.run)
        yield
        nursery.cancel_scope.cancel()


def states(store: IncidentStore, incident_id: int) -> dict[str, str]:
    return {d.sink: d.state for d in store.get(incident_id).deliveries}


@pytest.fixture
def store(tmp_path: Path) -> IncidentStore:
    with IncidentStore(tmp_path / "incidents.sqlite") as s:
        yield s


async def test_incident_is_committed_before_any_sink_is_tried(
    tmp_path: Path, store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    seen_in_db: list[tuple] = []

    def check_db(request: httpx.Request) -> httpx.Response:
        # A separate connection: only committed rows are visible.
        raw = sqlite3.connect(tmp_path / "incidents.sqlite")
        seen_in_db.extend(raw.execute("SELECT id, event FROM incidents").fetchall())
        raw.close()
        return httpx.Response(204)

    fake_sinks.behaviour["webhook"] = check_db
    alerter = make(store, fake_sinks)
    async with running(alerter):
        incident_id = await alerter.alert("halted", Severity.CRITICAL, reason="exposure")
        await trio.testing.wait_all_tasks_blocked()
    assert seen_in_db == [(incident_id, "halted")]


async def test_payload_reaches_every_routed_sink_with_its_shape(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    alerter = make(store, fake_sinks)
    async with running(alerter):
        incident_id = await alerter.alert("hedge_failed", "critical", reason="timeout", qty=Decimal("0.40"))
        await trio.testing.wait_all_tasks_blocked()
    (payload,) = fake_sinks.bodies("webhook")
    assert payload == {
        "incident_id": incident_id,
        "event": "hedge_failed",
        "severity": "critical",
        "daemon": "hedged-eth",
        "market": "ETH-USD",
        "positions": {"extended": "1.50", "lighter": "-1.50"},
        "details": {"reason": "timeout", "qty": "0.40"},
        "timestamp": "2023-11-14T22:13:20.000Z",
        "repeats": 0,
    }
    (telegram,) = fake_sinks.bodies("telegram")
    assert telegram["chat_id"] == "-100" and "qty: 0.40" in telegram["text"]
    (lark,) = fake_sinks.bodies("lark")
    assert lark["msg_type"] == "interactive" and lark["timestamp"] == str(int(EPOCH))
    assert states(store, incident_id) == {"telegram": SENT, "lark": SENT, "webhook": SENT}


async def test_severity_routes_only_to_the_sinks_that_take_it(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    alerter = make(store, fake_sinks)  # telegram and lark: warning+critical; webhook: all
    async with running(alerter):
        info_id = await alerter.alert("cycle_completed", Severity.INFO, cycle=7)
        await trio.testing.wait_all_tasks_blocked()
    assert [r.sink for r in fake_sinks.received] == ["webhook"]
    assert states(store, info_id) == {"webhook": SENT}


async def test_alert_returns_at_once_while_a_sink_hangs(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await trio.sleep_forever()
        raise AssertionError

    fake_sinks.behaviour["telegram"] = hang
    alerter = make(store, fake_sinks)
    async with running(alerter):
        await alerter.alert("first", Severity.CRITICAL)
        await trio.testing.wait_all_tasks_blocked()  # telegram is now stuck in its request
        before = trio.current_time()
        second = await alerter.alert("second", Severity.CRITICAL)
        assert trio.current_time() == before
        await trio.testing.wait_all_tasks_blocked()
    # The other sinks were not held up by the stuck one.
    assert states(store, second) == {"telegram": PENDING, "lark": SENT, "webhook": SENT}


async def test_failed_attempts_back_off_exponentially_then_deliver(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502) if calls <= 3 else httpx.Response(200, json={"ok": True})

    fake_sinks.behaviour["telegram"] = flaky
    metrics = Metrics(process_collector=False)
    alerter = make(store, fake_sinks, metrics)
    async with running(alerter):
        incident_id = await alerter.alert("hedge_failed", Severity.CRITICAL)
        await trio.sleep(100)
    times = [t for t, sink in fake_sinks.attempts if sink == "telegram"]
    assert times == [0.0, 1.0, 3.0, 7.0]
    assert states(store, incident_id)["telegram"] == SENT
    assert metrics.registry.get_sample_value("hedged_alerts_failed_total", {"sink": "telegram"}) == 3
    assert metrics.registry.get_sample_value("hedged_alerts_sent_total", {"sink": "telegram"}) == 1
    assert metrics.registry.get_sample_value("hedged_alerts_pending", {"sink": "telegram"}) == 0


async def test_a_hung_request_times_out_and_is_retried(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    hung_once = False

    async def hang_once(request: httpx.Request) -> httpx.Response:
        nonlocal hung_once
        if not hung_once:
            hung_once = True
            await trio.sleep_forever()
        return httpx.Response(204)

    fake_sinks.behaviour["webhook"] = hang_once
    alerter = make(store, fake_sinks)
    async with running(alerter):
        incident_id = await alerter.alert("e", Severity.CRITICAL)
        await trio.sleep(30)
    # Timeout 5 s, then backoff 1 s.
    assert [t for t, s in fake_sinks.attempts if s == "webhook"] == [0.0, 6.0]
    record = {d.sink: d for d in store.get(incident_id).deliveries}["webhook"]
    assert record.state == SENT and record.attempts == 2 and "timed out" in record.last_error


async def test_sink_down_then_back_up_delivers_the_backlog_in_order(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    def down_until_40(request: httpx.Request) -> httpx.Response:
        if trio.current_time() < 40:
            return down(request)
        return httpx.Response(204)

    fake_sinks.behaviour["webhook"] = down_until_40
    alerter = make(store, fake_sinks)
    async with running(alerter):
        ids = []
        for n in range(3):
            ids.append(await alerter.alert("feed_stale", Severity.WARNING, stream=f"s{n}"))
            await trio.sleep(1)
        assert [b["text"].splitlines()[0] for b in fake_sinks.bodies("telegram")] == ["[WARNING] feed_stale (hedged-eth ETH-USD)"] * 3
        assert fake_sinks.bodies("webhook") == []
        await trio.sleep(200)
    assert [b["incident_id"] for b in fake_sinks.bodies("webhook")] == ids
    assert all(states(store, i)["webhook"] == SENT for i in ids)
    # Backoff 1, 2, 4, 8, 16 s from t=0 gives attempts at 0, 1, 3, 7, 15, 31, then 63 (up).
    first_success = min(t for t, s in fake_sinks.attempts if s == "webhook" and t >= 40)
    assert first_success == 63.0


async def test_duplicate_within_the_window_is_sent_once_and_counted(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    metrics = Metrics(process_collector=False)
    alerter = make(store, fake_sinks, metrics)
    async with running(alerter):
        a = await alerter.alert("exposure_high", Severity.WARNING, key="lighter", exposure=Decimal("0.5"))
        await trio.sleep(10)
        b = await alerter.alert("exposure_high", Severity.WARNING, key="lighter", exposure=Decimal("0.6"))
        c = await alerter.alert("exposure_high", Severity.WARNING, key="extended", exposure=Decimal("0.6"))
        await trio.sleep(300)
        d = await alerter.alert("exposure_high", Severity.WARNING, key="lighter", exposure=Decimal("0.7"))
        await trio.testing.wait_all_tasks_blocked()
    assert a == b and len({a, c, d}) == 3
    assert [x["incident_id"] for x in fake_sinks.bodies("webhook")] == [a, c, d]
    assert store.get(a).incident.repeats == 1
    assert metrics.registry.get_sample_value("hedged_alerts_suppressed_total", {"reason": "duplicate"}) == 1


async def test_rate_limit_per_event_kind_stores_but_does_not_send(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    alerter = make(store, fake_sinks)  # 3 per 600 s per event kind
    async with running(alerter):
        ids = [await alerter.alert("seq_gap", Severity.WARNING, n=n) for n in range(5)]
        other = await alerter.alert("halted", Severity.CRITICAL)
        await trio.testing.wait_all_tasks_blocked()
    assert [x["incident_id"] for x in fake_sinks.bodies("webhook")] == [*ids[:3], other]
    limited = store.get(ids[4])
    assert limited.incident.suppressed == "rate_limited" and limited.deliveries == ()
    assert alerter.statistics().rate_limited == 2


async def test_permanent_rejection_is_not_retried_and_does_not_block_the_next(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    rejected = [True]

    def reject_first(request: httpx.Request) -> httpx.Response:
        if rejected.pop() if rejected else False:
            return httpx.Response(400, json={"ok": False, "description": "Bad Request: chat not found"})
        return httpx.Response(200, json={"ok": True})

    fake_sinks.behaviour["telegram"] = reject_first
    alerter = make(store, fake_sinks)
    async with running(alerter):
        a = await alerter.alert("a", Severity.CRITICAL)
        b = await alerter.alert("b", Severity.CRITICAL)
        await trio.sleep(100)
    assert len([1 for _, s in fake_sinks.attempts if s == "telegram"]) == 2
    assert states(store, a)["telegram"] == FAILED and states(store, b)["telegram"] == SENT


async def test_restart_with_unsent_incidents_sends_them(
    tmp_path: Path, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "incidents.sqlite"
    fake_sinks.behaviour["lark"] = down
    with IncidentStore(path) as store:
        first = make(store, fake_sinks)
        async with running(first):
            ids = [await first.alert("halted", Severity.CRITICAL, n=n) for n in range(2)]
            await trio.sleep(5)
        assert store.pending_count("lark") == 2
    # The process "died"; a new one opens the same file with the sink back up.
    del fake_sinks.behaviour["lark"]
    received_before = len(fake_sinks.bodies("lark"))
    with IncidentStore(path) as store:
        second = make(store, fake_sinks)
        async with running(second):
            await trio.testing.wait_all_tasks_blocked()
        assert received_before == 0
        assert [b["card"]["elements"][0]["text"]["content"].split()[1] for b in fake_sinks.bodies("lark")] == [
            f"#{i}" for i in ids
        ]
        assert store.pending_count("lark") == 0
        # The others were already sent before the restart and are not sent twice.
        assert len(fake_sinks.bodies("telegram")) == 2


async def test_incident_older_than_max_age_is_expired_not_sent(
    tmp_path: Path, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    fake_sinks.behaviour["webhook"] = down
    with IncidentStore(tmp_path / "i.sqlite") as store:
        alerter = make(store, fake_sinks, cfg=settings(max_age_s=100.0, backoff_max_s=30.0))
        async with running(alerter):
            incident_id = await alerter.alert("halted", Severity.CRITICAL)
            await trio.sleep(200)
        assert states(store, incident_id)["webhook"] == EXPIRED
        attempts = [t for t, s in fake_sinks.attempts if s == "webhook"]
        assert attempts and max(attempts) <= 100


async def test_alert_from_a_cancelled_scope_is_still_recorded(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    alerter = make(store, fake_sinks)
    with trio.CancelScope() as scope:
        scope.cancel()
        incident_id = await alerter.alert("flattened", Severity.CRITICAL)
    assert store.get(incident_id).incident.event == "flattened"


async def test_positions_provider_failure_does_not_stop_the_alert(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    def broken() -> dict:
        raise KeyError("ledger")

    alerter = Alerter(settings(), store, positions=broken, transport=fake_sinks.transport(), wall=wall)
    incident_id = await alerter.alert("ledger_broken", Severity.CRITICAL)
    assert store.get(incident_id).incident.positions == {"error": "positions unavailable: KeyError"}


async def test_secrets_never_reach_payloads_rows_or_logs(
    tmp_path: Path,
    fake_sinks: FakeSinks,
    loguru_lines: list[str],
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Telegram down with an error text that carries the URL, hence the token.
    fake_sinks.behaviour["telegram"] = down
    fake_sinks.behaviour["lark"] = lambda r: httpx.Response(200, json={"code": 19021, "msg": f"bad {LARK_SECRET}"})
    path = tmp_path / "incidents.sqlite"
    with IncidentStore(path) as store:
        alerter = make(store, fake_sinks)
        async with running(alerter):
            # A careless caller passes secrets in details and in the key.
            incident_id = await alerter.alert(
                "config_error", Severity.CRITICAL, key=TELEGRAM_TOKEN, token=TELEGRAM_TOKEN, hook=LARK_HOOK_ID
            )
            await trio.sleep(20)
        record = store.get(incident_id)
        assert record.incident.details == {"token": "***", "hook": "***"}
        errors = " ".join(d.last_error or "" for d in record.deliveries)
        assert "ConnectError" in errors and "lark code 19021" in errors

    payloads = repr([r.body for r in fake_sinks.received])
    logs = "\n".join(loguru_lines) + "\n".join(r.getMessage() for r in caplog.records)
    db_bytes = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("incidents.sqlite"))
    assert "alert_retry sink=telegram" in logs  # the failures were logged...
    assert any(r.getMessage().startswith("HTTP Request: POST ***") for r in caplog.records)  # lark, whole URL
    for secret in ALL_SECRETS:  # ...and nothing anywhere shows a secret
        assert secret not in payloads
        assert secret not in logs
        assert secret.encode() not in db_bytes


async def test_httpx_request_log_shows_the_telegram_url_without_its_token(
    store: IncidentStore, fake_sinks: FakeSinks, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    alerter = make(store, fake_sinks)
    async with running(alerter):
        await alerter.alert("halted", Severity.CRITICAL)
        await trio.testing.wait_all_tasks_blocked()
    messages = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert 'HTTP Request: POST https://tg.test/bot***/sendMessage "HTTP/1.1 200 OK"' in messages
    assert not any(TELEGRAM_TOKEN in m for m in messages)
    # The filter is removed with the service, so it never outlives its Alerter.
    assert logging.getLogger("httpx").filters == []


async def test_max_attempts_gives_up_on_a_delivery_and_moves_on(
    store: IncidentStore, fake_sinks: FakeSinks, autojump_clock: trio.testing.MockClock
) -> None:
    fake_sinks.behaviour["webhook"] = lambda r: httpx.Response(503)
    alerter = make(store, fake_sinks, cfg=settings(max_attempts=3))
    async with running(alerter):
        a = await alerter.alert("a", Severity.ERROR)
        await trio.sleep(100)
    record = {d.sink: d for d in store.get(a).deliveries}
    assert (record["webhook"].state, record["webhook"].attempts) == (FAILED, 3)
    assert record["telegram"].state == SENT  # error is routed to chat sinks by default
    assert [t for t, s in fake_sinks.attempts if s == "webhook"] == [0.0, 1.0, 3.0]
