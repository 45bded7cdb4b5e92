"""What an operator (or systemd) sees when `hedged` cannot start: one line `hedged: <what>: <why>`,
a sysexits code, never a traceback or an exception-group repr, never a secret. All as processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "etc" / "hedged.toml"
# Real shapes: Extended's Stark public keys are field elements (below 2**252), 0x + 63 hex digits, or 64
# when zero-padded; the private key is the one they belong to (fast_stark_crypto.get_public_key).
STARK_PUBLIC_KEYS = ["0x56bf60d27b4780990886f9b190979a1429a392a90675b035d415c8baa480c3e",
                     "0x056bf60d27b4780990886f9b190979a1429a392a90675b035d415c8baa480c3e"]
SECRETS = {"HEDGED_EXTENDED_API_KEY": "9f3c2a1b8e7d6c5b4a39281706f5e4d3",
           "HEDGED_EXTENDED_STARK_PRIVATE_KEY": "0x38f5b92d96e182dcd502d42af1ffe0de8d79f49af6d114c4a6f188a424e617c",
           "HEDGED_LIGHTER_API_PRIVATE_KEY": "0x" + "a7" * 40}


def hedged(*args: str, env: dict[str, str] | None = None, cwd: Path | str = "/") -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_") and k != "STATE_DIRECTORY"}
    return subprocess.run([sys.executable, "-m", "hedged.cli", *args], env={**base, **(env or {})}, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def one_line(res: subprocess.CompletedProcess) -> str:
    """The whole of stderr must be one `hedged: ...` line."""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("hedged: "), res.stderr
    assert "Traceback" not in res.stderr and "ExceptionGroup" not in res.stderr
    return lines[0]


def live_config(tmp_path: Path, public_key: str = STARK_PUBLIC_KEYS[0], extra: str = "") -> Path:
    path = tmp_path / "testnet.toml"
    path.write_text(f"""
[daemon]
state_dir = "{tmp_path / 'state'}"
[metrics]
port = 0
[venues.extended]
mode = "testnet"
vault = 501234
stark_public_key = "{public_key}"
[venues.lighter]
mode = "testnet"
account_index = 281474976710654
api_key_index = 4
{extra}""")
    return path


@pytest.mark.parametrize("key", STARK_PUBLIC_KEYS)
def test_a_testnet_config_with_a_real_stark_public_key_passes_config_check(tmp_path, key):
    res = hedged("config", "check", "--config", str(live_config(tmp_path, key)), env=SECRETS)
    assert res.returncode == 0, res.stderr
    assert key in res.stdout  # public: shown as it is
    assert "vault = 501234" in res.stdout and "account_index = 281474976710654" in res.stdout
    for value in SECRETS.values():
        assert value not in res.stdout + res.stderr
    assert res.stdout.count(": set") == 3


def test_config_check_exits_78_naming_a_missing_secret_and_never_prints_a_present_one(tmp_path):
    present = {"HEDGED_EXTENDED_API_KEY": SECRETS["HEDGED_EXTENDED_API_KEY"]}
    res = hedged("config", "check", "--config", str(live_config(tmp_path)), env=present)
    assert res.returncode == 78
    line = one_line(res)
    assert "HEDGED_LIGHTER_API_PRIVATE_KEY (named by venues.lighter.api_private_key_env)" in line
    assert "HEDGED_LIGHTER_API_PRIVATE_KEY: missing" in res.stdout and "HEDGED_EXTENDED_API_KEY: set" in res.stdout
    assert present["HEDGED_EXTENDED_API_KEY"] not in res.stdout + res.stderr


def test_an_api_key_pasted_into_an_env_key_is_refused_without_echo(tmp_path):
    pasted = SECRETS["HEDGED_EXTENDED_API_KEY"]
    path = live_config(tmp_path).read_text().replace('vault = 501234', f'vault = 501234\napi_key_env = "{pasted}"')
    (tmp_path / "pasted.toml").write_text(path)
    res = hedged("config", "check", "--config", str(tmp_path / "pasted.toml"))
    assert res.returncode == 78
    assert "venues.extended.api_key_env: the value looks like a secret itself (not shown)" in one_line(res)
    assert pasted not in res.stdout + res.stderr


def test_the_daemon_without_credentials_in_testnet_mode_exits_78_in_one_line(tmp_path):
    partial = {"HEDGED_EXTENDED_API_KEY": SECRETS["HEDGED_EXTENDED_API_KEY"]}
    res = hedged("--config", str(live_config(tmp_path)), env=partial)
    assert res.returncode == 78
    line = one_line(res)
    assert line.startswith("hedged: credentials: secret HEDGED_EXTENDED_STARK_PRIVATE_KEY is not set")
    assert partial["HEDGED_EXTENDED_API_KEY"] not in res.stderr


def test_a_credential_file_counts_as_the_secret(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    for name, value in SECRETS.items():
        (creds / name).write_text(value + "\n")
    res = hedged("config", "check", "--config", str(live_config(tmp_path)),
                 env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(": set") == 3


def test_an_unresolvable_metrics_host_exits_78_in_one_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[metrics]\nhost = "no-such-host.invalid"\n')
    res = hedged("--config", str(cfg), "--state-dir", str(tmp_path / "state"))
    assert res.returncode == 78
    assert one_line(res).startswith("hedged: metrics.host 'no-such-host.invalid': cannot resolve")


def test_a_metrics_port_in_use_exits_69_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = hedged("--config", str(SHIPPED), "--state-dir", str(tmp_path / "state"), "--metrics-port", str(port))
    assert res.returncode == 69
    assert one_line(res) == f"hedged: metrics listen 127.0.0.1:{port}: Address already in use"


def test_an_unwritable_state_dir_exits_73_in_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where a directory must go: unwritable even for root
    res = hedged("--config", str(SHIPPED), "--state-dir", str(blocker / "state"))
    assert res.returncode == 73
    assert one_line(res) == f"hedged: state dir {blocker / 'state'}: Not a directory"
    res = hedged("--config", str(SHIPPED), env={"STATE_DIRECTORY": str(blocker)})
    assert res.returncode == 73
    assert one_line(res) == f"hedged: state dir {blocker}: not a directory"


def test_hedged_sim_with_an_unwritable_state_dir_exits_73_in_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    res = hedged("sim", "--config", str(SHIPPED), "--state-dir", str(tmp_path / "file" / "s"))
    assert res.returncode == 73
    assert one_line(res).startswith("hedged: state dir ")


@pytest.mark.parametrize(("cycle", "expected"), [
    ('size_step = "0.001"\nsize_min = "0.5"\nsize_max = "0.611"',
     "hedged: config error: cycle.size_step (0.001) must be a multiple of the extended market SOL-USD size step (0.01)"),
    ('size_step = "0.05"\nsize_min = "0.05"\nsize_max = "1"',
     "hedged: config error: cycle.size_min (0.05) is below the extended market SOL-USD minimum order size (0.1)"),
])
def test_sizes_the_venue_cannot_trade_are_refused_at_start_with_78(tmp_path, cycle, expected):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[cycle]\n{cycle}\n[metrics]\nport = 0\n")
    res = hedged("--config", str(cfg), "--state-dir", str(tmp_path / "state"), "--log-format", "json")
    assert res.returncode == 78, res.stderr[-2000:]
    last = res.stderr.splitlines()[-1]
    assert last == expected
    assert "Traceback" not in res.stderr and "ExceptionGroup" not in res.stderr
    assert "order_placed" not in res.stderr and "cycle_started" not in res.stderr  # refused before trading


def test_no_arguments_is_a_usage_error_exit_2():
    res = hedged()
    assert res.returncode == 2
    assert res.stderr.startswith("usage: hedged")
    assert "Traceback" not in res.stderr


def test_version_prints_the_package_version():
    import tomllib

    res = hedged("--version")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert res.returncode == 0
    assert res.stdout == f"hedged {version}\n"
