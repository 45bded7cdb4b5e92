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
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
        return bool(_HEX_KEY.match(v) or _TOKEN.match(v))
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
    if a.telegram.enabled:
        out.append(("alerts.telegram.bot_token_env", a.telegram.bot_token_env))
    if a.lark.enabled:
        out.append(("alerts.lark.webhook_url_env", a.lark.webhook_url_env))
        if a.lark.signing_secret_env:
            out.append(("alerts.lark.signing_secret_env", a.lark.signing_secret_env))
    if a.webhook.enabled:
        out.append(("alerts.webhook.url_env", a.webhook.url_env))
    return out


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
        if not value:
            # The message names the variable only: `name` is checked to be a variable name at load.
            raise MissingSecret(f"secret {name} is not set: export it or provide it with LoadCredential={name}:...")
        self.remember(value)
        return value

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
