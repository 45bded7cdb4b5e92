"""Logging: secrets are masked in messages, extras and exception text; JSON lines off a TTY."""

from __future__ import annotations

import io
import json
import logging

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


def teardown_module():
    logs.setup("WARNING", "text")
