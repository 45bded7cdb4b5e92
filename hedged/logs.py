"""Logging: loguru for everything, stdlib logging routed into it, secrets redacted.

Text lines on a TTY, JSON lines otherwise (journald). The redaction runs in a
patcher, so it applies to the message, the extra fields and exception text.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Any

from loguru import logger

from hedged.secrets import SECRETS, SecretStore

_TEXT_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {name}: {message}"


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

    def write(message: Any) -> None:
        r = message.record
        doc: dict[str, Any] = {"ts": r["time"].isoformat(), "level": r["level"].name, "logger": r["name"],
                               "msg": r["message"]}
        doc.update({k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
                    for k, v in r["extra"].items()})
        exc = r["exception"]
        if exc is not None and exc.type is not None:
            doc["exc"] = store.redact("".join(traceback.format_exception(exc.type, exc.value, exc.traceback)))
        stream.write(json.dumps(doc, default=str) + "\n")
        stream.flush()

    return write


def setup(level: str = "INFO", fmt: str = "auto", *, sink: Any = None, store: SecretStore = SECRETS) -> None:
    """(Re)configure logging for the process. `sink` defaults to stderr."""
    sink = sys.stderr if sink is None else sink
    if fmt == "auto":
        fmt = "text" if getattr(sink, "isatty", lambda: False)() else "json"
    logger.remove()
    logger.configure(patcher=_redactor(store))
    if fmt == "json":
        logger.add(_json_lines(sink, store), level=level, format="{message}", backtrace=False, diagnose=False)
    else:
        logger.add(sink, level=level, format=_TEXT_FORMAT, backtrace=False, diagnose=False)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)
    for name in ("httpx", "httpcore", "trio-websocket", "hypercorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("hypercorn.access").setLevel(logging.CRITICAL)
