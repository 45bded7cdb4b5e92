"""The shipped systemd units: required directives, `systemd-analyze verify` clean, and the
ExecStart line run the way systemd runs it (cwd /, the unit's environment, STATE_DIRECTORY)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hedged.config import Config

REPO = Path(__file__).resolve().parent.parent
UNITS = {"hedged.service": REPO / "hedged.service", "hedged@.service": REPO / "etc" / "systemd" / "hedged@.service"}
VENV_BIN = Path(sys.executable).parent


def _directives(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


@pytest.mark.parametrize("unit", list(UNITS))
def test_unit_has_the_directives_a_trading_daemon_needs(unit):
    d = _directives(UNITS[unit])
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["KillMode"] == ["mixed"] and d["Restart"] == ["on-failure"]
    # halted (3), state dir unwritable (73), config or credentials (78): restarting cannot help
    assert set(d["RestartPreventExitStatus"][0].split()) == {"3", "73", "78"}
    assert int(d["TimeoutStopSec"][0]) > Config().daemon.graceful_stop_s
    assert "WatchdogSec" in d and "StateDirectory" in d and len(d["LoadCredential"]) == 3
    assert "--state-dir" not in d["ExecStart"][0], "the state dir comes from $STATE_DIRECTORY"
    assert "WorkingDirectory" not in d, "nothing may depend on the cwd"
    for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "RestrictAddressFamilies",
                "SystemCallFilter"):
        assert key in d, key


def test_the_single_unit_is_at_the_top_level_and_the_template_reads_the_instance_config():
    assert not (REPO / "etc" / "systemd" / "hedged.service").exists()  # one copy: the top-level file
    assert _directives(UNITS["hedged.service"])["ExecStart"] == [
        "/opt/hedged/.venv/bin/hedged --config /etc/hedged/hedged.toml"]
    d = _directives(UNITS["hedged@.service"])
    assert "--config /etc/hedged/%i.toml" in d["ExecStart"][0]
    assert d["StateDirectory"] == ["hedged-%i"]


def _as_systemd_runs_it(unit: str, instance: str, config: Path, state_dir: Path, notify: Path) -> tuple[list, dict]:
    """argv and environment of ExecStart, as systemd would build them (no shell, clean env)."""
    d = _directives(UNITS[unit])
    line = d["ExecStart"][0].replace("%i", instance)
    argv = shlex.split(line)
    assert argv[0] == "/opt/hedged/.venv/bin/hedged"
    argv[0] = str(VENV_BIN / "hedged")  # this checkout's venv stands in for /opt/hedged/.venv
    i = argv.index("--config")
    argv[i + 1] = str(config)  # /etc/hedged/... is the operator's; ours is the shipped sim-mode file
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    for assignment in d.get("Environment", []):
        for item in shlex.split(assignment):
            k, v = item.split("=", 1)
            env[k] = v
    env["STATE_DIRECTORY"] = str(state_dir)  # what StateDirectory= sets
    env["NOTIFY_SOCKET"] = str(notify)  # Type=notify
    return argv, env


@pytest.mark.parametrize(("unit", "instance"), [("hedged.service", ""), ("hedged@.service", "sol")])
def test_execstart_as_systemd_runs_it_becomes_ready_and_stops_on_sigterm_with_0(tmp_path, unit, instance):
    config = tmp_path / "hedged.toml"
    config.write_text((REPO / "etc" / "hedged.toml").read_text().replace("port = 9464", "port = 0", 1))
    state = tmp_path / "var-lib-hedged"
    state.mkdir(mode=0o700)  # systemd creates it before ExecStart
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(tmp_path / "notify"))
        notify.settimeout(60)
        argv, env = _as_systemd_runs_it(unit, instance, config, state, tmp_path / "notify")
        umask = int(_directives(UNITS[unit])["UMask"][0], 8)
        proc = subprocess.Popen(argv, cwd="/", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=lambda: os.umask(umask))
        try:
            messages = b""
            while b"READY=1" not in messages:  # blocking receive: each datagram is a notify message
                messages += notify.recv(4096) + b"\n"
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=Config().daemon.graceful_stop_s + 10)
            notify.setblocking(False)  # the process has exited: drain what it sent while stopping
            while True:
                try:
                    messages += notify.recv(4096) + b"\n"
                except BlockingIOError:
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    assert b"STOPPING=1" in messages
    assert (state / "ledger.sqlite3").is_file() and (state / "incidents.sqlite3").is_file()
    assert not Path("/state").exists(), "a relative state dir resolved against cwd /"


def test_execstart_with_an_unwritable_state_directory_exits_73_in_one_line_and_is_not_restarted(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    argv, env = _as_systemd_runs_it("hedged.service", "", REPO / "etc" / "hedged.toml", blocker, tmp_path / "n")
    res = subprocess.run(argv, cwd="/", env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 73
    assert res.stderr == f"hedged: state dir {blocker}: not a directory\n"
    assert "73" in _directives(UNITS["hedged.service"])["RestartPreventExitStatus"][0].split()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize(("unit", "name"), [("hedged.service", "hedged.service"), ("hedged@.service", "hedged@sol.service")])
def test_systemd_analyze_verify_is_clean(tmp_path, unit, name):
    # Point ExecStart at this checkout's entry point so verify can check that the binary exists.
    exe = VENV_BIN / "hedged"
    text = UNITS[unit].read_text().replace("/opt/hedged/.venv/bin/hedged", str(exe))
    (tmp_path / name).write_text(text)
    res = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert name not in res.stderr, res.stderr
