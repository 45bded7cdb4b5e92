"""What an operator sees, on a real run: the daemon as a process on its simulators, on a terminal.

One daemon run (module fixture) on a pseudo-terminal, the way `make run` shows it, with a short
config (small holds and delays); it is stopped with SIGTERM after two completed cycles. While it
runs, `hedged status` asks its endpoint. Afterwards the operator commands read the state dir it
left behind. Every check goes through a process or a file.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 90
TTY_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +(\S+)")
# What the screen may show once the daemon is ready: one line per cycle, the hedges, the stop.
STEADY_EVENTS = {"cycle", "hedge_sent", "hedge_modify", "cycles_summary", "pnl_today", "pnl_all_time", "legs_open",
                 "stop_requested", "status", "daemon_stopped"}
STARTUP_LINES_MAX = 14
WIDTH_MAX = 150


def short_config(path: Path) -> Path:
    """The shipped config with second-long holds and pauses, so cycles complete quickly."""
    text = (ROOT / "etc" / "hedged.toml").read_text()
    for key, value in (("delay_min_s", "0.3"), ("delay_max_s", "0.6"), ("hold_min_s", "0.3"), ("hold_max_s", "0.6")):
        text, n = re.subn(rf"^{key} = \S+", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    path.write_text(text)
    return path


def hedged(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hedged.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class Terminal:
    """The master side of a pty, drained by a thread (a full pty would block the daemon's writes)."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.buf = bytearray()
        self.closed = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every slave fd is closed (the daemon exited)
                chunk = b""
            with self.changed:
                if not chunk:
                    self.closed = True
                    self.changed.notify_all()
                    return
                self.buf.extend(chunk)
                self.changed.notify_all()

    def wait_for(self, pattern: bytes) -> None:
        with self.changed:
            found = self.changed.wait_for(lambda: re.search(pattern, self.buf) or self.closed, timeout=DEADLINE_S)
        assert found and re.search(pattern, self.buf), f"{pattern!r} not on the screen:\n{self.text}"

    @property
    def text(self) -> str:
        return self.buf.decode(errors="replace").replace("\r\n", "\n")


@dataclass
class Run:
    dir: Path
    config: Path
    state: Path
    screen: str
    code: int
    live_status: subprocess.CompletedProcess
    live_status_json: subprocess.CompletedProcess
    started_ms: int
    stopped_ms: int
    extra: dict = field(default_factory=dict)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        # --metrics-port 0: nothing answers there, so status reads the state dir (and never asks
        # another test's daemon on the default port).
        return hedged(*args, "--config", str(self.config), "--state-dir", str(self.state), "--metrics-port", "0",
                      cwd=self.dir)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    base = tmp_path_factory.mktemp("operator")
    config = short_config(base / "hedged.toml")
    state = base / "state"  # missing: the daemon creates it
    master, slave = pty.openpty()
    started_ms = int(datetime.now(UTC).timestamp() * 1000)
    proc = subprocess.Popen([sys.executable, "-m", "hedged.cli", "--config", str(config), "--metrics-port", "0",
                             "--state-dir", str(state)], cwd=base, stdin=slave, stdout=slave, stderr=slave,
                            umask=0o022, start_new_session=True)
    os.close(slave)
    term = Terminal(master)
    try:
        term.wait_for(rb"cycle n=2 ")
        port = re.search(r"metrics_listening host=\S+ port=(\d+)", term.text).group(1)
        args = ("status", "--config", str(config), "--state-dir", str(state), "--metrics-port", port)
        live = hedged(*args, cwd=base)
        live_json = hedged(*args, "--json", cwd=base)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=DEADLINE_S)
        term.thread.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return Run(base, config, state, term.text, code, live, live_json, started_ms,
               int(datetime.now(UTC).timestamp() * 1000))


# ---- the screen (issue 13 point 10) -----------------------------------------------------------


def test_the_run_screen_shows_start_up_in_a_few_lines_then_one_line_per_cycle_and_the_hedges(run):
    assert run.code == 0, run.screen
    lines = [line for line in run.screen.splitlines() if line.strip()]
    kinds = []
    for line in lines:
        m = TTY_LINE.match(line)
        assert m, f"not a terminal log line: {line!r}"
        kinds.append((m.group(1), m.group(2)))
    assert all(level != "DEBUG" for level, _ in kinds)
    ready = kinds.index(("INFO", "status"))  # "status ready": the first status line at INFO
    assert "status ready" in lines[ready]
    assert ready + 1 <= STARTUP_LINES_MAX, "\n".join(lines[: ready + 1])
    steady = [event for level, event in kinds[ready + 1:] if level == "INFO"]
    assert set(steady) <= STEADY_EVENTS, set(steady) - STEADY_EVENTS
    assert steady.count("cycle") >= 2 and steady.count("hedge_sent") >= 2
    assert max(len(line) for line in lines) <= WIDTH_MAX, max(lines, key=len)


# ---- file modes outside systemd (point 11) ----------------------------------------------------


def test_the_state_dir_is_0700_and_journal_incidents_and_id_counters_are_0600(run):
    assert stat.S_IMODE(run.state.stat().st_mode) == 0o700
    names = {p.name for p in run.state.iterdir()}
    assert {"ledger.sqlite3", "incidents.sqlite3", "lighter_client_order_index.json"} <= names, names
    for p in run.state.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name


# ---- operator commands on the state dir (point 8) ---------------------------------------------


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_status_of_the_running_daemon_is_human_text_with_the_last_cycle_and_its_time(run):
    assert run.live_status.returncode == 0, run.live_status.stderr
    text = run.live_status.stdout
    assert "daemon: running" in text
    assert not re.search(r"Decimal\(|CycleReport\(|\w+=Decimal", text), text
    last = re.search(r"^last cycle: #(\d+) (buy|sell) [\d.]+ completed, maker avg [\d.]+, hedge avg [\d.]+, "
                     r"hedge latency \d+ ms, residual [\d.]+ at (\S+)$", text, flags=re.M)
    assert last, text
    assert run.started_ms <= _iso_ms(last.group(3)) <= run.stopped_ms
    doc = json.loads(run.live_status_json.stdout)
    assert doc["daemon_running"] is True and doc["cycles"]["last"]["outcome"] == "completed"
    assert isinstance(doc["cycles"]["last"]["size"], str)  # Decimal as its exact string
    assert run.started_ms <= _iso_ms(doc["last_cycle_at"]) <= run.stopped_ms


def test_status_from_the_state_dir_shows_real_times_and_json_for_machines(run):
    result = run.cli("status")
    assert result.returncode == 0, result.stderr
    assert "daemon: not running" in result.stdout and " at -" not in result.stdout
    times = re.findall(r" at (\d{4}-\d\d-\d\dT\S+Z)$", result.stdout, flags=re.M)
    assert len(times) == 2, result.stdout  # last cycle and last reconcile
    assert all(run.started_ms <= _iso_ms(t) <= run.stopped_ms for t in times)
    doc = json.loads(run.cli("status", "--json").stdout)
    assert doc["source"] == "state_dir"
    assert run.started_ms <= _iso_ms(doc["last_cycle"]["time"]) <= run.stopped_ms


def _per_venue(rows, key: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        out[r["venue"]] += Decimal(r[key])
    return dict(out)


def test_ledger_fills_shows_each_fill_once_and_adds_up_to_what_the_orders_filled(run):
    fills = json.loads(run.cli("ledger", "fills", "--json").stdout)
    orders = json.loads(run.cli("ledger", "orders", "--json").stdout)
    assert fills and orders
    assert _per_venue(fills, "qty") == _per_venue(orders, "cum")
    trade_ids = [f["trade_id"] for f in fills if f["trade_id"]]
    assert len(trade_ids) == len(set(trade_ids))
    with sqlite3.connect(f"{(run.state / 'ledger.sqlite3').as_uri()}?mode=ro", uri=True) as conn:
        venue_trades = conn.execute("SELECT count(*) FROM fills WHERE trade_id IS NOT NULL").fetchone()[0]
    assert len(fills) == venue_trades  # the sims report a trade for every fill
    assert all(run.started_ms <= f["ts_ms"] <= run.stopped_ms for f in fills)
    table = run.cli("ledger", "fills").stdout.splitlines()
    assert len(table) == 1 + len(fills)


def test_ledger_orders_json_includes_counted_and_trade_qty(run):
    orders = json.loads(run.cli("ledger", "orders", "--json").stdout)
    filled = [o for o in orders if Decimal(o["cum"]) > 0]
    assert filled
    for o in filled:
        assert Decimal(o["counted"]) == Decimal(o["cum"]) and Decimal(o["trade_qty"]) == Decimal(o["cum"]), o


def test_flatten_prints_its_answer_and_logs_only_warnings_as_json_fields(run):
    result = hedged("flatten", "--config", str(run.config), "--state-dir", str(run.dir / "flatten-state"),
                    "--metrics-port", "0", cwd=run.dir, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "both legs flat, no order open" in result.stdout
    logs = [json.loads(line) for line in result.stderr.splitlines()]  # off a TTY: JSON lines
    assert logs and all(doc["level"] in ("WARNING", "ERROR", "CRITICAL") for doc in logs), result.stderr
    start = next(doc for doc in logs if doc.get("event") == "flatten_start")
    assert "positions" in start and "open_orders" in start  # fields as their own keys


# ---- PnL (issue 14 point 4) -------------------------------------------------------------------

_CYCLE_LINE = re.compile(r"INFO +cycle n=(\d+) .* pnl=(-?[\d.]+) fees=(-?[\d.]+) outcome=(\S+)")
_Q6 = Decimal("0.000001")


def test_hedged_pnl_by_cycle_matches_the_cycle_lines_on_the_screen_and_adds_up(run):
    result = run.cli("pnl", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    shown = {n: (Decimal(pnl), Decimal(fees)) for n, pnl, fees, _ in _CYCLE_LINE.findall(run.screen)}
    assert len(shown) >= 2, run.screen
    rows = {r["run_cycle"]: r for r in doc["rows"] if r["cycle"] != "-"}
    for n, (pnl, fees) in shown.items():  # the line shows cents
        cents = Decimal("0.01")
        assert Decimal(rows[n]["net"]).quantize(cents) == pnl and Decimal(rows[n]["fees"]).quantize(cents) == fees
    for name in ("price", "fees", "funding", "net", "fills"):
        assert sum(Decimal(str(r[name])) for r in doc["rows"]) == Decimal(str(doc["total"][name])), name
    assert doc["total"]["fills"] > 0


def test_hedged_pnl_total_equals_the_cash_flows_of_the_journaled_fills(run):
    """First principles from `hedged ledger fills`: cash = sum(-side * qty * price) - fees, and the
    open legs at the same marks; the PnL table's realised + unrealised - fees must equal it exactly."""
    doc = json.loads(run.cli("pnl", "--json").stdout)
    fills = json.loads(run.cli("ledger", "fills", "--json").stdout)
    cash, pos = Decimal(0), defaultdict(Decimal)
    for f in fills:
        sign = 1 if f["side"] == "buy" else -1
        cash -= sign * Decimal(f["qty"]) * Decimal(f["price"]) + Decimal(f["fee"] or 0)
        pos[f["venue"]] += sign * Decimal(f["qty"])
    marks = {v: Decimal(m) for v, m in doc["marks_last_trade"].items() if m is not None}
    equity = cash + sum(q * marks.get(v, Decimal(0)) for v, q in pos.items())
    total = doc["total"]
    assert {v: Decimal(q) for v, q in doc["positions"].items()} == {v: pos[v] for v in doc["positions"]}
    assert Decimal(total["net"]) + Decimal(total["unrealised"]) == equity


def test_hedged_pnl_prints_a_table_a_day_view_csv_and_refuses_a_bad_since(run):
    table = run.cli("pnl")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["CYCLE", "RUN", "#"] and any(line.startswith("TOTAL") for line in lines)
    assert not re.search(r"Decimal\(|Traceback", table.stdout)
    day = run.cli("pnl", "--by", "day", "--csv")
    assert day.returncode == 0, day.stderr
    header, *body = day.stdout.splitlines()
    assert header.startswith("day,fills,") and body[-1].startswith("TOTAL,")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert body[0].startswith(today + ",")
    later = run.cli("pnl", "--since", datetime.now(UTC).isoformat(), "--json")
    assert json.loads(later.stdout)["rows"] == []  # nothing traded after now
    bad = run.cli("pnl", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "hedged pnl: --since" in bad.stderr


def test_status_shows_todays_and_all_time_pnl_live_and_from_the_state_dir(run):
    assert re.search(r"^pnl today: net -?[\d.]+, price -?[\d.]+, fees -?[\d.]+, funding -?[\d.]+$",
                     run.live_status.stdout, flags=re.M), run.live_status.stdout
    assert re.search(r"^pnl all time: net -?[\d.]+, price -?[\d.]+, unrealised (-?[\d.]+|unmarked), ",
                     run.live_status.stdout, flags=re.M)
    assert "pnl" in json.loads(run.live_status_json.stdout)
    offline = run.cli("status")
    assert re.search(r"^  pnl all time: net -?[\d.]+, ", offline.stdout, flags=re.M), offline.stdout
    summary = re.search(r"pnl_today net=(-?[\d.]+) ", run.screen)
    assert summary, run.screen
    doc = json.loads(run.cli("status", "--json").stdout)
    assert Decimal(doc["pnl"]["today"]["net"]).quantize(_Q6) == Decimal(summary.group(1))
