"""Packaging a user can install: the wheel `pip install .` builds runs from a fresh venv, and the
Dockerfile's build inputs, user, volume and entrypoint hold together (its ENTRYPOINT + CMD run in a
venv made from that wheel). No Docker daemon is needed: the image itself is not built here.

The wheel is built with build isolation, as `pip install .` does, so setuptools comes from the
package index; the runtime dependencies come from this checkout's venv (a .pth file), so nothing
else is downloaded. About 10-15 s on this machine."""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = pending.partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in dockerfile():
        if ins[0] == "FROM":
            stages.append([])
        stages[-1].append(ins)
    return stages


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for item in shlex.split(rest):
                k, v = item.split("=", 1)
                env[k] = v
    return env


def _one(stage, word) -> str:
    values = [rest for w, rest in stage if w == word]
    assert len(values) == 1, (word, values)
    return values[0]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """The Dockerfile's build inputs copied alone, built into a wheel, installed into a fresh venv
    at <tmp>/opt/hedged/venv (the image's path under a temporary root)."""
    root = tmp_path_factory.mktemp("pkg")
    src = root / "src"
    src.mkdir()
    build = _stages()[0]
    for word, rest in build:
        if word == "COPY" and "--from" not in rest:
            *sources, _dest = shlex.split(rest)
            for s in sources:
                (shutil.copytree if (REPO / s).is_dir() else shutil.copy2)(REPO / s, src / s)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (wheel,) = (root / "dist").glob("hedged-*.whl")
    assert wheel.name == f"hedged-{VERSION}-py3-none-any.whl"
    venv = root / "opt" / "hedged" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies from this checkout's venv; its editable `hedged` is not seen (a .pth entry adds a
    # path, it does not run that directory's own .pth files).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                          "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return venv


def test_the_wheel_installs_a_hedged_command_that_runs_from_its_own_venv(wheel_venv, tmp_path):
    res = subprocess.run([str(wheel_venv / "bin" / "hedged"), "--version"], cwd="/", capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"hedged {VERSION}\n"
    where = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", "import hedged; print(hedged.__file__)"],
                           cwd="/", capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(wheel_venv)), f"hedged imported from {where}, not from the wheel"
    # The reference config is rendered from the installed schema: the same bytes as the repository's.
    res = subprocess.run([str(wheel_venv / "bin" / "hedged"), "config", "init", str(tmp_path / "h.toml")],
                         cwd="/", capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "h.toml").read_bytes() == (REPO / "etc" / "hedged.toml").read_bytes()


def test_the_dockerfile_runs_as_a_non_root_user_with_state_on_a_volume():
    build, final = _stages()
    assert _one(build, "FROM").startswith("python:3.11") and _one(final, "FROM").startswith("python:3.11")
    assert "PYTHON ?= python3.11" in (REPO / "Makefile").read_text()  # the Python the lock file is made for
    user = _one(final, "USER")
    assert user not in ("root", "0")
    run = " ".join(rest for w, rest in final if w == "RUN")
    assert f"useradd --system --uid 10001 --user-group --home-dir /var/lib/hedged --shell /usr/sbin/nologin {user}" in run
    env = _env(final)
    assert json.loads(_one(final, "VOLUME")) == [env["STATE_DIRECTORY"]] == ["/var/lib/hedged"]
    assert f"-o {user} -g {user} -m 0700 {env['STATE_DIRECTORY']}" in run  # the volume is the user's, private
    assert json.loads(_one(final, "ENTRYPOINT")) == ["/opt/hedged/venv/bin/hedged"]
    assert json.loads(_one(final, "CMD")) == ["--config", "/etc/hedged/hedged.toml"]
    assert _one(final, "COPY") == "--from=build /opt/hedged/venv /opt/hedged/venv"
    assert "python -m venv /opt/hedged/venv" in _one(build, "RUN")  # same path in both stages
    assert "-c requirements.lock ." in _one(build, "RUN")  # runtime deps only, pinned by the lock
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "state" in ignored and ".git" in ignored


def test_the_images_entrypoint_and_cmd_start_the_daemon_from_the_wheel_venv_and_stop_on_sigterm(wheel_venv, tmp_path):
    final = _stages()[1]
    prefix = str(wheel_venv.parent.parent.parent)  # the temporary root that stands in for /
    argv = json.loads(_one(final, "ENTRYPOINT")) + json.loads(_one(final, "CMD"))
    config = tmp_path / "hedged.toml"  # what the operator mounts; here the shipped sim-mode file, port 0
    config.write_text((REPO / "etc" / "hedged.toml").read_text().replace("port = 9464", "port = 0", 1))
    argv = [prefix + argv[0]] + [str(config) if a == "/etc/hedged/hedged.toml" else a for a in argv[1:]]
    env = {k: v.replace("/opt/hedged", prefix + "/opt/hedged").replace("$PATH", "/usr/bin:/bin")
           for k, v in _env(final).items()}
    volume = tmp_path / "var-lib-hedged"
    volume.mkdir(mode=0o700)
    env["STATE_DIRECTORY"] = str(volume)
    env["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(env["NOTIFY_SOCKET"])
        notify.settimeout(60)
        proc = subprocess.Popen(argv, cwd=volume, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            seen = b""
            while b"READY=1" not in seen:  # blocking receive of notify datagrams
                seen += notify.recv(4096)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    assert (volume / "ledger.sqlite3").is_file() and (volume / "incidents.sqlite3").is_file()
