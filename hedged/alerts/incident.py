"""Incidents as plain data: the record, its payload, its text, and secret redaction."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hedged.alerts.settings import Severity

REDACTED = "***"
# Telegram bot tokens look like "123456789:AA...": hide any such shape even if we were
# never told about it (a token pasted into a detail, an error from a proxy).
_TELEGRAM_TOKEN = re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}")
# Shorter strings would redact ordinary words; real secrets are longer.
_MIN_SECRET_LEN = 6


class Redactor:
    """Replaces every known secret (and any Telegram-token-shaped string) in text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        found = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}
        # Longest first so a URL is replaced whole before the token inside it.
        self._secrets = tuple(sorted(found, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _TELEGRAM_TOKEN.sub(REDACTED, text)

    def deep(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value; Decimal becomes its string."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, Mapping):
            return {self(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.deep(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self(str(value))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Incident:
    """One stored incident. `positions` and `details` are already redacted JSON values."""

    id: int
    ts: float  # wall clock, Unix seconds
    event: str
    severity: Severity
    key: str
    daemon: str
    market: str
    positions: Mapping[str, str]
    details: Mapping[str, Any]
    repeats: int = 0
    suppressed: str | None = None

    def payload(self) -> dict[str, Any]:
        """The structured alert every sink is built from (and the webhook body)."""
        return {
            "incident_id": self.id,
            "event": self.event,
            "severity": self.severity.value,
            "daemon": self.daemon,
            "market": self.market,
            "positions": dict(self.positions),
            "details": dict(self.details),
            "timestamp": iso_utc(self.ts),
            "repeats": self.repeats,
        }

    def title(self) -> str:
        where = " ".join(x for x in (self.daemon, self.market) if x)
        return f"[{self.severity.value.upper()}] {self.event}" + (f" ({where})" if where else "")

    def body_lines(self) -> list[str]:
        lines = [f"incident #{self.id} at {iso_utc(self.ts)}"]
        if self.positions:
            lines.append("positions: " + " ".join(f"{k}={v}" for k, v in sorted(self.positions.items())))
        for k, v in sorted(self.details.items()):
            lines.append(f"{k}: {v if isinstance(v, str) else canonical_json(v)}")
        if self.repeats:
            lines.append(f"repeated {self.repeats} more time(s)")
        return lines

    def text(self, limit: int = 4000) -> str:
        """Plain text for chat sinks, cut to `limit` characters (Telegram allows 4096)."""
        text = "\n".join([self.title(), *self.body_lines()])
        return text if len(text) <= limit else text[: limit - 3] + "..."
