"""A seed's fault plan: timed actions over every knob the simulators have, plus engine crashes and stops.

`draw_plan(seed, minutes)` is pure: the same seed gives the same list. An `Action` is data (what, where,
when, parameters) so a plan can be printed, shrunk (drop actions, rerun) and replayed from a list
(`hedged dst --seed N --only 0,3`). `apply()` in `runner.py` gives each kind its meaning.

Seeds from `RESTART_SEEDS_FROM` on are a family of their own: their plan is drawn as any other seed's,
plus restarts of single venue services drawn from an independent stream (`"{seed}:restarts"`), so the
plans (and traces) of the seeds below it never change when that family does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hedged.sim.common.faults import Fault, FaultKind

EXT_REST = ("POST /user/order", "DELETE /user/order*", "POST /user/order/massCancel", "GET /user/orders",
            "GET /user/orders/*", "GET /user/positions", "GET /user/balance")
LIG_REST = ("POST /sendTx", "WS jsonapi/sendtx", "GET /accountActiveOrders", "GET /accountOrders", "GET /account",
            "GET /nextNonce")
LIG_TX = ("POST /sendTx", "WS jsonapi/sendtx")
EXT_STREAMS = (("account", "ORDER"), ("account", "TRADE"), ("account", "POSITION"), ("account", None),
               ("orderbooks/*", None))
LIG_STREAMS = (("account_*", None), ("account_all_trades/*", None), ("account_all_orders/*", None),
               ("account_all_positions/*", None), ("order_book/*", None))
REST_KINDS = (FaultKind.HTTP_ERROR, FaultKind.RATE_LIMIT, FaultKind.TIMEOUT, FaultKind.LOST_ACK, FaultKind.STALE_READ)
FRAME_KINDS = (FaultKind.DROP, FaultKind.DUPLICATE, FaultKind.REORDER, FaultKind.DELAY, FaultKind.SEQ_GAP,
               FaultKind.CLOSE_BEFORE, FaultKind.CLOSE_AFTER, FaultKind.FREEZE)

# Kinds that are not simulator faults: they act on the daemon.
ENGINE_KINDS = frozenset({"crash", "stop"})
RESTART = "restart"  # one venue service fails inside the running daemon; its supervisor restarts it
RESTART_SEEDS_FROM = 1_000_000
VENUES = ("extended", "lighter")


@dataclass(frozen=True)
class Action:
    at: float  # virtual seconds since the seed started
    kind: str  # "fault", "pull_book", "revoke_tokens", "skip_nonce", "reject_orders", "shutdown_ws",
    #            "price", "flow", "crash", "stop", "restart"
    venue: str = ""
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        args = " ".join(f"{k}={_text(v)}" for k, v in self.args.items())
        where = f" venue={self.venue}" if self.venue else ""
        return f"{self.kind}{where} {args}".rstrip()


def _text(v: Any) -> str:
    if isinstance(v, Fault):
        parts = [f"{v.kind}", f"target={v.target!r}"]
        for name in ("on", "skip", "count", "status", "delay", "code"):
            value = getattr(v, name)
            if name == "status" and v.kind is not FaultKind.HTTP_ERROR:
                continue
            if value is not None:
                parts.append(f"{name}={value}")
        return "(" + ",".join(parts) + ")"
    return str(v)


def _rest_fault(rng: random.Random, venue: str) -> Fault:
    if venue == "lighter" and rng.random() < 0.35:
        # sendTx rejects: a nonce error (the adapter resyncs its nonce) or a plain tx failure
        return Fault(FaultKind.REJECT, target=rng.choice(LIG_TX), code=rng.choice([21104, 21104, 21120]),
                     count=rng.randint(1, 3))
    target = rng.choice(EXT_REST if venue == "extended" else LIG_REST)
    kind = rng.choice(REST_KINDS)
    delay: float | None = None
    if kind is FaultKind.TIMEOUT:
        delay = rng.choice([None, round(rng.uniform(0.5, 8.0), 2)])
    elif kind is FaultKind.LOST_ACK:
        delay = None if rng.random() < 0.5 else round(rng.uniform(1.0, 8.0), 2)
    elif kind is FaultKind.STALE_READ:
        delay = round(rng.uniform(0.05, 3.0), 2)
    if venue == "extended" and target == "GET /user/orders/*" and rng.random() < 0.3:
        kind, delay = FaultKind.NOT_FOUND, None  # GET by id lagging behind the placement
    return Fault(kind, target=target, count=rng.randint(1, 3), delay=delay, skip=rng.randint(0, 5))


def _frame_fault(rng: random.Random, venue: str) -> Fault:
    target, on = rng.choice(EXT_STREAMS if venue == "extended" else LIG_STREAMS)
    kind = rng.choice(FRAME_KINDS)
    delay = round(rng.uniform(0.1, 5.0), 2) if kind is FaultKind.DELAY else None
    return Fault(kind, target=target, on=on, skip=rng.randint(0, 20), count=rng.randint(1, 3), delay=delay)


def draw_plan(seed: int, minutes: float) -> list[Action]:
    """The fault plan of `seed` for a run of `minutes` virtual minutes, sorted by time."""
    # A stable sort: a plan without restarts stays in the order `_base_plan` drew it.
    return sorted(_base_plan(seed, minutes) + draw_restarts(seed, minutes), key=lambda a: a.at)


def draw_restarts(seed: int, minutes: float) -> list[Action]:
    """One to three restarts of a venue service, only for seeds of the restart family."""
    if seed < RESTART_SEEDS_FROM:
        return []
    rng = random.Random(f"{seed}:restarts")
    horizon = minutes * 60
    return [Action(round(rng.uniform(3.0, horizon - 20.0), 3), RESTART, rng.choice(VENUES))
            for _ in range(rng.randint(1, 3))]


def _base_plan(seed: int, minutes: float) -> list[Action]:
    rng = random.Random(f"{seed}:plan")
    horizon = minutes * 60
    if rng.random() < 0.1:
        return []  # a calm seed: the daemon alone on the live market
    out: list[Action] = []
    n = rng.randint(1, max(1, round(4 * minutes)))

    def at() -> float:
        return round(rng.uniform(3.0, horizon - 20.0), 3)

    for _ in range(n):
        venue = rng.choice(("extended", "lighter"))
        roll = rng.random()
        if roll < 0.30:
            out.append(Action(at(), "fault", venue, {"fault": _rest_fault(rng, venue)}))
        elif roll < 0.60:
            out.append(Action(at(), "fault", venue, {"fault": _frame_fault(rng, venue)}))
        elif roll < 0.66:
            out.append(Action(at(), "pull_book", "lighter", {"side": rng.choice(["buy", "sell", "both"]),
                                                             "for_s": round(rng.uniform(3, 40), 1)}))
        elif roll < 0.69:
            out.append(Action(at(), "revoke_tokens", "lighter"))
        elif roll < 0.72:
            out.append(Action(at(), "skip_nonce", "lighter", {"by": rng.randint(1, 3)}))
        elif roll < 0.76:
            out.append(Action(at(), "reject_orders", "lighter", {"count": rng.randint(1, 3)}))
        elif roll < 0.79:
            out.append(Action(at(), "shutdown_ws", "lighter"))
        elif roll < 0.84:
            out.append(Action(at(), "price", "", {"pct": round(rng.uniform(-1.5, 1.5), 2)}))
        elif roll < 0.90:
            out.append(Action(at(), "flow", "extended", {"side": rng.choice(["buy", "sell"]),
                                                         "qty": f"{rng.uniform(0.2, 3.0):.2f}"}))
        elif roll < 0.96:
            out.append(Action(at(), "crash", "", {"down_s": round(rng.uniform(0.5, 20.0), 1)}))
        else:
            out.append(Action(at(), "stop", "", {"down_s": round(rng.uniform(0.5, 20.0), 1)}))
    out.sort(key=lambda a: a.at)
    return out
