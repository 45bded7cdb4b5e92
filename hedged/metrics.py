"""Prometheus metrics and the daemon's local HTTP endpoint.

`Metrics` owns a private `CollectorRegistry` (never prometheus_client's global one), so
two daemons, or a daemon and its tests, never share series. Everybody writes to the
fields below; `serve_metrics` exposes them together with `/healthz`, `/readyz` and
`/status` through hypercorn's Trio worker.

Quantities (positions, exposure, tolerance, deltas, residual) are in base-asset units
of the daemon's one market (see the `hedged_info` series); durations are in seconds;
timestamps are Unix seconds. Decimals can be passed to `Gauge.set` directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from decimal import Decimal
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder

from hedged import __version__
from hedged.venues.base import Venue
from hedged.venues.extended.client import STREAMS as EXTENDED_STREAMS
from hedged.venues.lighter.streams import BOOK as LIGHTER_BOOK, STREAMS as LIGHTER_STREAMS

NAMESPACE = "hedged"

# Phases of one hedge, as the executor measures them (monotonic clock).
HEDGE_PHASES = ("fill_to_sent", "sent_to_ack", "sent_to_filled", "maker_fill_to_hedge_filled")
# The streams each venue adapter reports in `health()` (the adapters own the names), used to
# pre-create the feed series so a scrape shows every real stream from the start.
FEED_STREAMS: dict[str, tuple[str, ...]] = {str(Venue.EXTENDED): EXTENDED_STREAMS, str(Venue.LIGHTER): LIGHTER_STREAMS}
# Market-data streams tick all the time, so silence there means a stale feed (HedgedFeedStale);
# account streams may be quiet for hours while nothing trades.
BOOK_STREAMS: dict[str, str] = {str(Venue.EXTENDED): "book", str(Venue.LIGHTER): LIGHTER_BOOK}
ALERT_SINKS = ("telegram", "lark", "webhook")

# Hedges are meant to land within a second; the tail up to the 30 s deadline still matters.
# fill_to_sent is a few milliseconds (target p99 <= 10 ms), so the low buckets start at 0.5 ms.
HEDGE_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                         60.0)
# Money (issue 14), quote currency. Components of `hedged_pnl_quote_total` are contributions to net PnL
# (fees negative when paid); the fee series are costs (positive paid, negative a rebate).
PNL_COMPONENTS = ("realised", "unrealised", "fees", "funding", "net")
LIQUIDITIES = ("maker", "taker")
MONEY_CHECKS = ("equity", "fees", "funding")  # what reconciliation compares with the venue's own figures
CYCLE_PNL_BUCKETS = (-10.0, -1.0, -0.1, -0.01, -0.001, 0.0, 0.001, 0.01, 0.1, 1.0, 10.0)
JOURNAL_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class Metrics:
    """Every series the daemon exports. Attributes are prometheus_client metric objects."""

    def __init__(
        self,
        daemon: str = "hedged",
        market: str = "",
        *,
        venues: Iterable[str] = tuple(v.value for v in Venue),
        process_collector: bool = True,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        venues = tuple(venues)
        if process_collector:
            # process_* series (memory, fds, cpu) in our registry, not the global one.
            ProcessCollector(registry=r)

        self.info = Gauge(
            "hedged_info", "Constant 1; labels describe the daemon.", ["daemon", "market", "version"], registry=r
        )
        self.info.labels(daemon=daemon, market=market, version=__version__).set(1)
        self.start_time = Gauge("hedged_start_time_seconds", "Unix time the daemon started.", registry=r)
        self.start_time.set(time.time())

        # Book.
        self.position = Gauge(
            "hedged_position", "Signed ledger position per venue, base-asset units (long > 0).", ["venue"], registry=r
        )
        self.net_exposure = Gauge(
            "hedged_net_exposure", "Sum of the venue positions, base-asset units.", registry=r
        )
        self.exposure_tolerance = Gauge(
            "hedged_exposure_tolerance", "Current allowed absolute net exposure, base-asset units.", registry=r
        )
        self.open_hedge_delta = Gauge(
            "hedged_open_hedge_delta", "Delta the hedge executor still has to hedge, base-asset units.", registry=r
        )
        self.residual = Gauge(
            "hedged_residual", "Lot-rounding residual carried to the next hedge, base-asset units.", registry=r
        )

        # Hedging and cycles.
        self.hedge_latency = Histogram(
            "hedged_hedge_latency_seconds",
            "Hedge latency by phase.",
            ["phase"],
            buckets=HEDGE_LATENCY_BUCKETS,
            registry=r,
        )
        self.oldest_unhedged_fill_age = Gauge(
            "hedged_oldest_unhedged_fill_age_seconds",
            "Age of the oldest maker fill no hedge order covers yet (0 when none; evaluated at scrape).",
            registry=r,
        )
        self.hedge_attempts = Counter("hedged_hedge_attempts", "Hedge orders sent.", registry=r)
        self.hedge_failures = Counter(
            "hedged_hedge_failures", "Hedge attempts that failed, by reason.", ["reason"], registry=r
        )
        self.cycles_started = Counter("hedged_cycles_started", "Cycles started.", registry=r)
        self.cycles_completed = Counter("hedged_cycles_completed", "Cycles completed.", registry=r)
        self.last_cycle_completed = Gauge(
            "hedged_last_cycle_completed_timestamp_seconds", "Unix time of the last completed cycle.", registry=r
        )
        self.flattens = Counter("hedged_flattens", "Emergency flattens, by reason.", ["reason"], registry=r)
        self.halts = Counter("hedged_halts", "Trading halts, by reason.", ["reason"], registry=r)
        self.halted = Gauge("hedged_halted", "1 while trading is halted.", registry=r)
        self.reconciliation_adjustments = Counter(
            "hedged_reconciliation_adjustments",
            "Ledger corrections made by reconciliation against venue snapshots.",
            ["venue"],
            registry=r,
        )

        # Feeds.
        self.stream_up = Gauge(
            "hedged_stream_up", "1 while the stream is connected and subscribed.", ["venue", "stream"], registry=r
        )
        self.stream_last_message = Gauge(
            "hedged_stream_last_message_timestamp_seconds",
            "Unix time of the last message received on the stream.",
            ["venue", "stream"],
            registry=r,
        )
        self.stream_reconnects = Counter(
            "hedged_stream_reconnects", "Stream reconnections.", ["venue", "stream"], registry=r
        )
        self.stream_seq_gaps = Counter(
            "hedged_stream_seq_gaps", "Sequence gaps detected on a stream.", ["venue", "stream"], registry=r
        )
        self.malformed_messages = Counter(
            "hedged_malformed_messages", "Messages that failed to decode.", ["venue", "stream"], registry=r
        )
        self.rate_limit_waits = Counter(
            "hedged_rate_limit_waits", "Requests delayed by a rate limit.", ["venue"], registry=r
        )
        self.rate_limit_wait_seconds = Counter(
            "hedged_rate_limit_wait_seconds", "Time spent waiting on rate limits.", ["venue"], registry=r
        )
        self.credential_refusals = Counter(
            "hedged_credential_refusals", "Auth, token or signature refusals by the venue.", ["venue"], registry=r
        )

        # Money. Gauges although the names end in _total: they are cumulative sums of signed money
        # (a loss, a funding payment made, a rebate), which a Prometheus counter cannot go down by.
        self.pnl = Gauge(
            "hedged_pnl_quote_total", "Cumulative PnL by component and venue, quote currency (all time).",
            ["component", "venue"], registry=r,
        )
        self.fees = Gauge(
            "hedged_fees_quote_total", "Cumulative trading fees by venue and liquidity, quote currency; a rebate "
            "counts negative.", ["venue", "liquidity"], registry=r,
        )
        self.funding = Gauge(
            "hedged_funding_quote_total", "Cumulative funding received (+) or paid (-) by venue, quote currency.",
            ["venue"], registry=r,
        )
        self.cycle_pnl = Histogram(
            "hedged_cycle_pnl_quote", "Net realised PnL of each cycle (price - fees + funding), quote currency.",
            buckets=CYCLE_PNL_BUCKETS, registry=r,
        )
        self.money_difference = Gauge(
            "hedged_pnl_venue_difference_quote", "Venue's figure minus ours, change since the run's first check, "
            "at the last reconciliation; quote currency.", ["venue", "check"], registry=r,
        )

        # Alerts, journal, readiness.
        self.alerts_sent = Counter("hedged_alerts_sent", "Alert deliveries that succeeded.", ["sink"], registry=r)
        self.alerts_failed = Counter(
            "hedged_alerts_failed", "Alert delivery attempts that failed.", ["sink"], registry=r
        )
        self.alerts_suppressed = Counter(
            "hedged_alerts_suppressed", "Alerts not sent: duplicate or rate limited.", ["reason"], registry=r
        )
        self.alerts_pending = Gauge(
            "hedged_alerts_pending", "Incident deliveries waiting in the store.", ["sink"], registry=r
        )
        self.journal_write_latency = Histogram(
            "hedged_journal_write_seconds", "Journal write latency.", buckets=JOURNAL_BUCKETS, registry=r
        )
        self.ready = Gauge("hedged_ready", "1 while /readyz would answer 200 (evaluated at scrape).", registry=r)

        # Series that should scrape as 0 before anything happens, so rate() and the
        # dashboard work from the first scrape.
        for phase in HEDGE_PHASES:
            self.hedge_latency.labels(phase=phase)
        for venue in venues:
            self.position.labels(venue=venue)
            self.reconciliation_adjustments.labels(venue=venue)
            self.rate_limit_waits.labels(venue=venue)
            self.rate_limit_wait_seconds.labels(venue=venue)
            self.credential_refusals.labels(venue=venue)
            self.funding.labels(venue=venue)
            for component in PNL_COMPONENTS:
                self.pnl.labels(component=component, venue=venue)
            for liquidity in LIQUIDITIES:
                self.fees.labels(venue=venue, liquidity=liquidity)
            for check in MONEY_CHECKS:
                self.money_difference.labels(venue=venue, check=check)
            for stream in FEED_STREAMS.get(venue, ()):
                for family in (
                    self.stream_up,
                    self.stream_last_message,
                    self.stream_reconnects,
                    self.stream_seq_gaps,
                    self.malformed_messages,
                ):
                    family.labels(venue=venue, stream=stream)
        for sink in ALERT_SINKS:
            self.alerts_sent.labels(sink=sink)
            self.alerts_failed.labels(sink=sink)
            self.alerts_pending.labels(sink=sink)
        for reason in ("duplicate", "rate_limited"):
            self.alerts_suppressed.labels(reason=reason)

    def series_names(self) -> set[str]:
        """Every sample name the registry can expose, including labelled series that have
        no child yet (for dashboard and rule checks)."""
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
        names: set[str] = set()
        for family in self.registry.collect():
            names.update(s.name for s in family.samples)
            names.update(family.name + sfx for sfx in suffixes.get(family.type, ("",)))
        return names

    def cycle_completed(self) -> None:
        self.cycles_completed.inc()
        self.last_cycle_completed.set(time.time())

    def message_received(self, venue: str, stream: str) -> None:
        self.stream_last_message.labels(venue=venue, stream=stream).set(time.time())

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its content type, negotiated from an Accept header."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


@dataclass(frozen=True, slots=True)
class Readiness:
    """Answer of a health or readiness probe; `reasons` explains a `False`."""

    ok: bool
    reasons: tuple[str, ...] = ()

    @staticmethod
    def of(value: Readiness | bool) -> Readiness:
        if isinstance(value, Readiness):
            return value
        return Readiness(True) if value else Readiness(False, ("not ready",))


Probe = Callable[[], "Readiness | bool"]


def _json_default(value: Any) -> Any:
    # Money stays exact on the wire: Decimal goes out as its string.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def to_json(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, sort_keys=True).encode()


def _probe(fn: Probe) -> Readiness:
    try:
        return Readiness.of(fn())
    except Exception as exc:  # a broken probe means "not ready", never a dead endpoint
        logger.warning("probe_failed error={}", type(exc).__name__)
        return Readiness(False, (f"probe raised {type(exc).__name__}",))


class MetricsApp:
    """ASGI app: /metrics, /healthz, /readyz, /status. Holds no state of its own."""

    def __init__(
        self,
        metrics: Metrics,
        health: Probe,
        ready: Probe,
        status: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.metrics = metrics
        self.health = health
        self.ready = ready
        self.status = status
        # Evaluated at scrape time, so the gauge is right even if nobody probes /readyz.
        metrics.ready.set_function(lambda: 1.0 if _probe(self.ready).ok else 0.0)

    def handle(self, method: str, path: str, accept: str) -> tuple[int, str, bytes]:
        """Pure request -> (status, content type, body); the ASGI shell only moves bytes."""
        if method not in ("GET", "HEAD"):
            return 405, "application/json", to_json({"error": "method not allowed"})
        if path == "/metrics":
            body, content_type = self.metrics.render(accept)
            return 200, content_type, body
        if path in ("/healthz", "/readyz"):
            answer = _probe(self.health if path == "/healthz" else self.ready)
            doc = {"ok": answer.ok, "reasons": list(answer.reasons)}
            return (200 if answer.ok else 503), "application/json", to_json(doc)
        if path == "/status" and self.status is not None:
            try:
                return 200, "application/json", to_json(dict(self.status()))
            except Exception as exc:
                logger.warning("status_failed error={}", type(exc).__name__)
                return 500, "application/json", to_json({"error": f"status raised {type(exc).__name__}"})
        return 404, "application/json", to_json({"error": "not found"})

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        accept = ""
        for name, value in scope.get("headers", ()):
            if name == b"accept":
                accept = value.decode("latin-1")
        status, content_type, body = self.handle(scope["method"], scope["path"], accept)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _port_of(bind: str) -> int:
    # hypercorn reports binds as "http://host:port" (IPv6 hosts in brackets).
    return int(bind.rsplit(":", 1)[1])


async def serve_metrics(
    metrics: Metrics,
    host: str,
    port: int,
    health: Probe,
    ready: Probe,
    *,
    status: Callable[[], Mapping[str, Any]] | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the endpoint until cancelled. `task_status.started` gets the bound port.

    Port 0 binds an ephemeral port. Cancellation closes the listener and every
    connection before returning.
    """
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None  # hypercorn's own stdlib logging; our events go through loguru
    config.graceful_timeout = 1.0
    app = MetricsApp(metrics, health, ready, status)

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn_serve, app, config, mode="asgi"))
        bound = _port_of(binds[0])
        logger.info("metrics_listening host={} port={}", host, bound)
        task_status.started(bound)
