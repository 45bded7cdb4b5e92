"""The metrics registry and the local endpoint (/metrics, /healthz, /readyz, /status).

Tests talk to a real hypercorn listener on 127.0.0.1 with an ephemeral port, under one
absolute deadline each; they never sleep to wait for state.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

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


# --- shipped ops files -------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "etc" / "grafana" / "hedged.json"
RULES = ROOT / "etc" / "prometheus" / "hedged-rules.yml"
RULE_TESTS = ROOT / "etc" / "prometheus" / "hedged-rules.test.yml"
_METRIC = re.compile(r"\b(?:hedged|process)_[a-z0-9_]+\b")


def _exprs(node: object) -> list[str]:
    """Every PromQL string in a dashboard: panel targets and templating queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                found.append(value["query"])
            else:
                found.extend(_exprs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_exprs(item))
    return found


def test_dashboard_queries_only_series_the_registry_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = Metrics().series_names()
    exprs = _exprs(dashboard)
    assert len(exprs) >= 20
    referenced = {name for e in exprs for name in _METRIC.findall(e)}
    assert referenced - exported == set()
    # The panels the issue asks for are there.
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("exposure vs tolerance", "positions", "hedge latency", "cycles", "failures", "feed age",
                  "cumulative pnl by component", "fees by venue", "funding by venue", "pnl per cycle"):
        assert topic in titles, topic
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def _strip_comment(value: str) -> str:
    if value[:1] in ("'", '"'):
        return value
    return value.split(" #", 1)[0].rstrip()


def _scalar(value: str) -> object:
    if value.startswith('"'):
        return json.loads(value)
    if value.startswith("'"):
        return value[1:-1].replace("''", "'")
    if value.startswith("{") and value.endswith("}"):
        pairs = [p.split(":", 1) for p in value[1:-1].split(",") if p.strip()]
        return {k.strip(): _scalar(v.strip()) for k, v in pairs}
    return value


class MiniYaml:
    """Just enough YAML for our rules files: block mappings and sequences, plain, quoted
    and flow-map scalars, `|` block scalars, comments. Anything else is a test failure."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.i = 0

    def _peek(self) -> tuple[int, str] | None:
        while self.i < len(self.lines):
            stripped = self.lines[self.i].strip()
            if stripped and not stripped.startswith("#"):
                line = self.lines[self.i]
                assert "\t" not in line[: len(line) - len(line.lstrip())], f"tab indent on line {self.i + 1}"
                return len(line) - len(line.lstrip(" ")), stripped
            self.i += 1
        return None

    def parse(self) -> object:
        first = self._peek()
        assert first is not None and first[0] == 0
        doc = self._block(0)
        assert self._peek() is None, f"unparsed content at line {self.i + 1}"
        return doc

    def _block(self, indent: int) -> object:
        peek = self._peek()
        assert peek is not None
        return self._seq(indent) if peek[1].startswith("- ") else self._map(indent)

    def _seq(self, indent: int) -> list[object]:
        items: list[object] = []
        while (peek := self._peek()) and peek[0] == indent and peek[1].startswith("- "):
            rest = peek[1][2:].strip()
            if re.match(r"^[A-Za-z_][\w.-]*:(\s|$)", rest):
                line = self.lines[self.i]
                self.lines[self.i] = line[:indent] + "  " + line[indent + 2 :]
                items.append(self._map(indent + 2))
            else:
                self.i += 1
                items.append(_scalar(_strip_comment(rest)))
        return items

    def _map(self, indent: int) -> dict[str, object]:
        out: dict[str, object] = {}
        while (peek := self._peek()) and peek[0] == indent and not peek[1].startswith("- "):
            key, sep, value = peek[1].partition(":")
            assert sep and re.fullmatch(r"[A-Za-z_][\w.-]*", key), f"bad key on line {self.i + 1}: {peek[1]!r}"
            assert key not in out, f"duplicate key {key!r} on line {self.i + 1}"
            value = _strip_comment(value.strip())
            self.i += 1
            if value in ("|", "|-"):
                out[key] = self._literal(indent, keep_newline=value == "|")
            elif value == "":
                nxt = self._peek()
                nested = nxt is not None and (nxt[0] > indent or (nxt[0] == indent and nxt[1].startswith("- ")))
                out[key] = self._block(nxt[0]) if nested else None
            else:
                out[key] = _scalar(value)
        if (peek := self._peek()) and peek[0] > indent:
            raise AssertionError(f"unexpected indentation on line {self.i + 1}")
        return out

    def _literal(self, indent: int, keep_newline: bool) -> str:
        body: list[str] = []
        block_indent = None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip():
                current = len(line) - len(line.lstrip(" "))
                if current <= indent:
                    break
                block_indent = current if block_indent is None else block_indent
                body.append(line[block_indent:])
            else:
                body.append("")
            self.i += 1
        text = "\n".join(body).rstrip("\n")
        return text + ("\n" if keep_newline else "")


_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def test_mini_yaml_reads_what_it_claims() -> None:
    doc = MiniYaml(
        "a:\n  - x: '1'\n    y: \"two: 2\"  \n  - plain # comment\nb: |\n  l1\n    l2\nc: {k: v, n: m}\nd:\n- z\n"
    ).parse()
    assert doc == {"a": [{"x": "1", "y": "two: 2"}, "plain"], "b": "l1\n  l2\n", "c": {"k": "v", "n": "m"}, "d": ["z"]}
    with pytest.raises(AssertionError):
        MiniYaml("a: 1\na: 2\n").parse()
    with pytest.raises(AssertionError):
        MiniYaml("a: 1\n   b: 2\n").parse()


def _check_rules_structure(doc: object) -> list[str]:
    """Validate the rule file's shape the way `promtool check rules` would; return exprs."""
    assert isinstance(doc, dict) and set(doc) == {"groups"}
    exprs = []
    names = set()
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"]) and rule["alert"] not in names
            names.add(rule["alert"])
            expr = rule["expr"].strip()
            assert expr and expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            if "for" in rule:
                assert _DURATION.match(rule["for"]), rule["for"]
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert {"summary", "description"} <= set(rule["annotations"])
            for text in rule["annotations"].values():
                assert text.count("{{") == text.count("}}")
            exprs.append(expr)
    return exprs


def test_alert_rules_are_well_formed_and_use_exported_series() -> None:
    exprs = _check_rules_structure(MiniYaml(RULES.read_text()).parse())
    names = {n for e in exprs for n in _METRIC.findall(e)}
    assert names and names - Metrics().series_names() == set()
    joined = "\n".join(exprs)
    for needed in ("hedged_exposure_tolerance", "hedged_hedge_failures_total", "hedged_halted",
                   "hedged_stream_last_message_timestamp_seconds", "hedged_last_cycle_completed_timestamp_seconds"):
        assert needed in joined


def test_rule_unit_tests_file_is_well_formed() -> None:
    doc = MiniYaml(RULE_TESTS.read_text()).parse()
    assert isinstance(doc, dict) and doc["rule_files"] == ["hedged-rules.yml"]
    alerts = {t["alertname"] for case in doc["tests"] for t in case["alert_rule_test"]}
    assert {"HedgedExposureOverTolerance", "HedgedHalted", "HedgedFeedStale", "HedgedNoCompletedCycle"} <= alerts


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt package 'prometheus')")
def test_promtool_accepts_the_rules_and_their_unit_tests() -> None:
    check = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        ["promtool", "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, timeout=60
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
