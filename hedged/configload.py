"""Reading a config: TOML text or a dict -> a typed `Config` (unknown keys rejected), then validated by the
rules of `hedged.configcheck`. Every error is a `ConfigError` naming the key path; never echoes a secret.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from hedged.config import EX_NOINPUT, Config, ConfigError
from hedged.configcheck import validate
from hedged.secrets import looks_secret, shown

# Decimals beyond these are typos or attacks ("1e200"), never sizes, prices or bps.
_DECIMAL_MAX = Decimal("1e12")
_DECIMAL_MIN_EXPONENT = -18
_INT_LIMIT = 2**63
_SECRETISH_KEY = re.compile(r"(secret|token|password|private|api_key|passphrase|webhook_url)")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_TUPLE = re.compile(r"\((?:'[^']*',? ?)+\)")


def load(path: Path) -> Config:
    """Read, map and validate a config file. Raises ConfigError (exit 78, or 66 if unreadable)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}", exit_code=EX_NOINPUT) from None
    try:
        # utf-8-sig: editors on Windows save UTF-8 with a byte-order mark, which tomllib calls "Invalid statement".
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        m = _TOML_POS.search(str(e))
        where = f"line {m.group(1)}, column {m.group(2)}" if m else "syntax"
        reason = _TOML_POS.sub("", str(e)).strip()
        # tomllib names a table as a Python tuple, ('venues', 'extended'): say [venues.extended].
        reason = _TOML_TUPLE.sub(lambda t: "[" + ".".join(re.findall(r"'([^']*)'", t.group(0))) + "]", reason)
        raise ConfigError(f"{path}: {where}: {reason}") from None
    return from_dict(data)


def from_dict(data: dict[str, Any]) -> Config:
    cfg = _build(Config, data, "")
    validate(cfg)
    return cfg


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            path = _join(prefix, key)
            if _SECRETISH_KEY.search(key) and not key.endswith("_env"):
                raise ConfigError(
                    f"{path}: secrets are not accepted in the config file; put the value in an environment "
                    f"variable or a systemd credential and name it with {key}_env"
                )
            if shown(key).startswith("(not shown"):  # a secret pasted where a key goes
                raise ConfigError(f"{prefix or 'config'}: an unknown key that looks like a secret (not shown)")
            raise ConfigError(f"{path}: unknown key")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], _join(prefix, f.name))
        elif dataclasses.is_dataclass(hints[f.name]):
            kwargs[f.name] = _build(hints[f.name], {}, _join(prefix, f.name))
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    key = path.rsplit(".", 1)[-1].split("[", 1)[0]
    if isinstance(value, str) and looks_secret(key, value):
        # Never echo the value: it is the secret.
        if key.endswith("_env"):
            raise ConfigError(f"{path}: the value looks like a secret itself (not shown); put the secret in an "
                              f"environment variable or credential file and give its name here")
        raise ConfigError(f"{path}: the value looks like a secret (not shown); secrets belong in the "
                          f"environment or a credential file")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{path} ({shown(value)}) must be one of {', '.join(map(str, choices))}")
        return value
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be an array")
        return tuple(_convert(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported config type at {path}")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} must be an integer")
        if not -_INT_LIMIT <= value < _INT_LIMIT:  # ids go to Lighter's signer as C long long, counts to SQLite
            raise ConfigError(f"{path} ({value}) is out of range (a 64-bit signed integer)")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path} must be a number")
        if not math.isfinite(value):  # TOML allows nan and inf; every comparison with NaN is false
            raise ConfigError(f"{path} ({value}) must be a finite number")
        return float(value)
    if tp is Decimal:
        # Strings keep the exact decimal; a TOML float is read via its shortest repr.
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{path} must be a decimal number (a string such as \"0.1\" is exact)")
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise ConfigError(f"{path} ({shown(value)}) is not a decimal number") from None
        if not d.is_finite():
            raise ConfigError(f"{path} ({value}) must be a finite number")
        if abs(d) >= _DECIMAL_MAX or (d != 0 and d.as_tuple().exponent < _DECIMAL_MIN_EXPONENT):
            raise ConfigError(f"{path} ({value}) is out of range (at most {_DECIMAL_MAX:,f} and "
                              f"{-_DECIMAL_MIN_EXPONENT} decimal places)")
        return d
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path} must be a string")
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path} must be a non-empty path string")
        return Path(value)
    raise TypeError(f"unsupported config type {tp!r} at {path}")


def with_overrides(cfg: Config, *, metrics_port: int | None = None, log_format: str | None = None,
                   state_dir: Path | None = None) -> Config:
    """Apply command-line / environment overrides, validating the result like the file."""
    if metrics_port is not None:
        cfg = dataclasses.replace(cfg, metrics=dataclasses.replace(cfg.metrics, port=metrics_port))
    if log_format is not None:
        cfg = dataclasses.replace(cfg, log=dataclasses.replace(cfg.log, format=log_format))
    if state_dir is not None:
        cfg = dataclasses.replace(cfg, daemon=dataclasses.replace(cfg.daemon, state_dir=state_dir))
    validate(cfg)
    return cfg
