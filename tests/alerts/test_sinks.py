"""Sink request shapes and response classification, without sockets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from hedged.alerts.incident import Incident, Redactor
from hedged.alerts.settings import LarkSettings, Severity, TelegramSettings, WebhookSettings
from hedged.alerts.sinks import LarkSink, SinkError, TelegramSink, WebhookSink, lark_sign

from .conftest import LARK_HOOK_ID, LARK_SECRET, TELEGRAM_TOKEN, WEBHOOK_AUTH

INCIDENT = Incident(
    id=42,
    ts=1_700_000_000.5,
    event="hedge_failed",
    severity=Severity.CRITICAL,
    key="k",
    daemon="hedged-eth",
    market="ETH-USD",
    positions={"extended": "1.5", "lighter": "-1.2"},
    details={"reason": "timeout", "qty": "0.3"},
)


def test_incident_payload_has_the_documented_shape() -> None:
    assert INCIDENT.payload() == {
        "incident_id": 42,
        "event": "hedge_failed",
        "severity": "critical",
        "daemon": "hedged-eth",
        "market": "ETH-USD",
        "positions": {"extended": "1.5", "lighter": "-1.2"},
        "details": {"reason": "timeout", "qty": "0.3"},
        "timestamp": "2023-11-14T22:13:20.500Z",
        "repeats": 0,
    }


def test_telegram_request_posts_send_message_with_readable_text() -> None:
    sink = TelegramSink(TelegramSettings(bot_token=TELEGRAM_TOKEN, chat_id="-100123", base_url="http://t.local/"))
    req = sink.request(INCIDENT, 0)
    assert req.url == f"http://t.local/bot{TELEGRAM_TOKEN}/sendMessage"
    assert req.body["chat_id"] == "-100123"
    assert req.body["disable_notification"] is False
    text = req.body["text"]
    assert text.splitlines()[0] == "[CRITICAL] hedge_failed (hedged-eth ETH-USD)"
    assert "positions: extended=1.5 lighter=-1.2" in text
    assert "reason: timeout" in text and "#42" in text


def test_telegram_text_is_cut_to_the_message_limit() -> None:
    big = Incident(**{**{f: getattr(INCIDENT, f) for f in INCIDENT.__slots__}, "details": {"blob": "x" * 10_000}})
    req = TelegramSink(TelegramSettings(bot_token=TELEGRAM_TOKEN, chat_id="1")).request(big, 0)
    assert len(req.body["text"]) <= 4096


def test_telegram_rate_limit_answer_is_retried_after_the_given_delay() -> None:
    sink = TelegramSink(TelegramSettings(bot_token=TELEGRAM_TOKEN, chat_id="1"))
    body = json.dumps({"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 17}})
    with pytest.raises(SinkError) as err:
        sink.check(429, body.encode(), {})
    assert err.value.retryable and err.value.retry_after == 17


def test_telegram_bad_token_is_a_permanent_failure() -> None:
    sink = TelegramSink(TelegramSettings(bot_token=TELEGRAM_TOKEN, chat_id="1"))
    with pytest.raises(SinkError) as err:
        sink.check(401, b'{"ok": false, "description": "Unauthorized"}', {})
    assert not err.value.retryable
    assert "Unauthorized" in str(err.value)


def test_lark_signature_follows_the_documented_recipe() -> None:
    key = f"1599360473\n{LARK_SECRET}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert lark_sign(1599360473, LARK_SECRET) == expected
    assert lark_sign(1599360474, LARK_SECRET) != expected


def test_lark_interactive_card_is_signed_with_the_current_timestamp() -> None:
    url = f"https://open.larksuite.com/open-apis/bot/v2/hook/{LARK_HOOK_ID}"
    sink = LarkSink(LarkSettings(webhook_url=url, secret=LARK_SECRET))
    req = sink.request(INCIDENT, 1_700_000_123.9)
    assert req.url == url
    assert req.body["msg_type"] == "interactive"
    assert req.body["timestamp"] == "1700000123"
    assert req.body["sign"] == lark_sign(1_700_000_123, LARK_SECRET)
    header = req.body["card"]["header"]
    assert header["template"] == "red" and header["title"]["content"].startswith("[CRITICAL] hedge_failed")


def test_lark_text_message_without_secret_is_unsigned() -> None:
    sink = LarkSink(LarkSettings(webhook_url=f"https://x/hook/{LARK_HOOK_ID}", msg_type="text"))
    req = sink.request(INCIDENT, 0)
    assert req.body["msg_type"] == "text" and "sign" not in req.body
    assert req.body["content"]["text"].startswith("[CRITICAL] hedge_failed")


def test_lark_error_code_in_a_200_answer_is_a_failure() -> None:
    sink = LarkSink(LarkSettings(webhook_url=f"https://x/hook/{LARK_HOOK_ID}"))
    with pytest.raises(SinkError, match="19021"):
        sink.check(200, b'{"code": 19021, "msg": "sign match fail"}', {})
    sink.check(200, b'{"StatusCode": 0, "StatusMessage": "success"}', {})


def test_webhook_posts_the_payload_with_its_headers() -> None:
    sink = WebhookSink(WebhookSettings(url="https://hooks.local/x", headers={"Authorization": WEBHOOK_AUTH}))
    req = sink.request(INCIDENT, 0)
    assert req.body == INCIDENT.payload() and req.headers == {"Authorization": WEBHOOK_AUTH}
    with pytest.raises(SinkError) as err:
        sink.check(503, b"", {"retry-after": "5"})
    assert err.value.retryable and err.value.retry_after == 5
    with pytest.raises(SinkError) as err:
        sink.check(400, b"", {})
    assert not err.value.retryable


def test_settings_repr_shows_no_secret() -> None:
    reprs = " ".join(
        repr(s)
        for s in (
            TelegramSettings(bot_token=TELEGRAM_TOKEN, chat_id="1"),
            LarkSettings(webhook_url=f"https://x/hook/{LARK_HOOK_ID}", secret=LARK_SECRET),
            WebhookSettings(url="https://x/y", headers={"Authorization": WEBHOOK_AUTH}),
        )
    )
    for secret in (TELEGRAM_TOKEN, LARK_HOOK_ID, LARK_SECRET, WEBHOOK_AUTH):
        assert secret not in reprs


def test_redactor_hides_known_secrets_and_any_telegram_token_shape() -> None:
    redact = Redactor([LARK_SECRET, None, ""])
    assert redact(f"sig {LARK_SECRET}!") == "sig ***!"
    assert redact("POST https://api.telegram.org/bot123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/sendMessage") == (
        "POST https://api.telegram.org/bot***/sendMessage"
    )
    assert redact.deep({"k": [LARK_SECRET, 1, None]}) == {"k": ["***", 1, None]}
