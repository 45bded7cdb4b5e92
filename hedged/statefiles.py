"""Files in the state dir are private to the daemon's user: the dir 0700, the files 0600.

The journal, the incident store and the Lighter id counters say what the account traded and
holds; nobody else on the host needs to read them. Under systemd `StateDirectory=` creates the
dir (its mode is the unit's `StateDirectoryMode=`); outside systemd hedged creates it here.
Modes are given at creation, so they do not depend on the process umask being strict.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | Path) -> Path:
    """Create `path` (0700) if it is missing; an existing dir is left as it is."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def private_file(path: str | Path) -> Path:
    """Create `path` empty with mode 0600 if it is missing (its dir too, 0700), before a library
    such as sqlite3 opens it with the umask's default mode. SQLite gives its -wal and -shm files
    the database file's mode."""
    path = Path(path)
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    return path


def open_private(path: str | Path, mode: str = "w"):
    """`open(path, mode)` for writing ("w" or "a"), creating the file 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, FILE_MODE), mode)
