"""Logging: loguru for everything, stdlib logging routed into it, secrets redacted.

Text lines on a TTY, JSON lines otherwise (journald). The redaction runs in a
patcher, so it applies to the message, the extra fields and exception text.

Log calls are events with fields: `logger.info("hedge_sent venue={} qty={}", v, q)`. loguru
formats the message before any patcher or sink sees it, so the JSON sink takes the fields back
out of the (already redacted) text: the first word is `event`, and each ` name=` starts a field
whose value runs up to the next ` name=` outside quotes and brackets. Every field becomes its own JSON key with its text as
printed (decimals stay exact; `None` is null), beside `ts`, `level`, `logger`, `event`, `msg`
(the whole line) and `exc`; a field named like one of those is written as `<name>_field`.
Values from `logger.bind(...)` are keys too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from typing import Any

from loguru import logger

from hedged.secrets import SECRETS, SecretStore

# A file or pipe gets dates and the emitting module; a person at a terminal gets a short line.
_TEXT_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {name}: {message}"
_TTY_FORMAT = "{time:HH:mm:ss.SSS} {level: <7} {message}"
_RESERVED = frozenset({"ts", "level", "logger", "event", "msg", "exc"})
_EVENT = re.compile(r"[a-z][a-z0-9_]*")
_NEXT_FIELD = re.compile(r" ([a-z_][a-z0-9_]*)=")


def _balanced(text: str) -> bool:
    return (text.count("(") == text.count(")") and text.count("[") == text.count("]")
            and text.count("{") == text.count("}") and text.count("'") % 2 == 0 and text.count('"') % 2 == 0)


def split_event(message: str) -> tuple[str | None, dict[str, str | None]]:
    """`"hedge_sent venue=lighter qty=0.40"` -> `("hedge_sent", {"venue": "lighter", "qty": "0.40"})`.
    A value runs to the next ` name=` outside quotes and brackets (so a repr such as
    `error=ValueError('a b=c')` stays whole). A message that does not start with an event word has
    no event and no fields."""
    head = message.split(" ", 1)[0]
    if not _EVENT.fullmatch(head):
        return None, {}
    fields: dict[str, str | None] = {}
    match = _NEXT_FIELD.search(message, len(head))
    while match is not None:
        start = match.end()
        nxt = next((m for m in _NEXT_FIELD.finditer(message, start) if _balanced(message[start:m.start()])), None)
        value = message[start:nxt.start() if nxt else len(message)]
        fields[match.group(1)] = None if value == "None" else value
        match = nxt
    return head, fields


class _InterceptHandler(logging.Handler):
    """Feeds stdlib logging (httpx, trio-websocket, hypercorn) into loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, "{}: {}", record.name, record.getMessage())


def _redactor(store: SecretStore):
    def patch(record: dict[str, Any]) -> None:
        record["message"] = store.redact(record["message"])
        for k, v in list(record["extra"].items()):
            if isinstance(v, str):
                record["extra"][k] = store.redact(v)
        exc = record["exception"]
        if exc is not None and exc.value is not None:
            text = str(exc.value)
            clean = store.redact(text)
            if clean != text:
                # The traceback would print the raw value: keep the type, drop the secret.
                record["exception"] = None
                record["message"] += f" [{exc.type.__name__}: {clean}]"

    return patch


def _json_lines(stream: Any, store: SecretStore):
    """One flat JSON object per line (journald, log shippers): ts, level, logger, msg, extras, exc."""

    def put(doc: dict[str, Any], key: str, value: Any) -> None:
        doc[f"{key}_field" if key in _RESERVED else key] = value

    def write(message: Any) -> None:
        r = message.record
        event, fields = split_event(r["message"])
        doc: dict[str, Any] = {"ts": r["time"].isoformat(), "level": r["level"].name, "logger": r["name"]}
        if event is not None:
            doc["event"] = event
        doc["msg"] = r["message"]
        for k, v in fields.items():
            put(doc, k, v)
        for k, v in r["extra"].items():
            put(doc, k, v if isinstance(v, (str, int, float, bool, type(None))) else store.redact(str(v)))
        exc = r["exception"]
        if exc is not None and exc.type is not None:
            doc["exc"] = store.redact("".join(traceback.format_exception(exc.type, exc.value, exc.traceback)))
        stream.write(json.dumps(doc, default=str) + "\n")
        stream.flush()

    return write


def setup(level: str = "INFO", fmt: str = "auto", *, sink: Any = None, store: SecretStore = SECRETS) -> None:
    """(Re)configure logging for the process. `sink` defaults to stderr."""
    sink = sys.stderr if sink is None else sink
    tty = bool(getattr(sink, "isatty", lambda: False)())
    if fmt == "auto":
        fmt = "text" if tty else "json"
    logger.remove()
    logger.configure(patcher=_redactor(store))
    if fmt == "json":
        logger.add(_json_lines(sink, store), level=level, format="{message}", backtrace=False, diagnose=False)
    else:
        logger.add(sink, level=level, format=_TTY_FORMAT if tty else _TEXT_FORMAT, backtrace=False, diagnose=False)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
    for name in ("httpx", "httpcore", "trio-websocket", "hypercorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("hypercorn.access").setLevel(logging.CRITICAL)
