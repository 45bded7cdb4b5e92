"""Glue between parts that do not know each other: config -> alert settings, engine -> metrics."""

from __future__ import annotations

import time
from typing import Any

from hedged.alerts import AlertSettings, LarkSettings, Severity, TelegramSettings, WebhookSettings
from hedged.config import Config
from hedged.metrics import Metrics
from hedged.secrets import SECRETS, SecretStore


def alert_settings(cfg: Config, secrets: SecretStore = SECRETS) -> AlertSettings:
    """Map `[alerts]` onto the alerter's settings, resolving sink secrets by name."""
    a = cfg.alerts

    def sev(names: tuple[str, ...]) -> frozenset[Severity]:
        return frozenset(Severity(n) for n in names)

    telegram = lark = webhook = None
    if a.telegram.enabled:
        telegram = TelegramSettings(bot_token=secrets.get(a.telegram.bot_token_env), chat_id=a.telegram.chat_id,
                                    severities=sev(a.telegram.severities), base_url=a.telegram.api_base)
    if a.lark.enabled:
        lark = LarkSettings(webhook_url=secrets.get(a.lark.webhook_url_env),
                            secret=secrets.get(a.lark.signing_secret_env) if a.lark.signing_secret_env else None,
                            severities=sev(a.lark.severities))
    if a.webhook.enabled:
        webhook = WebhookSettings(url=secrets.get(a.webhook.url_env), severities=sev(a.webhook.severities))
    return AlertSettings(telegram=telegram, lark=lark, webhook=webhook, timeout_s=a.send_timeout_s,
                         max_age_s=a.max_age_s, dedup_window_s=a.dedup_window_s,
                         rate_limit_count=a.rate_limit_per_min, rate_limit_period_s=60.0)


class _Deltas:
    """Turns cumulative statistics into Prometheus counter increments."""

    def __init__(self) -> None:
        self._last: dict[Any, float] = {}

    def inc(self, counter: Any, key: Any, value: float) -> None:
        delta = value - self._last.get(key, 0)
        if delta > 0:
            counter.inc(delta)
        self._last[key] = value


_deltas: dict[int, _Deltas] = {}


def export_metrics(m: Metrics, engine: Any) -> None:
    """Copy the engine's current state into the gauges and counters (one pass)."""
    d = _deltas.setdefault(id(m), _Deltas())
    if engine.ledger is not None:
        led = engine.ledger
        for venue, size in engine.positions_snapshot().items():
            m.position.labels(venue).set(float(size))
        m.net_exposure.set(float(led.net_exposure.value))
        m.open_hedge_delta.set(float(led.open_hedge_delta.value))
        m.residual.set(float(led.residual.value))
    if engine.cycle is not None:
        m.exposure_tolerance.set(float(engine.cycle.tolerance()))
        s = engine.cycle.summary
        d.inc(m.cycles_started, "cycles_started", s.cycles)
        d.inc(m.cycles_completed, "cycles_completed", s.completed)
        if s.completed and d._last.get("completed_at") != s.completed:
            m.last_cycle_completed.set(time.time())
            d._last["completed_at"] = s.completed
    if engine.executor is not None:
        st = engine.executor.statistics()
        d.inc(m.hedge_attempts, "hedge_attempts", st.orders)
    m.halted.set(1 if engine.halted else 0)
    if engine.ledger is not None:
        counters = engine.ledger.statistics().counters
        # The ledger counts position adjustments without the leg: exported under venue="any".
        d.inc(m.reconciliation_adjustments.labels("any"), "adjusted", counters.get("position_adjusted", 0))
    if engine.venues is not None:
        ext = engine.venues.extended.statistics()
        for name in ("account", "book"):
            st = getattr(ext, name)
            d.inc(m.stream_reconnects.labels("extended", name), ("ext_reconnects", name), st.reconnects)
            d.inc(m.stream_seq_gaps.labels("extended", name), ("ext_gaps", name), st.gaps)
            d.inc(m.malformed_messages.labels("extended", name), ("ext_malformed", name), st.malformed)
        lig = engine.venues.lighter.statistics()
        d.inc(m.stream_reconnects.labels("lighter", "ws"), "lig_reconnects", lig["reconnects"])
        d.inc(m.stream_seq_gaps.labels("lighter", "order_book"), "lig_gaps", lig["book_gaps"])
        d.inc(m.malformed_messages.labels("lighter", "ws"), "lig_malformed", lig["ws_malformed"])
        for client in (engine.venues.extended, engine.venues.lighter):
            for stream, h in client.health().streams.items():
                m.stream_up.labels(str(client.venue), stream).set(1 if h.connected and h.subscribed else 0)
                if h.last_message_age_s is not None:
                    m.stream_last_message.labels(str(client.venue), stream).set(time.time() - h.last_message_age_s)
