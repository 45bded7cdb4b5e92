"""Secrets: read from the environment or systemd credential files, never from the TOML.

Every secret read goes through `SecretStore.get`, which remembers the value so the
log redaction filter (`hedged.logs`) can mask it wherever it would appear.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hedged.config import Config

_MIN_REDACT_LEN = 6  # shorter values would mask ordinary words

# Shapes only secrets have, under whatever key: a PEM private key, a Telegram bot token
# (`<bot id>:<35 chars>`), a URL that carries a password.
_SECRET_SHAPE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|^\d{6,}:[A-Za-z0-9_-]{30,}$|^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"
)
# A long hex number is a key. Stark public keys, L2 keys and vault ids are hex or numbers too, so a
# hex value is only taken for a secret where the key does not say it is public.
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{32,}$")
# Pasted API keys and tokens (base64/base58): long, mixed case and digits, no `_`. Environment
# variable names are upper-case words joined by `_`, so this only ever matches a value.
_TOKEN = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9+/=.-]{24,}$")
# In an *_env key the bar is lower: a Lark bot's signing secret is 22 base62 characters and short API
# keys exist, while a variable's name is words joined by `_`, never a run of mixed case and digits.
_SHORT_TOKEN = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9+/=.-]{12,}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def shown(value: object) -> str:
    """`value` as an error message may quote it: repr, unless some part of it looks like a secret."""
    text = str(value)
    if _SECRET_SHAPE.search(text) or any(_SHORT_TOKEN.match(run) or _HEX_KEY.match(run)
                                         for run in re.findall(r"[A-Za-z0-9+/=.-]{12,}", text)):
        return "(not shown: it looks like a secret)"
    return repr(value)


class MissingSecret(Exception):
    """Names the variable, never a value."""


def looks_secret(key: str, value: str) -> bool:
    """Whether `value`, found in the config under `key`, is a secret pasted where it does not belong.

    Judged by the key it sits under and by shapes only secrets have, never by length alone:
    a real Stark public key (0x + 63-64 hex digits) under `stark_public_key` is fine.
    """
    v = value.strip()
    if _SECRET_SHAPE.search(v):
        return True
    if key.endswith("_env"):  # must be a variable's name: any key-shaped value is the secret itself
        return bool(_HEX_KEY.match(v) or _SHORT_TOKEN.match(v))
    return "public" not in key and bool(_HEX_KEY.match(v))


def required_secrets(cfg: Config) -> list[tuple[str, str]]:
    """(config key, secret name) of every secret this config needs to run."""
    out: list[tuple[str, str]] = []
    e, lt, a = cfg.venues.extended, cfg.venues.lighter, cfg.alerts
    if e.mode != "sim":
        out += [("venues.extended.api_key_env", e.api_key_env),
                ("venues.extended.stark_private_key_env", e.stark_private_key_env)]
    if lt.mode != "sim":
        out.append(("venues.lighter.api_private_key_env", lt.api_private_key_env))
        out += [(f"venues.lighter.hedge_api_keys[{i}]", lt.hedge_key_env(k)) for i, k in enumerate(lt.hedge_api_keys)]
    if a.telegram.enabled:
        out.append(("alerts.telegram.bot_token_env", a.telegram.bot_token_env))
    if a.lark.enabled:
        out.append(("alerts.lark.webhook_url_env", a.lark.webhook_url_env))
        if a.lark.signing_secret_env:
            out.append(("alerts.lark.signing_secret_env", a.lark.signing_secret_env))
    if a.webhook.enabled:
        out.append(("alerts.webhook.url_env", a.webhook.url_env))
    return out


# What each venue's signing secret must look like, checked before anything connects: a wrong
# shape would otherwise fail inside the venue service, five restarts, then exit 1 (restarted).
_STARK_PRIVATE = re.compile(r"^0x[0-9a-fA-F]{1,64}$")  # the x10 SDK asserts the 0x prefix
# The Stark curve's order: a private key is in [1, order). Outside it (a placeholder 0x0) the signing
# library panics in Rust, which prints its own lines on stderr before Python sees an exception.
_STARK_ORDER = 0x0800000000000010FFFFFFFFFFFFFFFFB781126DCAE7B2321E66A241ADC64D2F
_LIGHTER_PRIVATE = re.compile(r"^(0x)?[0-9a-fA-F]{80}$")  # 40 bytes; the signer takes it without 0x


def check_secrets(cfg: Config, store: SecretStore, *, key_pair: bool = True) -> tuple[list[tuple[str, str]], list[str]]:
    """(missing, problems) of the secrets `cfg` needs, each naming the secret and the key that names it,
    never a value. missing: (name, `<not set> (named by KEY)`), secrets not set at all; problems:
    unreadable, wrong shape, a secret's value pasted into the config, a Stark public key that is not
    the private key's."""
    from hedged.config import to_dict

    missing: list[tuple[str, str]] = []
    problems: list[str] = []
    values: dict[str, str] = {}
    for key, name in required_secrets(cfg):
        try:
            values[name] = store.get(name)
        except MissingSecret as e:
            if store.is_absent(name):
                missing.append((name, f"{e} (named by {key})"))
            else:
                problems.append(f"{e} (named by {key})")
    pasted: set[str] = set()
    for path, text in _strings(to_dict(cfg), ""):
        for name, value in values.items():
            if len(value) >= 8 and (value in text or len(value) >= 18 and value.removeprefix("0x") in text):
                pasted.add(path)
                problems.append(f"{path} holds the value of the secret {name} (not shown); name the secret "
                                f"in an *_env key instead")
    e = cfg.venues.extended
    if e.mode != "sim" and (priv := values.get(e.stark_private_key_env)) is not None:
        named = "(named by venues.extended.stark_private_key_env)"
        if not _STARK_PRIVATE.match(priv) or not 0 < int(priv, 16) < _STARK_ORDER:
            problems.append(f"secret {e.stark_private_key_env} must be 0x-prefixed hex, a Stark private key (below the "
                            f"curve order, not 0) {named}")
        elif key_pair and "venues.extended.stark_public_key" not in pasted:
            import fast_stark_crypto

            try:
                public = fast_stark_crypto.get_public_key(int(priv, 16))
            except BaseException:  # noqa: BLE001  (pyo3 panics are BaseException; the message could quote the key)
                public = None
            if public is None or public != int(e.stark_public_key, 16):
                problems.append(f"venues.extended.stark_public_key is not the public key of the secret "
                                f"{e.stark_private_key_env} {named}")
    for key_path, name in required_secrets(cfg):
        if not key_path.startswith("venues.lighter."):  # the primary API key and each hedge key
            continue
        if (key := values.get(name)) is not None and not _LIGHTER_PRIVATE.match(key):
            problems.append(f"secret {name} must be 80 hex digits (Lighter's 40-byte API private key, "
                            f"0x optional) (named by {key_path})")
    return missing, problems


def _strings(node: object, path: str):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


class SecretStore:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._known: set[str] = set()

    def get(self, name: str) -> str:
        """The secret called `name`: env var first, then `$CREDENTIALS_DIRECTORY/name`."""
        value = self._environ.get(name)
        if value is None:
            cred_dir = self._environ.get("CREDENTIALS_DIRECTORY")
            if cred_dir:
                path = Path(cred_dir) / name
                try:
                    value = path.read_text().strip()
                except FileNotFoundError:
                    value = None
                except OSError as e:
                    raise MissingSecret(f"credential {name} unreadable: {e.strerror}") from None
                except UnicodeDecodeError:  # its message would quote bytes of the secret
                    raise MissingSecret(f"credential {name} is not UTF-8 text ({path})") from None
        if not value:
            # The message names the variable only: `name` is checked to be a variable name at load.
            raise MissingSecret(f"secret {name} is not set: export it or provide it with LoadCredential={name}:...")
        self.remember(value)
        return value

    def is_absent(self, name: str) -> bool:
        """Neither in the environment nor a file in $CREDENTIALS_DIRECTORY (or empty): not set at all."""
        if self._environ.get(name):
            return False
        cred_dir = self._environ.get("CREDENTIALS_DIRECTORY")
        if not cred_dir:
            return True
        path = Path(cred_dir) / name
        try:
            return path.stat().st_size == 0 or not path.read_bytes().strip()
        except FileNotFoundError:
            return True
        except OSError:
            return False

    def present(self, name: str) -> bool:
        """Whether `get(name)` would succeed, without remembering or returning the value."""
        try:
            SecretStore(self._environ).get(name)
        except MissingSecret:
            return False
        return True

    def remember(self, value: str) -> None:
        """Register a secret that did not come through `get` (e.g. sim-generated keys)."""
        if len(value) >= _MIN_REDACT_LEN:
            self._known.add(value)

    def redact(self, text: str) -> str:
        for secret in self._known:
            if secret in text:
                text = text.replace(secret, "***")
        return text


#: the process-wide store used by the daemon and its log filter
SECRETS = SecretStore()
