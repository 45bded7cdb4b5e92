"""The metrics registry and the local endpoint (/metrics, /healthz, /readyz, /status).

Tests talk to a real hypercorn listener on 127.0.0.1 with an ephemeral port, under one
absolute deadline each; they never sleep to wait for state.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import trio

from hedged.metrics import HEDGE_PHASES, Metrics, Readiness, serve_metrics


def _sample(text: str, name: str, **labels: str) -> float:
    """Value of one sample in the text exposition format."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, rest = series.partition("{")
        got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric == name and got == want:
            return float(value)
    raise AssertionError(f"{name}{labels} not in scrape")


def test_each_metrics_object_has_its_own_registry() -> None:
    a, b = Metrics(process_collector=False), Metrics(process_collector=False)
    a.cycles_started.inc()
    assert a.registry is not b.registry
    assert b.registry.get_sample_value("hedged_cycles_started_total") == 0
    assert a.registry.get_sample_value("hedged_cycles_started_total") == 1


def test_names_follow_prometheus_conventions() -> None:
    names = Metrics().series_names()
    for required in (
        "hedged_position",
        "hedged_net_exposure",
        "hedged_exposure_tolerance",
        "hedged_open_hedge_delta",
        "hedged_residual",
        "hedged_hedge_latency_seconds_bucket",
        "hedged_cycles_started_total",
        "hedged_cycles_completed_total",
        "hedged_hedge_attempts_total",
        "hedged_flattens_total",
        "hedged_halts_total",
        "hedged_reconciliation_adjustments_total",
        "hedged_stream_reconnects_total",
        "hedged_stream_seq_gaps_total",
        "hedged_malformed_messages_total",
        "hedged_rate_limit_waits_total",
        "hedged_alerts_sent_total",
        "hedged_alerts_failed_total",
        "hedged_journal_write_seconds_bucket",
        "process_resident_memory_bytes",
    ):
        assert required in names, required
    assert all(n.startswith(("hedged_", "process_")) for n in names)


def test_decimal_quantities_are_exported_exactly_enough() -> None:
    m = Metrics(process_collector=False)
    m.position.labels(venue="extended").set(Decimal("1.25"))
    m.position.labels(venue="lighter").set(Decimal("-1.25"))
    assert m.registry.get_sample_value("hedged_position", {"venue": "lighter"}) == -1.25


async def _get(port: int, path: str, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        return await client.get(path, **kw)


async def test_scrape_shows_series_and_their_movement() -> None:
    m = Metrics("hedged-test", "ETH-USD")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_metrics, m, "127.0.0.1", 0, lambda: True, lambda: True)
            assert port > 0
            first = (await _get(port, "/metrics")).text
            assert _sample(first, "hedged_cycles_completed_total") == 0
            for phase in HEDGE_PHASES:
                assert _sample(first, "hedged_hedge_latency_seconds_count", phase=phase) == 0
            assert _sample(first, "hedged_info", daemon="hedged-test", market="ETH-USD", version="0.1.0") == 1

            m.cycles_started.inc()
            m.cycle_completed()
            m.hedge_latency.labels(phase="fill_to_sent").observe(0.02)
            m.stream_seq_gaps.labels(venue="lighter", stream="orders").inc()
            m.net_exposure.set(Decimal("0.01"))
            second = (await _get(port, "/metrics")).text
            assert _sample(second, "hedged_cycles_completed_total") == 1
            assert _sample(second, "hedged_last_cycle_completed_timestamp_seconds") > 0
            assert _sample(second, "hedged_hedge_latency_seconds_count", phase="fill_to_sent") == 1
            assert _sample(second, "hedged_stream_seq_gaps_total", venue="lighter", stream="orders") == 1
            assert _sample(second, "hedged_net_exposure") == 0.01
            nursery.cancel_scope.cancel()


async def test_openmetrics_is_served_when_asked_for() -> None:
    m = Metrics(process_collector=False)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_metrics, m, "127.0.0.1", 0, lambda: True, lambda: True)
            resp = await _get(port, "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
            assert resp.headers["content-type"].startswith("application/openmetrics-text")
            assert resp.text.rstrip().endswith("# EOF")
            nursery.cancel_scope.cancel()


async def test_readyz_flips_with_the_ready_callable_and_healthz_stays_up() -> None:
    m = Metrics(process_collector=False)
    state = {"ready": Readiness(False, ("lighter depth stale",))}
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                serve_metrics, m, "127.0.0.1", 0, lambda: True, lambda: state["ready"]
            )
            not_ready = await _get(port, "/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json() == {"ok": False, "reasons": ["lighter depth stale"]}
            assert m.registry.get_sample_value("hedged_ready") == 0
            assert (await _get(port, "/healthz")).status_code == 200

            state["ready"] = Readiness(True)
            assert (await _get(port, "/readyz")).status_code == 200
            assert m.registry.get_sample_value("hedged_ready") == 1

            state["ready"] = Readiness(False, ("halted",))
            halted = await _get(port, "/readyz")
            assert halted.status_code == 503 and halted.json()["reasons"] == ["halted"]
            nursery.cancel_scope.cancel()


async def test_a_probe_that_raises_reports_not_ready_instead_of_crashing() -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_metrics, Metrics(process_collector=False), "127.0.0.1", 0, broken, broken)
            assert (await _get(port, "/readyz")).status_code == 503
            assert (await _get(port, "/healthz")).status_code == 503
            assert (await _get(port, "/metrics")).status_code == 200
            nursery.cancel_scope.cancel()


async def test_status_serves_the_callable_as_json_with_exact_decimals() -> None:
    status = {"positions": {"extended": Decimal("0.30"), "lighter": Decimal("-0.30")}, "halted": False}
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                lambda task_status: serve_metrics(
                    Metrics(process_collector=False),
                    "127.0.0.1",
                    0,
                    lambda: True,
                    lambda: True,
                    status=lambda: status,
                    task_status=task_status,
                )
            )
            resp = await _get(port, "/status")
            assert resp.status_code == 200
            assert resp.json() == {"positions": {"extended": "0.30", "lighter": "-0.30"}, "halted": False}
            assert (await _get(port, "/nope")).status_code == 404
            nursery.cancel_scope.cancel()


async def test_status_is_not_found_without_a_status_callable() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                serve_metrics, Metrics(process_collector=False), "127.0.0.1", 0, lambda: True, lambda: True
            )
            assert (await _get(port, "/status")).status_code == 404
            nursery.cancel_scope.cancel()


async def test_cancelling_the_service_closes_the_listener() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                serve_metrics, Metrics(process_collector=False), "127.0.0.1", 0, lambda: True, lambda: True
            )
            # A kept-alive connection must not hold the shutdown open.
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                assert (await client.get("/healthz")).status_code == 200
                nursery.cancel_scope.cancel()
        # The nursery exited, so every task of the server is gone; the port is closed too.
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)
