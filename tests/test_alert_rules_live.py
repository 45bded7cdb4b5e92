"""The shipped alert rules against scrapes of a real daemon run on the simulators.

The daemon runs in-process on its embedded simulators. Its /metrics is scraped twice while healthy
and twice after the Lighter simulator's book feed is frozen. Each pair becomes promtool input
series: every series continues the trend seen between its two scrapes (a frozen timestamp stays
put, a live one advances with the clock), with Unix-time gauges shifted so the second scrape is
promtool's time 0. `promtool test rules` then says which alerts fire. Without promtool (Debian
package `prometheus`) the Python-level checks of the scrape still run.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import trio

from hedged.config import Config, MetricsConfig
from hedged.metrics import BOOK_STREAMS, FEED_STREAMS
from tests.daemon_harness import run_daemon

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "etc" / "prometheus" / "hedged-rules.yml"
STEP_S = 15
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclasses.dataclass
class Scrape:
    at: float  # wall time of the request
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, tuple(sorted(labels.items())))]

    def labelled(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {labels: v for (n, labels), v in self.samples.items() if n == name}


def parse(text: str, at: float) -> Scrape:
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, line
        name, labels, value = m.groups()
        if not name.startswith("hedged_"):
            continue
        samples[(name, tuple(sorted(_LABEL.findall(labels or ""))))] = float(value)
    return Scrape(at, samples)


def _is_unix_time(name: str) -> bool:
    return name.endswith(("_timestamp_seconds", "_time_seconds"))


def input_series(first: Scrape, second: Scrape, instance: str) -> list[dict[str, str]]:
    """promtool input series continuing each series' trend from `first` to `second`."""
    out = []
    span = second.at - first.at
    for (name, labels), v2 in sorted(second.samples.items()):
        v1 = first.samples.get((name, labels), v2)
        step = (v2 - v1) / span * STEP_S
        start = v2
        if _is_unix_time(name):
            # Whole seconds relative to the second scrape, so an alert's age is known exactly.
            start, step = round(v2 - second.at), round(step)
        sel = ",".join(f'{k}="{v}"' for k, v in (("job", "hedged"), ("instance", instance), *labels))
        sign = "+" if step >= 0 else "-"
        out.append({"series": f"{name}{{{sel}}}", "values": f"{start!r}{sign}{abs(step)!r}x40"})
    return out


def _yaml_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def rule_test_file(path: Path, series: list[dict[str, str]], checks: list[tuple[str, str, list[dict]]]) -> Path:
    """A promtool test file; `checks` are (eval_time, alertname, expected alerts with labels/annotations)."""
    lines = ["rule_files:", f"  - {_yaml_str(str(RULES))}", "evaluation_interval: 15s", "tests:",
             f"  - interval: {STEP_S}s", "    input_series:"]
    for s in series:
        lines += [f"      - series: {_yaml_str(s['series'])}", f"        values: {_yaml_str(s['values'])}"]
    lines.append("    alert_rule_test:")
    for eval_time, alert, expected in checks:
        lines += [f"      - eval_time: {eval_time}", f"        alertname: {alert}"]
        if not expected:
            lines.append("        exp_alerts: []")
            continue
        lines.append("        exp_alerts:")
        for exp in expected:
            lines.append("          - exp_labels:")
            lines += [f"              {k}: {_yaml_str(v)}" for k, v in exp["labels"].items()]
            lines.append("            exp_annotations:")
            lines += [f"              {k}: {_yaml_str(v)}" for k, v in exp["annotations"].items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), flags=re.M)


def promtool(test_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)


async def _scrape_pair(rt, client: httpx.AsyncClient) -> tuple[Scrape, Scrape]:
    """Two scrapes, each after a fresh metrics export, at least 2 s apart."""
    pair = []
    for _ in range(2):
        await rt.exports.wait_value(lambda n, base=rt.exports.value: n >= base + 2)
        at = time.time()
        pair.append(parse((await client.get("/metrics")).text, at))
    return pair[0], pair[1]


async def _healthy_and_frozen(tmp_path: Path) -> tuple[tuple[Scrape, Scrape], tuple[Scrape, Scrape]]:
    cfg = Config(metrics=MetricsConfig(port=0))
    cfg = dataclasses.replace(cfg, daemon=dataclasses.replace(cfg.daemon, state_dir=tmp_path / "state"))
    got = {}

    async def until(rt) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rt.metrics_port}") as client:
            got["healthy"] = await _scrape_pair(rt, client)
            rt.engine.sim.lighter.freeze_feed()
            await rt.exports.wait_value(lambda n, base=rt.exports.value: n >= base + 1)
            got["frozen"] = await _scrape_pair(rt, client)

    with trio.fail_after(45):
        _, code = await run_daemon(cfg, until)
    assert code == 0
    return got["healthy"], got["frozen"]


def _humanize_duration(seconds: int) -> str:
    # Prometheus' humanizeDuration for 1 min <= d < 1 h.
    assert 60 <= seconds < 3600
    return f"{seconds // 60}m {seconds % 60}s"


async def test_feed_alerts_stay_quiet_while_healthy_and_a_frozen_book_feed_is_stale(tmp_path):
    (h1, h2), (f1, f2) = await _healthy_and_frozen(tmp_path)

    # The scrape carries the adapters' real stream names, all up, and nothing else.
    up = h2.labelled("hedged_stream_up")
    assert {(dict(k)["venue"], dict(k)["stream"]) for k in up} == {
        (venue, stream) for venue, streams in FEED_STREAMS.items() for stream in streams}
    assert set(up.values()) == {1.0}
    for venue, stream in BOOK_STREAMS.items():
        healthy_age = h2.at - h2.value("hedged_stream_last_message_timestamp_seconds", venue=venue, stream=stream)
        assert healthy_age < 5, (venue, healthy_age)
    # Frozen: Lighter's book timestamp stops moving while the stream stays up; Extended's keeps going.
    lighter_book = dict(venue="lighter", stream=BOOK_STREAMS["lighter"])
    extended_book = dict(venue="extended", stream=BOOK_STREAMS["extended"])
    assert f2.value("hedged_stream_last_message_timestamp_seconds", **lighter_book) == pytest.approx(
        f1.value("hedged_stream_last_message_timestamp_seconds", **lighter_book), abs=0.01)
    assert f2.value("hedged_stream_last_message_timestamp_seconds", **extended_book) > \
        f1.value("hedged_stream_last_message_timestamp_seconds", **extended_book)
    assert f2.value("hedged_stream_up", **lighter_book) == 1
    # The rule selects exactly the market-data streams.
    selector = re.search(r'hedged_stream_last_message_timestamp_seconds\{stream=~"([^"]+)"\}', RULES.read_text())
    assert selector and set(selector.group(1).split("|")) == set(BOOK_STREAMS.values())

    if shutil.which("promtool") is None:
        return  # the structural rule checks live in tests/test_metrics.py

    healthy = rule_test_file(tmp_path / "healthy.test.yml", input_series(h1, h2, "live"),
                             [(t, alert, []) for t in ("2m", "6m") for alert in alert_names()])
    result = promtool(healthy)
    assert result.returncode == 0, result.stdout + result.stderr

    series = input_series(f1, f2, "live")
    # The frozen timestamp enters promtool as a constant at round(value - scrape time).
    age_at_2m = 120 - round(f2.value("hedged_stream_last_message_timestamp_seconds", **lighter_book) - f2.at)
    stale = {"labels": {"severity": "warning", "job": "hedged", "instance": "live", **lighter_book},
             "annotations": {"summary": f"hedged live: lighter {lighter_book['stream']} feed stale",
                             "description": f"No market-data message for {_humanize_duration(age_at_2m)} "
                                            "on a connected stream."}}
    frozen = rule_test_file(tmp_path / "frozen.test.yml", series,
                            [("2m", "HedgedFeedStale", [stale]), ("2m", "HedgedFeedDown", [])])
    result = promtool(frozen)
    assert result.returncode == 0, result.stdout + result.stderr
