"""The config reference, rendered from the schema in `hedged/config.py` (one source).

`reference_toml()` is `etc/hedged.toml` and what `hedged config init` writes; `reference_md()`
is `docs/config.md`. Keys, types and defaults come from the dataclasses, the text of each key
from its field comment, so a new key shows up in all three (tests compare the files).

    python -m hedged.configdoc --toml > etc/hedged.toml
    python -m hedged.configdoc --md > docs/config.md
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import sys
import tokenize
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import tomli_w

from hedged import config as config_mod

# One line per table: what it is for. (Key texts live beside the keys in config.py.)
TABLES = {
    "daemon": "The process: its name, where its state lives, how it stops.",
    "log": "Log lines go to stderr (journald under systemd).",
    "market": "The one market pair this daemon trades. One daemon per market and account.",
    "cycle": "The open -> hold -> close cycle on the maker venue. Sizes are decimal strings (exact).",
    "hedge": "The taker order on Lighter that covers every maker fill.",
    "risk": "Tolerance, caps, reconciliation and the exposure guard.",
    "venues.extended": "Extended (maker leg). Public ids here; secrets are named by the *_env keys.",
    "venues.lighter": "Lighter (hedge leg). Public ids here; the API private key is named by its *_env key.",
    "metrics": "The HTTP endpoint: /metrics (Prometheus), /healthz, /readyz, /status.",
    "alerts": "Incidents: always written to the state dir's incident store, sent to the enabled sinks.",
    "alerts.telegram": "Telegram bot sink.",
    "alerts.lark": "Lark (Feishu) custom bot sink.",
    "alerts.webhook": "Generic JSON webhook sink.",
    "sim": "The simulators (venues.*.mode = \"sim\", and `hedged sim`).",
}

HEADER = """\
# hedged configuration. Every key is shown with its default; delete what you do not change.
# Generated from hedged/config.py (python -m hedged.configdoc --toml); `hedged config init PATH`
# writes this same text. Reference with types: docs/config.md.
# Secrets never go in this file: keys named *_env name an environment variable or a systemd
# credential file ($CREDENTIALS_DIRECTORY/<name>) that holds the value.
# This file runs on the embedded simulators (venues.*.mode = "sim"): `make run` needs no keys.
"""

_COMMENT_COLUMN = 32


def field_comments(cls: type) -> dict[str, str]:
    """`name: type = default  # comment` -> {name: comment}, for `cls` and its bases."""
    out: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        src = inspect.getsource(klass)
        tokens = list(tokenize.generate_tokens(io.StringIO(src).readline))
        for i, tok in enumerate(tokens):
            if tok.type == tokenize.COMMENT and i >= 1:
                line = [t for t in tokens if t.start[0] == tok.start[0] and t.type == tokenize.NAME]
                if line and line[0].start[1] == 4:  # a field at class-body indent
                    out[line[0].string] = tok.string.lstrip("#").strip()
    return out


def _tables(cls: type = config_mod.Config, prefix: str = "") -> list[tuple[str, type]]:
    """Every table in file order: (dotted name, dataclass)."""
    out: list[tuple[str, type]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            name = f"{prefix}{f.name}"
            out.append((name, tp))
            out += _tables(tp, f"{name}.")
    return out


def _scalars(cls: type) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(hints[f.name])]


def _default(table: str) -> dict[str, Any]:
    d: Any = config_mod.to_dict(config_mod.Config())
    for part in table.split("."):
        d = d[part]
    return d


def _choices(tp: Any) -> str:
    args = [f'"{a}"' for a in typing.get_args(tp)]
    return ", ".join(args[:-1]) + f" or {args[-1]}"


def _toml_value(v: Any) -> str:
    if isinstance(v, list):  # inline, one line: tomli_w would spread an array over several
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return tomli_w.dumps({"k": v}).split(" = ", 1)[1].rstrip("\n")


def reference_toml() -> str:
    out = [HEADER]
    for table, cls in _tables():
        scalars = _scalars(cls)
        if not scalars:
            continue
        comments, defaults = field_comments(cls), _default(table)
        out.append(f"\n# {TABLES[table]}\n[{table}]\n")
        for name, tp in scalars:
            line = f"{name} = {_toml_value(defaults[name])}"
            text = comments.get(name, "")
            if typing.get_origin(tp) is Literal and '"' not in text:
                text = f"{text}; {_choices(tp)}" if text else _choices(tp)
            if text:
                line = f"{line.ljust(_COMMENT_COLUMN - 1)} # {text}"
            out.append(line + "\n")
    return "".join(out)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " \\| ".join(f'`"{a}"`' for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return "array of integers" if typing.get_args(tp)[0] is int else "array of strings"
    return {Decimal: "decimal (string)", float: "number", int: "integer", bool: "boolean", str: "string",
            Path: "path"}[tp]


def reference_md() -> str:
    out = [
        "# Configuration reference\n\n",
        "<!-- Generated from hedged/config.py by `python -m hedged.configdoc --md > docs/config.md`;\n",
        "     tests/test_configdoc.py fails when it is out of date. Do not edit by hand. -->\n\n",
        "One TOML file, given with `--config PATH`. Unknown keys are refused; every error names the key\n",
        "and the rule and exits 78 (`hedged: config error: cycle.size_min (3) must be <= cycle.size_max (2)`).\n",
        "`hedged config init PATH` writes the commented reference (the same text as `etc/hedged.toml`);\n",
        "`hedged config check --config PATH` validates a file and says which secrets are set.\n\n",
        "Rules beyond the types (`hedged/configcheck.py`): numbers are finite (`nan`/`inf` are refused),\n",
        "decimals below 10^12 with at most 18 places, integers within 64 bits (ids go to the venues'\n",
        "signers as C `long long`), durations (`*_s`) at most 30 days;\n",
        "`cycle.size_min` and `cycle.size_max` are on `cycle.size_step`; at start, `cycle.size_step` must be\n",
        "a multiple of both venues' size steps and the sizes tradeable there (exit 78 otherwise).\n\n",
        "**Secrets** never go in the file. A `*_env` key names an environment variable, or a systemd\n",
        "credential file `$CREDENTIALS_DIRECTORY/<name>`, that holds the value; it must look like a\n",
        "variable name (`^[A-Za-z_][A-Za-z0-9_]*$`). A value that looks like a secret (a long hex key\n",
        "outside a `*public*` key, a bot token, a PEM key, a URL with a password; in a `*_env` key also a\n",
        "token-shaped value: 12 or more characters mixing upper and lower case and digits, no `_`) is refused without being echoed.\n",
        "Public ids (`stark_public_key`, `vault`, `account_index`) are not secrets.\n\n",
        "Overrides: `--state-dir` (else `$STATE_DIRECTORY`, which systemd's `StateDirectory=` sets) for\n",
        "`daemon.state_dir`; `--metrics-port` or `HEDGE_METRICS_PORT` for `metrics.port`; `--log-format`.\n",
    ]
    for table, cls in _tables():
        scalars = _scalars(cls)
        if not scalars:
            continue
        comments, defaults = field_comments(cls), _default(table)
        out.append(f"\n## `[{table}]`\n\n{TABLES[table]}\n\n| key | type | default | meaning |\n|---|---|---|---|\n")
        for name, tp in scalars:
            text = comments.get(name, "").replace("|", "\\|")
            out.append(f"| `{name}` | {_type_name(tp)} | `{_toml_value(defaults[name])}` | {text} |\n")
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["--toml"], ["--md"], []):
        print("usage: python -m hedged.configdoc [--toml | --md]", file=sys.stderr)
        return 2
    sys.stdout.write(reference_toml() if args == ["--toml"] else reference_md())
    return 0


if __name__ == "__main__":
    sys.exit(main())
