"""Alert sinks as pure request builders and response checkers.

A sink turns an `Incident` into (url, json body, headers) and judges the response;
the Alerter does the I/O. Keeping these pure lets tests check payload shapes and
failure classification without a socket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hedged.alerts.incident import Incident
from hedged.alerts.settings import AlertSettings, LarkSettings, Severity, TelegramSettings, WebhookSettings

_LARK_TEMPLATE = {
    Severity.INFO: "blue",
    Severity.WARNING: "yellow",
    Severity.ERROR: "orange",
    Severity.CRITICAL: "red",
}


class SinkError(Exception):
    """A failed delivery. The message must already be free of secrets."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: Mapping[str, Any]
    headers: Mapping[str, str]


class Sink(Protocol):
    name: str
    severities: frozenset[Severity]

    def secrets(self) -> tuple[str, ...]: ...

    def request(self, incident: Incident, now_wall: float) -> Request: ...

    def check(self, status: int, body: bytes, headers: Mapping[str, str]) -> None: ...


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: let our own backoff decide
        return None


def _check_http(sink: str, status: int, headers: Mapping[str, str]) -> None:
    """Shared status classification: 2xx ok; 408, 429, 5xx retry; other 4xx permanent."""
    if 200 <= status < 300:
        return
    retryable = status in (408, 425, 429) or status >= 500
    raise SinkError(f"{sink} http {status}", retryable=retryable, retry_after=_retry_after_header(headers))


class TelegramSink:
    name = "telegram"

    def __init__(self, s: TelegramSettings) -> None:
        self._s = s
        self.severities = s.severities

    def secrets(self) -> tuple[str, ...]:
        return (self._s.bot_token,)

    def request(self, incident: Incident, now_wall: float) -> Request:
        body = {
            "chat_id": self._s.chat_id,
            "text": incident.text(limit=4000),
            "disable_web_page_preview": True,
            # Info-level messages arrive silently; warnings and criticals ring.
            "disable_notification": incident.severity is Severity.INFO,
        }
        return Request(f"{self._s.base_url.rstrip('/')}/bot{self._s.bot_token}/sendMessage", body, {})

    def check(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        doc = _json_or_none(body)
        if 200 <= status < 300 and isinstance(doc, dict) and doc.get("ok") is True:
            return
        retry_after = None
        description = ""
        if isinstance(doc, dict):
            params = doc.get("parameters")
            if isinstance(params, dict) and isinstance(params.get("retry_after"), (int, float)):
                retry_after = float(params["retry_after"])
            description = str(doc.get("description", ""))[:200]
        if 200 <= status < 300:
            raise SinkError(f"telegram ok=false {description}".rstrip())
        retryable = status in (408, 429) or status >= 500
        retry_after = retry_after if retry_after is not None else _retry_after_header(headers)
        raise SinkError(f"telegram http {status} {description}".rstrip(), retryable=retryable, retry_after=retry_after)


def lark_sign(timestamp: int, secret: str) -> str:
    """Lark/Feishu custom bot signature: HMAC-SHA256 keyed by "timestamp\\nsecret" over an
    empty message, base64-encoded."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class LarkSink:
    name = "lark"

    def __init__(self, s: LarkSettings) -> None:
        self._s = s
        self.severities = s.severities

    def secrets(self) -> tuple[str, ...]:
        hook_id = self._s.webhook_url.rstrip("/").rsplit("/", 1)[-1]
        return tuple(x for x in (self._s.webhook_url, hook_id, self._s.secret) if x)

    def request(self, incident: Incident, now_wall: float) -> Request:
        body: dict[str, Any]
        if self._s.msg_type == "text":
            body = {"msg_type": "text", "content": {"text": incident.text()}}
        else:
            body = {
                "msg_type": "interactive",
                "card": {
                    "config": {"wide_screen_mode": True},
                    "header": {
                        "template": _LARK_TEMPLATE[incident.severity],
                        "title": {"tag": "plain_text", "content": incident.title()},
                    },
                    "elements": [
                        {"tag": "div", "text": {"tag": "plain_text", "content": "\n".join(incident.body_lines())}}
                    ],
                },
            }
        if self._s.secret:
            # Signed at each attempt: Lark rejects timestamps older than an hour.
            ts = int(now_wall)
            body["timestamp"] = str(ts)
            body["sign"] = lark_sign(ts, self._s.secret)
        return Request(self._s.webhook_url, body, {})

    def check(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        _check_http("lark", status, headers)
        doc = _json_or_none(body)
        if not isinstance(doc, dict):
            raise SinkError("lark response is not JSON")
        # Current API answers {"code": 0, ...}; older hooks answer {"StatusCode": 0, ...}.
        code = doc.get("code", doc.get("StatusCode"))
        if code not in (0, None):
            # Lark reports its errors (bad signature, too frequent, ...) with HTTP 200 and a
            # code; retry them all, bounded by max_age_s, rather than guess which are final.
            raise SinkError(f"lark code {code} {str(doc.get('msg', ''))[:200]}".rstrip())


class WebhookSink:
    name = "webhook"

    def __init__(self, s: WebhookSettings) -> None:
        self._s = s
        self.severities = s.severities

    def secrets(self) -> tuple[str, ...]:
        return (self._s.url, *self._s.headers.values())

    def request(self, incident: Incident, now_wall: float) -> Request:
        return Request(self._s.url, incident.payload(), dict(self._s.headers))

    def check(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        _check_http("webhook", status, headers)


def build_sinks(settings: AlertSettings) -> list[Sink]:
    sinks: list[Sink] = []
    if settings.telegram is not None:
        sinks.append(TelegramSink(settings.telegram))
    if settings.lark is not None:
        sinks.append(LarkSink(settings.lark))
    if settings.webhook is not None:
        sinks.append(WebhookSink(settings.webhook))
    return sinks
