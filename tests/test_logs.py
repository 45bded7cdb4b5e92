"""Logging: secrets are masked in messages, extras and exception text; JSON lines off a TTY."""

from __future__ import annotations

import io
import json
import logging
import re
from decimal import Decimal

from loguru import logger

from hedged import logs
from hedged.secrets import MissingSecret, SecretStore

SECRET = "sk_live_0123456789abcdef"


def _capture(fmt: str, store: SecretStore) -> io.StringIO:
    buf = io.StringIO()
    logs.setup("DEBUG", fmt, sink=buf, store=store)
    return buf


def test_secret_is_redacted_from_message_extra_and_exception():
    store = SecretStore(environ={"HEDGED_EXTENDED_API_KEY": SECRET})
    assert store.get("HEDGED_EXTENDED_API_KEY") == SECRET
    buf = _capture("json", store)
    logger.bind(header=f"X-Api-Key: {SECRET}").info("request key={}", SECRET)
    try:
        raise RuntimeError(f"401 for key {SECRET}")
    except RuntimeError:
        logger.exception("request_failed")
    out = buf.getvalue()
    assert SECRET not in out
    assert out.count("***") >= 3
    for line in out.splitlines():
        json.loads(line)


def test_stdlib_logging_from_libraries_is_routed_and_redacted():
    store = SecretStore(environ={"T": SECRET})
    store.get("T")
    buf = _capture("text", store)
    logging.getLogger("httpx").warning("GET https://api.example/bot%s/sendMessage failed", SECRET)
    out = buf.getvalue()
    assert "httpx" in out and "sendMessage" in out
    assert SECRET not in out


def test_secret_comes_from_credentials_directory_when_not_in_environment(tmp_path):
    (tmp_path / "HEDGED_LIGHTER_API_PRIVATE_KEY").write_text("ab" * 40 + "\n")
    store = SecretStore(environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert store.get("HEDGED_LIGHTER_API_PRIVATE_KEY") == "ab" * 40


def test_missing_secret_names_the_variable_only():
    store = SecretStore(environ={})
    try:
        store.get("HEDGED_EXTENDED_API_KEY")
    except MissingSecret as e:
        assert "HEDGED_EXTENDED_API_KEY" in str(e)
    else:
        raise AssertionError("a missing secret must raise")


def test_json_lines_carry_the_event_and_each_field_as_its_own_key():
    buf = _capture("json", SecretStore(environ={}))
    logger.info("hedge_sent venue={} qty={} level={} avg_price={}", "lighter", Decimal("0.40"), 1, None)
    logger.warning("stop_requested reason={} mode=graceful", "iterations done")
    logger.error("service_failed name=cycle error={!r} attempt=2", ValueError("bad x=1"))
    first, second, third = (json.loads(line) for line in buf.getvalue().splitlines())
    assert first["event"] == "hedge_sent" and first["level"] == "INFO" and first["logger"] == __name__
    assert first["msg"] == "hedge_sent venue=lighter qty=0.40 level=1 avg_price=None"
    # Values are the text as printed (exact decimals); a field named like a standard key is renamed.
    assert (first["venue"], first["qty"], first["level_field"], first["avg_price"]) == ("lighter", "0.40", "1", None)
    assert (second["event"], second["reason"], second["mode"]) == ("stop_requested", "iterations done", "graceful")
    assert (third["name"], third["error"], third["attempt"]) == ("cycle", "ValueError('bad x=1')", "2")


def test_secrets_are_redacted_in_every_json_field():
    store = SecretStore(environ={"HEDGED_EXTENDED_API_KEY": SECRET})
    store.get("HEDGED_EXTENDED_API_KEY")
    buf = _capture("json", store)
    logger.bind(headers={"X-Api-Key": SECRET}).info("request key={} url=https://x/{}/y", SECRET, SECRET)
    doc = json.loads(buf.getvalue())
    assert SECRET not in buf.getvalue()
    assert doc["key"] == "***" and doc["url"] == "https://x/***/y" and "***" in doc["headers"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_on_a_terminal_is_a_short_line_and_a_file_keeps_date_and_module():
    tty = _Tty()
    logs.setup("INFO", "auto", sink=tty, store=SecretStore(environ={}))
    logger.info("cycle n={} outcome={}", 1, "completed")
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} INFO    cycle n=1 outcome=completed\n", tty.getvalue())
    plain = _capture("text", SecretStore(environ={}))
    logger.info("cycle n={}", 1)
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} INFO    {__name__}: cycle n=1\n", plain.getvalue())


def teardown_module():
    logs.setup("WARNING", "text")
