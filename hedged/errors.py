"""Process-level outcomes shared by the services and the CLI (exit codes live here)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_HALTED = 3  # halted for safety: systemd must not restart (RestartPreventExitStatus=3)
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_NOINPUT = 66
EXIT_UNAVAILABLE = 69  # a listen address is in use or not available: may clear up, systemd restarts
EXIT_CANTCREAT = 73  # the state dir (or a file) cannot be created or written: a human must fix it
EXIT_CONFIG = 78


class Halted(Exception):
    """Trading stopped for safety (exposure could not be brought within tolerance).

    Raised by a service; the supervisor never restarts it and the process exits 3.
    """

    def __init__(self, reason: str, **details: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class ServiceFailed(Exception):
    """A service failed beyond its restart policy (critical, or restart intensity exceeded)."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"service {name} failed: {why}")
        self.name = name
