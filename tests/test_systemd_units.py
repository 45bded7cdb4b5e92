"""The shipped systemd units: required directives, and `systemd-analyze verify` clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hedged.config import Config

UNITS = Path(__file__).resolve().parent.parent / "etc" / "systemd"


def _directives(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


@pytest.mark.parametrize("unit", ["hedged.service", "hedged@.service"])
def test_unit_has_the_directives_a_trading_daemon_needs(unit):
    d = _directives(UNITS / unit)
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["KillMode"] == ["mixed"] and d["Restart"] == ["on-failure"]
    assert set(d["RestartPreventExitStatus"][0].split()) == {"3", "78"}
    assert int(d["TimeoutStopSec"][0]) > Config().daemon.graceful_stop_s
    assert "WatchdogSec" in d and "StateDirectory" in d and len(d["LoadCredential"]) == 3
    for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "RestrictAddressFamilies",
                "SystemCallFilter"):
        assert key in d, key


def test_template_unit_reads_the_instance_config():
    d = _directives(UNITS / "hedged@.service")
    assert "--config /etc/hedged/%i.toml" in d["ExecStart"][0]
    assert d["StateDirectory"] == ["hedged-%i"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize(("unit", "name"), [("hedged.service", "hedged.service"), ("hedged@.service", "hedged@sol.service")])
def test_systemd_analyze_verify_is_clean(tmp_path, unit, name):
    # Point ExecStart at this checkout's entry point so verify can check that the binary exists.
    exe = Path(sys.executable).parent / "hedged"
    text = (UNITS / unit).read_text().replace("/opt/hedged/.venv/bin/hedged", str(exe))
    (tmp_path / name).write_text(text)
    res = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert name not in res.stderr, res.stderr
