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


class MetricsExporter:
    """Copies the engine's state into the gauges, and its cumulative statistics into counter
    increments (remembering the last value it exported for each counter). One per daemon."""

    def __init__(self, metrics: Metrics, engine: Any) -> None:
        self.m = metrics
        self.engine = engine
        self._last: dict[Any, float] = {}
        self._pnl: Any = None  # hedged.pnl.export.PnlExporter, once the engine has a PnL tracker

    def _inc(self, counter: Any, value: float) -> float:
        delta = value - self._last.get(counter, 0)
        if delta > 0:
            counter.inc(delta)
        self._last[counter] = value
        return delta

    def export(self) -> None:
        """One pass over everything."""
        m, engine, inc = self.m, self.engine, self._inc
        if engine.ledger is not None:
            led = engine.ledger
            for venue, size in engine.positions_snapshot().items():
                m.position.labels(venue).set(float(size))
            m.net_exposure.set(float(led.net_exposure.value))
            m.open_hedge_delta.set(float(led.open_hedge_delta.value))
            m.residual.set(float(led.residual.value))
            # The ledger counts position adjustments without the leg: exported under venue="any".
            # One counter read, not a statistics() copy: this pass runs every second for the daemon's life.
            inc(m.reconciliation_adjustments.labels("any"), led.counter("position_adjusted"))
        if engine.cycle is not None:
            m.exposure_tolerance.set(float(engine.cycle.tolerance()))
            s = engine.cycle.summary
            inc(m.cycles_started, s.cycles)
            if inc(m.cycles_completed, s.completed) > 0:
                m.last_cycle_completed.set(time.time())
        if getattr(engine, "pnl", None) is not None:
            if self._pnl is None:
                from hedged.pnl.export import PnlExporter

                self._pnl = PnlExporter(m, engine.pnl)
            engine.refresh_marks()
            self._pnl.export(engine.cycle.summary.reports if engine.cycle is not None else None)
        if engine.executor is not None:
            inc(m.hedge_attempts, engine.executor.statistics().orders)
        m.halted.set(1 if engine.halted else 0)
        if engine.venues is not None:
            self._export_feeds(engine.venues)

    def _export_feeds(self, venues: Any) -> None:
        m, inc = self.m, self._inc
        for client in (venues.extended, venues.lighter):
            for stream, st in client.statistics().streams.items():
                inc(m.stream_reconnects.labels(str(client.venue), stream), st.reconnects)
                inc(m.stream_seq_gaps.labels(str(client.venue), stream), st.gaps)
                inc(m.malformed_messages.labels(str(client.venue), stream), st.malformed)
            for stream, h in client.health().streams.items():
                m.stream_up.labels(str(client.venue), stream).set(1 if h.connected and h.subscribed else 0)
                if h.last_message_age_s is not None:
                    m.stream_last_message.labels(str(client.venue), stream).set(time.time() - h.last_message_age_s)
