"""The Alerter: `alert()` for everybody, delivery in its own service task.

`alert()` only decides (dedup, rate limit, routing), commits the incident to the store
and wakes the sink workers; it never waits on the network, so trading code can call it
anywhere, even from cleanup inside a cancelled scope. `run()` is the service: one worker
per sink takes the oldest pending delivery from the store, sends it, and retries with
backoff until it is sent, rejected for good, or too old.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import trio
from loguru import logger

from hedged.alerts.incident import Incident, Redactor, canonical_json
from hedged.alerts.policy import Suppressor, Verdict, backoff_delay
from hedged.alerts.settings import AlertSettings, Severity
from hedged.alerts.sinks import Sink, SinkError, build_sinks
from hedged.alerts.store import EXPIRED, FAILED, SENT, IncidentStore

if TYPE_CHECKING:
    from hedged.metrics import Metrics

PositionsProvider = Callable[[], Mapping[str, Decimal]]


@dataclass(frozen=True, slots=True)
class AlerterStats:
    raised: int
    duplicates: int
    rate_limited: int
    sent: int
    failed_attempts: int
    pending: Mapping[str, int]


class _RedactingFilter(logging.Filter):
    """httpx logs every request URL at INFO, and Telegram's URL carries the bot token."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


class Alerter:
    def __init__(
        self,
        settings: AlertSettings,
        store: IncidentStore,
        *,
        daemon: str = "hedged",
        market: str = "",
        positions: PositionsProvider | None = None,
        metrics: Metrics | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._store = store
        self._daemon = daemon
        self._market = market
        self._positions = positions
        self._metrics = metrics
        self._transport = transport
        self._wall = wall
        self._sinks = build_sinks(settings)
        self._redact = Redactor(s for sink in self._sinks for s in sink.secrets())
        self._suppressor = Suppressor.from_settings(settings)
        # Capacity 1: a wake-up is a flag, not a queue; the store is the queue.
        self._wake = {sink.name: trio.open_memory_channel[None](1) for sink in self._sinks}
        self._counts = {"raised": 0, "duplicates": 0, "rate_limited": 0, "sent": 0, "failed_attempts": 0}

    @property
    def redact(self) -> Redactor:
        """The redactor that knows every sink secret (for callers that log sink errors)."""
        return self._redact

    @property
    def sink_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._sinks)

    # -- raising ----------------------------------------------------------------

    async def alert(self, event: str, severity: Severity | str, *, key: str | None = None, **details: Any) -> int | None:
        """Record an incident and queue it for the sinks its severity routes to.

        Returns the incident id (the original one for a duplicate), or None if the store
        could not be written. Never raises Cancelled: it is safe in cleanup code.
        """
        incident_id = self.alert_nowait(event, severity, key=key, **details)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return incident_id

    def alert_nowait(self, event: str, severity: Severity | str, *, key: str | None = None, **details: Any) -> int | None:
        severity = Severity(severity)
        now = trio.current_time()
        wall = self._wall()
        clean = self._redact.deep(details)
        dedup_key = self._redact(key) if key is not None else canonical_json(clean)
        decision = self._suppressor.decide(event, dedup_key, now)
        try:
            if decision.verdict is Verdict.DUPLICATE:
                assert decision.original_id is not None
                self._store.add_repeat(decision.original_id, wall)
                self._counts["duplicates"] += 1
                self._count_suppressed("duplicate")
                logger.info("alert_duplicate event={} incident={}", event, decision.original_id)
                return decision.original_id
            routed = [s.name for s in self._sinks if severity in s.severities]
            suppressed = "rate_limited" if decision.verdict is Verdict.RATE_LIMITED else None
            incident = self._store.add(
                ts=wall,
                event=event,
                severity=severity,
                key=dedup_key,
                daemon=self._daemon,
                market=self._market,
                positions=self._positions_snapshot(),
                details=clean,
                sinks=routed,
                suppressed=suppressed,
            )
        except sqlite3.Error as exc:
            # Still leave a trace an operator can grep; never take trading down over it.
            logger.error(
                "alert_store_failed event={} severity={} details={} error={}",
                event, severity.value, canonical_json(clean), self._redact(str(exc)),
            )
            return None
        self._suppressor.record(event, dedup_key, now, incident.id, decision.verdict)
        self._counts["raised"] += 1
        if suppressed is not None:
            self._counts["rate_limited"] += 1
            self._count_suppressed(suppressed)
            logger.warning("alert_rate_limited event={} incident={}", event, incident.id)
            return incident.id
        logger.info(
            "alert_raised event={} severity={} incident={} sinks={}",
            event, severity.value, incident.id, ",".join(routed) or "-",
        )
        for name in routed:
            self._set_pending(name)
            try:
                self._wake[name][0].send_nowait(None)
            except trio.WouldBlock:
                pass  # the worker is already due to look at the store
        return incident.id

    def _positions_snapshot(self) -> dict[str, str]:
        if self._positions is None:
            return {}
        try:
            return {str(k): str(v) for k, v in self._positions().items()}
        except Exception as exc:  # an alert about a broken ledger must still go out
            return {"error": f"positions unavailable: {type(exc).__name__}"}

    # -- delivering -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The delivery service: owns the HTTP client and one worker per sink."""
        log_filter = _RedactingFilter(self._redact)
        httpx_logger = logging.getLogger("httpx")
        httpx_logger.addFilter(log_filter)
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=self._settings.timeout_s, follow_redirects=False
            ) as client:
                async with trio.open_nursery() as nursery:
                    for sink in self._sinks:
                        nursery.start_soon(self._deliver_loop, client, sink)
                    logger.info("alerter_started sinks={}", ",".join(self.sink_names) or "-")
                    task_status.started()
        finally:
            httpx_logger.removeFilter(log_filter)

    async def _deliver_loop(self, client: httpx.AsyncClient, sink: Sink) -> None:
        wake = self._wake[sink.name][1]
        while True:
            self._set_pending(sink.name)
            incident = self._store.next_pending(sink.name)
            if incident is None:
                await wake.receive()
                continue
            if self._wall() - incident.ts > self._settings.max_age_s:
                self._store.finish(incident.id, sink.name, EXPIRED, self._wall(), "too old to deliver")
                logger.error("alert_expired sink={} incident={} event={}", sink.name, incident.id, incident.event)
                continue
            try:
                await self._send_once(client, sink, incident)
            except SinkError as exc:
                await self._failed(sink, incident, exc)
                continue
            self._store.finish(incident.id, sink.name, SENT, self._wall())
            self._counts["sent"] += 1
            if self._metrics is not None:
                self._metrics.alerts_sent.labels(sink=sink.name).inc()
            logger.info("alert_sent sink={} incident={} event={}", sink.name, incident.id, incident.event)

    async def _send_once(self, client: httpx.AsyncClient, sink: Sink, incident: Incident) -> None:
        request = sink.request(incident, self._wall())
        timeout = self._settings.timeout_s
        try:
            # Our own deadline on the Trio clock, so tests with MockClock see it too.
            with trio.fail_after(timeout):
                response = await client.post(request.url, json=dict(request.body), headers=dict(request.headers))
        except trio.TooSlowError:
            raise SinkError(f"{sink.name} timed out after {timeout}s") from None
        except httpx.HTTPError as exc:
            # httpx messages can hold the request URL (Telegram: the token); `from None`
            # drops the original so no traceback carries it either.
            raise SinkError(f"{sink.name} {type(exc).__name__}: {self._redact(str(exc))}") from None
        sink.check(response.status_code, response.content, response.headers)

    async def _failed(self, sink: Sink, incident: Incident, exc: SinkError) -> None:
        error = self._redact(str(exc))
        now = self._wall()
        self._counts["failed_attempts"] += 1
        if self._metrics is not None:
            self._metrics.alerts_failed.labels(sink=sink.name).inc()
        if not exc.retryable:
            self._store.finish(incident.id, sink.name, FAILED, now, error)
            logger.error("alert_rejected sink={} incident={} error={}", sink.name, incident.id, error)
            return
        attempts = self._store.record_attempt_failed(incident.id, sink.name, error, now)
        if self._settings.max_attempts is not None and attempts >= self._settings.max_attempts:
            self._store.finish(incident.id, sink.name, FAILED, now, error, attempted=False)
            logger.error(
                "alert_gave_up sink={} incident={} attempts={} error={}", sink.name, incident.id, attempts, error
            )
            return
        delay = backoff_delay(attempts, self._settings, exc.retry_after)
        logger.warning(
            "alert_retry sink={} incident={} attempt={} retry_in={:.3f} error={}",
            sink.name, incident.id, attempts, delay, error,
        )
        # A backoff, not a poll: nothing we could wait on tells us the sink is back.
        await trio.sleep(delay)

    # -- introspection ----------------------------------------------------------

    def _set_pending(self, sink: str) -> None:
        if self._metrics is not None:
            self._metrics.alerts_pending.labels(sink=sink).set(self._store.pending_count(sink))

    def _count_suppressed(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.alerts_suppressed.labels(reason=reason).inc()

    def statistics(self) -> AlerterStats:
        return AlerterStats(
            **self._counts, pending={s.name: self._store.pending_count(s.name) for s in self._sinks}
        )
