"""Secrets: read from the environment or systemd credential files, never from the TOML.

Every secret read goes through `SecretStore.get`, which remembers the value so the
log redaction filter (`hedged.logs`) can mask it wherever it would appear.
"""

from __future__ import annotations

import os
from pathlib import Path

_MIN_REDACT_LEN = 6  # shorter values would mask ordinary words


class MissingSecret(Exception):
    """Names the variable, never a value."""


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
            raise MissingSecret(f"secret {name} is not set: export it or provide it with LoadCredential={name}:...")
        self.remember(value)
        return value

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
