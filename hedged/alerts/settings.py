"""Alert settings: frozen, validated, and the reference for the `[alerts]` TOML section.

Secrets (bot token, webhook URLs, signing secret, webhook header values) arrive here
already resolved by the config loader from the environment or credential files. They
are excluded from `repr` so a logged settings object never shows them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}
ALL_SEVERITIES = frozenset(Severity)
DEFAULT_SEVERITIES = frozenset({Severity.WARNING, Severity.ERROR, Severity.CRITICAL})


def _check_severities(owner: str, severities: frozenset[Severity]) -> None:
    if not severities:
        raise ValueError(f"{owner}.severities: must name at least one severity")
    for s in severities:
        if not isinstance(s, Severity):
            raise ValueError(f"{owner}.severities: {s!r} is not one of {[x.value for x in Severity]}")


def _check_url(owner: str, name: str, url: str) -> None:
    # Never echo the URL itself: for Lark and most webhooks the URL is the secret.
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{owner}.{name}: must be an http(s) URL")


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """Telegram Bot API `sendMessage`.

    bot_token: the token BotFather gave (secret; from env or a credential file).
    chat_id: the chat, group or channel id to post to (e.g. "-1001234567890").
    severities: which severities this sink receives.
    base_url: API root; overridable for a local stand-in or a proxy.
    """

    bot_token: str = field(repr=False)
    chat_id: str
    severities: frozenset[Severity] = DEFAULT_SEVERITIES
    base_url: str = "https://api.telegram.org"

    def __post_init__(self) -> None:
        if not self.bot_token:
            raise ValueError("alerts.telegram.bot_token: must not be empty")
        if not str(self.chat_id):
            raise ValueError("alerts.telegram.chat_id: must not be empty")
        _check_url("alerts.telegram", "base_url", self.base_url)
        _check_severities("alerts.telegram", self.severities)


@dataclass(frozen=True, slots=True)
class LarkSettings:
    """Lark / Feishu custom bot webhook.

    webhook_url: the bot's hook URL (secret: whoever has it can post).
    secret: the optional signature-verification secret of the bot (secret).
    msg_type: "interactive" (a card with a coloured header) or "text".
    severities: which severities this sink receives.
    """

    webhook_url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    msg_type: str = "interactive"
    severities: frozenset[Severity] = DEFAULT_SEVERITIES

    def __post_init__(self) -> None:
        _check_url("alerts.lark", "webhook_url", self.webhook_url)
        if self.msg_type not in ("interactive", "text"):
            raise ValueError("alerts.lark.msg_type: must be 'interactive' or 'text'")
        _check_severities("alerts.lark", self.severities)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Generic JSON webhook: the incident payload is POSTed as JSON.

    url: where to POST (treated as a secret: URLs often carry tokens).
    headers: extra request headers, e.g. Authorization (values are secrets).
    severities: which severities this sink receives.
    """

    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    severities: frozenset[Severity] = ALL_SEVERITIES

    def __post_init__(self) -> None:
        _check_url("alerts.webhook", "url", self.url)
        _check_severities("alerts.webhook", self.severities)
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Alert routing and delivery policy.

    telegram / lark / webhook: the sinks; a sink that is None is off.
    timeout_s: deadline for one delivery attempt (connect + send + response).
    backoff_initial_s, backoff_factor, backoff_max_s: retry delay after the n-th failed
        attempt is min(initial * factor**(n-1), max); a sink's Retry-After wins if longer.
    max_age_s: an incident not delivered to a sink within this age is marked expired
        for that sink (it stays in the store).
    max_attempts: if set, a delivery is marked failed after this many failed attempts.
        None (the default) retries until max_age_s, so a sink that is down for an hour
        still gets the incident when it comes back.
    dedup_window_s: the same event with the same key within this window is recorded as a
        repeat of the first incident and not sent again.
    rate_limit_count, rate_limit_period_s: at most this many incidents of one event kind
        are sent per period; the rest are stored, marked rate_limited, and not sent.
    """

    telegram: TelegramSettings | None = None
    lark: LarkSettings | None = None
    webhook: WebhookSettings | None = None
    timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 300.0
    max_age_s: float = 86400.0
    max_attempts: int | None = None
    dedup_window_s: float = 300.0
    rate_limit_count: int = 10
    rate_limit_period_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("timeout_s", "backoff_initial_s", "backoff_max_s", "max_age_s", "rate_limit_period_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"alerts.{name}: must be > 0")
        if self.backoff_factor < 1:
            raise ValueError("alerts.backoff_factor: must be >= 1")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("alerts.backoff_max_s: must be >= backoff_initial_s")
        if self.dedup_window_s < 0:
            raise ValueError("alerts.dedup_window_s: must be >= 0")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("alerts.max_attempts: must be >= 1 (or unset)")
        if self.rate_limit_count < 1:
            raise ValueError("alerts.rate_limit_count: must be >= 1")
