"""Seeded, scriptable fault plan: pure decisions the simulator servers consult.

A `FaultPlan` holds `Fault` rules. Servers ask it at two kinds of moments:

* `plan.on_request(endpoint)` before answering a REST request, where `endpoint` is
  `"METHOD /path"` with the venue prefix stripped (e.g. `"POST /user/order"`,
  `"GET /user/orders/1802"`; Lighter: `"POST /sendTx"`).
* `plan.on_frame(stream, frame_type)` before sending a stream frame, where `stream` names the
  connection kind (`"account"`, `"orderbooks/SOL-USD"`; Lighter: `"order_book/2"`, ...) and
  `frame_type` is the message type (`"SNAPSHOT"`, `"DELTA"`, `"ORDER"`, `"TRADE"`, ...).

Both return the `Fault` that fires (or None). A rule fires when its `target` glob matches,
its `on` glob matches the frame type (if set), after `skip` earlier matches, then for `count`
matches (`count=0`: forever), each time with `probability` (drawn from a seeded rng per target).
What a kind *means* is up to the server; the table in docs/simulators.md lists it.

Scripting example::

    plan.add(Fault(FaultKind.CLOSE_AFTER, target="account", on="TRADE"))   # drop socket after a fill
    plan.add(Fault(FaultKind.HTTP_ERROR, target="POST /user/order", status=503, count=2))
    plan.add(Fault(FaultKind.SEQ_GAP, target="orderbooks/*", skip=10))
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from fnmatch import fnmatchcase


class FaultKind(enum.StrEnum):
    # REST
    HTTP_ERROR = "http_error"  # reply `status` (default 503) with an error body; the request is NOT applied
    RATE_LIMIT = "rate_limit"  # reply 429; not applied
    TIMEOUT = "timeout"  # hang `delay` seconds (None = until the client gives up); not applied
    LOST_ACK = "lost_ack"  # apply the request, then hang like TIMEOUT (the reply never arrives)
    NOT_FOUND = "not_found"  # reply 404 (e.g. GET-by-id right after placement)
    REJECT = "reject"  # venue-specific business rejection (Lighter: tx failure / nonce error, by `code`)
    STALE_READ = "stale_read"  # answer now, deliver `delay` s later: the snapshot predates what the stream sends meanwhile
    # Streams
    DROP = "drop"  # do not send this frame
    DUPLICATE = "duplicate"  # send this frame twice (same seq)
    REORDER = "reorder"  # hold this frame and send it after the next one
    DELAY = "delay"  # send this frame `delay` seconds late (later frames wait behind it)
    SEQ_GAP = "seq_gap"  # skip one sequence number / nonce before this frame
    CLOSE_BEFORE = "close_before"  # close the connection instead of sending this frame
    CLOSE_AFTER = "close_after"  # send this frame, then close the connection
    FREEZE = "freeze"  # send nothing more on this connection, but keep it open


REST_KINDS = frozenset(
    {
        FaultKind.HTTP_ERROR,
        FaultKind.RATE_LIMIT,
        FaultKind.TIMEOUT,
        FaultKind.LOST_ACK,
        FaultKind.NOT_FOUND,
        FaultKind.REJECT,
        FaultKind.STALE_READ,
    }
)
FRAME_KINDS = frozenset(FaultKind) - REST_KINDS


@dataclass(frozen=True, slots=True)
class Fault:
    """One rule. `target`/`on` are fnmatch globs (case-sensitive)."""

    kind: FaultKind
    target: str = "*"
    on: str | None = None
    """Frame type glob (streams only), e.g. "TRADE"; None matches every frame."""
    skip: int = 0
    """Let this many matching events pass before firing."""
    count: int = 1
    """Fire this many times, then retire (0 = never retire)."""
    probability: float = 1.0
    status: int = 503
    """HTTP status for HTTP_ERROR."""
    delay: float | None = None
    """Seconds for TIMEOUT/LOST_ACK/DELAY (None = hang until cancelled)."""
    code: int | None = None
    """Venue error code for REJECT."""


@dataclass(slots=True)
class _Rule:
    fault: Fault
    seen: int = 0
    fired: int = 0


@dataclass(slots=True)
class FaultPlan:
    """Ordered rules; the first live matching rule decides. Deterministic for a given seed."""

    seed: int = 0
    _rngs: dict[str, random.Random] = field(default_factory=dict)
    _rules: list[_Rule] = field(default_factory=list)
    history: list[tuple[str, str, FaultKind]] = field(default_factory=list)
    """(target, frame type or "", kind) of every fault that fired, for tests and the control API."""

    def _rng(self, target: str) -> random.Random:
        # One stream of draws per target, so a stream's faults do not depend on how its
        # messages interleave with other connections' (Trio schedules tasks in random order).
        rng = self._rngs.get(target)
        if rng is None:
            rng = self._rngs[target] = random.Random(f"{self.seed}:faults:{target}")
        return rng

    def add(self, *faults: Fault) -> None:
        self._rules.extend(_Rule(f) for f in faults)

    def clear(self) -> None:
        self._rules.clear()

    @property
    def pending(self) -> list[Fault]:
        """Rules that can still fire."""
        return [r.fault for r in self._rules if r.fault.count == 0 or r.fired < r.fault.count]

    def on_request(self, endpoint: str) -> Fault | None:
        return self._decide(endpoint, None, REST_KINDS)

    def on_frame(self, stream: str, frame_type: str) -> Fault | None:
        return self._decide(stream, frame_type, FRAME_KINDS)

    def _decide(self, target: str, frame_type: str | None, kinds: frozenset[FaultKind]) -> Fault | None:
        if not self._rules:
            return None  # the hot path of every frame: no rules, no work
        for rule in self._rules:
            f = rule.fault
            if f.kind not in kinds or (f.count and rule.fired >= f.count):
                continue
            if not fnmatchcase(target, f.target):
                continue
            if f.on is not None and (frame_type is None or not fnmatchcase(frame_type, f.on)):
                continue
            rule.seen += 1
            if rule.seen <= f.skip:
                continue
            if f.probability < 1.0 and self._rng(target).random() >= f.probability:
                continue
            rule.fired += 1
            self.history.append((target, frame_type or "", f.kind))
            return f
        return None


def fault_from_json(obj: dict[str, object]) -> Fault:
    """Build a `Fault` from JSON (the standalone control endpoint): {"kind": "drop", "target": ...}."""
    known = {"kind", "target", "on", "skip", "count", "probability", "status", "delay", "code"}
    unknown = set(obj) - known
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}")
    kw = dict(obj)
    kind = FaultKind(str(kw.pop("kind")))
    return Fault(kind, **kw)  # type: ignore[arg-type]
