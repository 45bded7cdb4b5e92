"""Parsing and answering the simulators' local HTTP control requests (`{control_path}/...`).

Both venue sims route `METHOD {control_path}/route` to a table of handlers, each taking a `ControlArgs`
(the JSON object body, with query parameters as a fallback, e.g. `GET /_sim/truth?account=1`) and
returning the JSON reply (None -> `{"ok": true}`). Conventions shared by both:

* Decimal values travel as strings ("151.2"; JSON numbers are accepted too, and read via their text).
* A bad or missing field -> HTTP 400 `{"error": "<field>: <reason>", "field": "<field>"}`.
* An unknown route or method -> HTTP 404 `{"error": "unknown control request"}`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import msgspec

from hedged.venues.base import Side
from hedged.sim.common.faults import Fault, fault_from_json
from hedged.sim.common.transport import SimRequest, SimResponse

_encode = msgspec.json.Encoder().encode
_MISSING: Any = object()


class BadField(ValueError):
    """A control request field that is missing or malformed; answered with HTTP 400 naming it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class ControlArgs:
    """Typed reads of one control request's fields; every failure is a `BadField` naming the field."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None

    def _raw(self, name: str, default: Any) -> Any:
        value = self.values.get(name)
        if value is None:
            if default is _MISSING:
                raise BadField(name, "missing")
            return default
        return value

    def decimal(self, name: str, default: Any = _MISSING, *, positive: bool = False) -> Decimal:
        value = self._raw(name, default)
        if value is default:
            return value  # type: ignore[no-any-return]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadField(name, "expected a decimal string")
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise BadField(name, f"not a decimal: {value!r}") from None
        if not d.is_finite():
            raise BadField(name, f"not a finite decimal: {value!r}")
        if positive and d <= 0:
            raise BadField(name, f"must be > 0, got {value!r}")
        return d

    def integer(self, name: str, default: Any = _MISSING, *, minimum: int | None = None) -> int:
        value = self._raw(name, default)
        if value is default:
            return value  # type: ignore[no-any-return]
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise BadField(name, "expected an integer")
        try:
            n = int(value)
        except ValueError:
            raise BadField(name, f"not an integer: {value!r}") from None
        if minimum is not None and n < minimum:
            raise BadField(name, f"must be >= {minimum}, got {n}")
        return n

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        value = self._raw(name, default)
        if not isinstance(value, bool):
            raise BadField(name, "expected true or false")
        return value

    def text(self, name: str, default: Any = _MISSING) -> str:
        value = self._raw(name, default)
        if not isinstance(value, str) or not value:
            raise BadField(name, "expected a non-empty string")
        return value

    def side(self, name: str, default: Any = _MISSING) -> Side:
        value = self._raw(name, default)
        if value is default:
            return value  # type: ignore[no-any-return]
        try:
            return Side(str(value).lower())
        except ValueError:
            raise BadField(name, f"expected buy or sell, got {value!r}") from None

    def fault(self) -> Fault:
        """The whole object as a `Fault` (fault_from_json), with each field's type checked first."""
        types: dict[str, tuple[type, ...]] = {
            "kind": (str,), "target": (str,), "on": (str, type(None)), "skip": (int,), "count": (int,),
            "probability": (int, float), "status": (int,), "delay": (int, float, type(None)), "code": (int, type(None)),
        }  # fmt: skip
        if "kind" not in self.values:
            raise BadField("kind", "missing")
        for name, value in self.values.items():
            allowed = types.get(name)
            if allowed is None:
                raise BadField(name, "unknown fault field")
            if isinstance(value, bool) or not isinstance(value, allowed):
                raise BadField(name, f"bad type {type(value).__name__}")
        try:
            return fault_from_json(dict(self.values))
        except ValueError as exc:
            raise BadField("kind", str(exc)) from None


class MarketKnobs(Protocol):
    """The control knobs of the shared market that both simulators offer (each venue's host protocol adds its own)."""

    def set_funding_rate(self, rate: Decimal) -> None: ...
    def set_price(self, price: Decimal) -> None: ...
    def move_price(self, pct: Decimal) -> None: ...
    def step_market(self, steps: int = 1) -> None: ...
    def pull_book(self, side: Side | None = None) -> None: ...
    def restore_book(self) -> None: ...
    def cross_book(self) -> None: ...
    def add_flow(self, aggressor: Side, qty: Decimal) -> None: ...


Route = Callable[[ControlArgs], "dict[str, Any] | None | Awaitable[dict[str, Any] | None]"]
Routes = Mapping[tuple[str, str], Route]


def reply(status: int, obj: Any) -> SimResponse:
    return SimResponse(status, _encode(obj))


def not_found() -> SimResponse:
    return reply(404, {"error": "unknown control request"})


def bad_request(exc: Exception) -> SimResponse:
    if isinstance(exc, BadField):
        return reply(400, {"error": str(exc), "field": exc.field})
    return reply(400, {"error": f"{type(exc).__name__}: {exc}"})


def parse_args(req: SimRequest) -> ControlArgs:
    """The JSON object body (or none), over the query parameters' first values."""
    values: dict[str, Any] = {name: vals[0] for name, vals in req.query.items() if vals}
    if req.body:
        try:
            body = json.loads(req.body)
        except ValueError:
            raise BadField("body", "not JSON") from None
        if not isinstance(body, dict):
            raise BadField("body", "expected a JSON object")
        values.update(body)
    return ControlArgs(values)


async def handle_control(routes: Routes, req: SimRequest, rel: str) -> SimResponse:
    """Answer one control request: `rel` is the path below the control prefix ("/truth")."""
    route = routes.get((req.method, rel))
    if route is None:
        return not_found()
    try:
        result = route(parse_args(req))
        if inspect.isawaitable(result):
            result = await result
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:  # BadField is a ValueError
        return bad_request(exc)
    return reply(200, {"ok": True} if result is None else result)
