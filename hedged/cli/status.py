"""`hedged status`: ask the running daemon's `/status`, or read the state dir when it is not running.

The live answer is the engine's status document (positions, exposure, tolerance, open hedge
delta, cycles, feed health). The fallback replays the journal read-only into a throw-away
`LedgerCore` (the same replay the daemon does at start, so the positions are the ones it
would start from), shows the last cycle and reconciliation rows, and counts incidents whose
delivery is still pending. Exit 0 when either source could report, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import httpx

from hedged.alerts import IncidentStore
from hedged.config import Config
from hedged.ledger import Journal, JournalError, Leg, LedgerCore, Roles
from hedged.metrics import ALERT_SINKS, to_json
from hedged.cli.state import (EXIT_ERROR, EXIT_OK, INCIDENTS_FILE, JOURNAL_FILE, StateError, iso_ms,
                              open_journal_readonly)
from hedged.venues.base import Venue

HTTP_TIMEOUT_S = 2.0  # a local endpoint; a daemon that cannot answer in 2 s is reported as not answering


def status_url(cfg: Config) -> str:
    host = cfg.metrics.host
    # A wildcard listen address is reached on loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{cfg.metrics.port}/status"


def fetch_live(cfg: Config, *, timeout: float = HTTP_TIMEOUT_S) -> tuple[dict[str, Any] | None, str]:
    """(status document, "") from the daemon, or (None, why not)."""
    if not cfg.metrics.enabled:
        return None, "metrics endpoint disabled in the config"
    url = status_url(cfg)
    try:
        with httpx.Client(timeout=timeout) as client:
            resp = client.get(url)
    except httpx.HTTPError as exc:
        return None, f"no answer at {url} ({type(exc).__name__})"
    if resp.status_code != 200:
        return None, f"{url} answered HTTP {resp.status_code}"
    try:
        doc = resp.json()
    except ValueError:
        return None, f"{url} answered something that is not JSON"
    if not isinstance(doc, dict):
        return None, f"{url} answered unexpected JSON"
    return doc, ""


def roles_of(cfg: Config) -> Roles:
    return Roles(maker=Leg(Venue.EXTENDED, cfg.market.extended), hedge=Leg(Venue.LIGHTER, cfg.market.lighter))


def read_state(cfg: Config) -> dict[str, Any]:
    """What the state dir says, read-only. Raises StateError when the journal cannot be read."""
    state = Path(cfg.daemon.state_dir)
    path = state / JOURNAL_FILE
    conn = open_journal_readonly(path)
    try:
        core = LedgerCore(roles_of(cfg))
        try:
            Journal(path, conn, fresh=False, migrated_from=None).load(core)
        except JournalError as exc:
            raise StateError(str(exc)) from exc
        q = conn.execute
        last_cycle = q("SELECT cycle_id, phase, detail, ts_ms FROM cycles WHERE cycle_id != 'reconcile' "
                       "ORDER BY id DESC LIMIT 1").fetchone()
        last_rec = q("SELECT phase, detail, ts_ms FROM cycles WHERE cycle_id = 'reconcile' "
                     "ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.Error as exc:
        raise StateError(f"cannot read the journal at {path}: {exc}") from exc
    finally:
        conn.close()
    doc: dict[str, Any] = {
        "journal": str(path),
        "positions": {_leg_name(cfg, leg): size for leg, size in core.positions.items()},
        "net_exposure": core.net_exposure,
        "open_hedge_delta": core.open_hedge_delta,
        "residual": core.residual,
        "live_orders": core.statistics().live_orders,
        "last_cycle": None if last_cycle is None else {
            "cycle": last_cycle[0], "phase": last_cycle[1], "detail": last_cycle[2], "time": iso_ms(last_cycle[3])},
        "last_reconcile": None if last_rec is None else {
            "kind": last_rec[0], "detail": last_rec[1], "time": iso_ms(last_rec[2])},
    }
    doc["incidents_unsent"] = _unsent(state / INCIDENTS_FILE)
    doc["pnl"] = _pnl_from_journal(cfg, path)
    return doc


def _pnl_from_journal(cfg: Config, path: Path) -> dict[str, Any] | str:
    """Today's (UTC) and all-time PnL by component, from the journal's money rows (read-only)."""
    from hedged.pnl.core import PnlBook
    from hedged.pnl.history import day_of, fold

    today = day_of(int(time.time() * 1000))
    roles = roles_of(cfg)
    book = PnlBook((roles.maker.venue, roles.hedge.venue))
    try:
        conn = open_journal_readonly(path)
        try:
            folded = fold(conn, roles, book, lambda kind, ts, seq: ("all", "today") if day_of(ts) == today else ("all",))
        finally:
            conn.close()
    except (StateError, sqlite3.Error) as exc:
        return f"unreadable: {exc}"
    total = book.report("all", folded.last_price)
    return {"today": book.report("today", unrealised=False).components(),
            "all_time": {**total.components(), "marked": total.marked},
            "marks": {str(v): m for v, m in folded.last_price.items()}, "mark_source": "last trade"}


def pnl_lines(pnl: Any, indent: str = "") -> list[str]:
    """Two lines: today's and all-time PnL by component (from the daemon's document or the journal)."""
    if not isinstance(pnl, dict):
        return [] if pnl is None else [f"{indent}pnl: {pnl}"]
    out = []
    for label, key in (("pnl today", "today"), ("pnl all time", "all_time")):
        c = pnl.get(key) or {}
        parts = [f"net {_q(c.get('net'))}", f"price {_q(c.get('realised'))}", f"fees {_q(c.get('fees'))}",
                 f"funding {_q(c.get('funding'))}"]
        if key == "all_time":  # price = realised here; the open legs' mark-to-market apart
            marked = c.get("marked", True)
            parts.insert(2, "unrealised " + (_q(c.get("unrealised")) if marked else "unmarked"))
        out.append(f"{indent}{label}: " + ", ".join(parts))
    return out


def _q(value: Any) -> str:
    if value is None:
        return "-"
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.000001")))
    except ArithmeticError:
        return str(value)


def _leg_name(cfg: Config, leg: Leg) -> str:
    roles = roles_of(cfg)
    return str(leg.venue) if leg in (roles.maker, roles.hedge) else f"{leg.venue}:{leg.market}"


def _unsent(path: Path) -> dict[str, int] | str:
    if not path.is_file():
        return "no incident store"
    try:
        with IncidentStore(path, readonly=True) as store:
            return {sink: store.pending_count(sink) for sink in ALERT_SINKS}
    except (sqlite3.Error, RuntimeError) as exc:
        return f"unreadable: {exc}"


# ---- rendering ------------------------------------------------------------------------------


def _kv(mapping: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in mapping.items()) or "-"


def _cycle_text(last: Any) -> str:
    """A cycle report (the engine's `CycleReport` as a JSON object) as one line."""
    if not isinstance(last, dict):
        return "-" if last is None else str(last)
    latency = last.get("hedge_latency_s")
    parts = [f"#{last.get('n')} {last.get('side')} {last.get('size')} {last.get('outcome')}",
             f"maker avg {last.get('maker_avg') or '-'}", f"hedge avg {last.get('hedge_avg') or '-'}",
             "hedge latency " + ("-" if latency is None else f"{float(latency) * 1000:.0f} ms"),
             f"residual {last.get('residual')}"]
    return ", ".join(parts)


def last_cycle_time(cfg: Config) -> str:
    """When the journal last recorded a finished cycle (read-only; "" when it cannot say)."""
    try:
        conn = open_journal_readonly(Path(cfg.daemon.state_dir) / JOURNAL_FILE)
    except StateError:
        return ""
    try:
        row = conn.execute("SELECT ts_ms FROM cycles WHERE cycle_id != 'reconcile' AND phase = 'done' "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return ""
    finally:
        conn.close()
    return iso_ms(row[0]) if row and row[0] else ""


def render_live(doc: dict[str, Any], url: str, last_time: str = "") -> str:
    lines = [f"daemon: running ({url})"]
    ready = doc.get("ready")
    reasons = doc.get("reasons") or []
    lines.append(f"ready: {'yes' if ready else 'no'}" + (f" ({'; '.join(map(str, reasons))})" if reasons else ""))
    lines.append(f"halted: {doc.get('halted') or 'no'}")
    lines.append(f"reconciled: {'yes' if doc.get('reconciled') else 'no'}")
    if "positions" in doc:
        lines.append(f"positions: {_kv(doc['positions'])}")
    for key, label in (("net_exposure", "net exposure"), ("tolerance", "tolerance"),
                       ("open_hedge_delta", "open hedge delta"), ("residual", "residual")):
        if key in doc:
            lines.append(f"{label}: {doc[key]}")
    cycles = doc.get("cycles")
    if isinstance(cycles, dict):
        lines.append(f"cycles: {cycles.get('cycles', '?')} started, {cycles.get('completed', '?')} completed, "
                     f"sweeps {cycles.get('sweeps', 0)}, maker volume {cycles.get('maker_volume', '?')}, "
                     f"hedge volume {cycles.get('hedge_volume', '?')}")
        lines.append(f"last cycle: {_cycle_text(cycles.get('last'))}" + (f" at {last_time}" if last_time else ""))
        last = cycles.get("last")
        if isinstance(last, dict) and last.get("pnl") is not None:
            lines.append(f"last cycle pnl: {_q(last.get('pnl'))}, fees {_q(last.get('fees'))}")
    lines += pnl_lines(doc.get("pnl"))
    health = doc.get("health")
    if isinstance(health, dict):
        lines.append("health:")
        for venue, streams in health.items():
            for stream, h in (streams or {}).items():
                age = h.get("last_message_age_s")
                lines.append(f"  {venue} {stream}: {'connected' if h.get('connected') else 'DISCONNECTED'}, "
                             f"{'subscribed' if h.get('subscribed') else 'NOT SUBSCRIBED'}, "
                             f"last message {'never' if age is None else f'{age:.1f} s ago'}")
    known = {"ready", "reasons", "halted", "reconciled", "positions", "net_exposure", "tolerance",
             "open_hedge_delta", "residual", "cycles", "health", "pnl"}
    for key in sorted(doc.keys() - known):
        lines.append(f"{key}: {json.dumps(doc[key])}")
    return "\n".join(lines)


def render_state(doc: dict[str, Any], why: str) -> str:
    lines = [f"daemon: not running ({why})", "from the state dir:", f"  journal: {doc['journal']}",
             f"  positions (journal replay): {_kv(doc['positions'])}",
             f"  net exposure: {doc['net_exposure']}", f"  open hedge delta: {doc['open_hedge_delta']}",
             f"  residual: {doc['residual']}", f"  orders live per the journal: {doc['live_orders']}"]
    open_legs = {k: v for k, v in doc["positions"].items() if v}
    if open_legs:  # a stop with daemon.on_stop = "keep" leaves the hedged legs open on purpose
        lines.append(f"  legs open: {_kv(open_legs)} (kept at stop; close them with `hedged flatten`)")
    c = doc["last_cycle"]
    lines.append("  last cycle: " + ("-" if c is None else f"#{c['cycle']} {c['phase']} {c['detail']} at {c['time']}"))
    r = doc["last_reconcile"]
    lines.append("  last reconcile: " + ("-" if r is None else f"{r['kind']} {r['detail']} at {r['time']}"))
    lines += pnl_lines(doc.get("pnl"), indent="  ")
    unsent = doc["incidents_unsent"]
    lines.append("  incidents unsent: " + (
        unsent if isinstance(unsent, str) else f"{sum(unsent.values())} ({_kv(unsent)})"))
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, cfg: Config, *, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    live, why = fetch_live(cfg)
    if live is not None:
        if args.json:
            doc = {"source": "daemon", "daemon_running": True, **live, "last_cycle_at": last_cycle_time(cfg) or None}
            print(to_json(doc).decode(), file=out)
        else:
            print(render_live(live, status_url(cfg), last_cycle_time(cfg)), file=out)
        return EXIT_OK
    try:
        doc = read_state(cfg)
    except StateError as exc:
        if args.json:
            print(json.dumps({"source": None, "daemon_running": False, "why": why, "error": str(exc)}), file=out)
        print(f"hedged status: daemon not running ({why}) and {exc}", file=err)
        return EXIT_ERROR
    if args.json:
        print(to_json({"source": "state_dir", "daemon_running": False, "why": why, **doc}).decode(), file=out)
    else:
        print(render_state(doc, why), file=out)
    return EXIT_OK


__all__ = ["cmd_status", "fetch_live", "read_state", "render_live", "render_state", "status_url"]
