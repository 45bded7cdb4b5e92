"""What a person sees from bad input a reviewer fed in through files and processes: broken
credential files, pasted keys, absurd ids, pipes closed early. Each is one line
`hedged: <what>: <why>` with its sysexits code, never a traceback and never a secret."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hedged.ledger.journal import Journal
from tests.test_startup_failures import REPO, SECRETS, STARK_PUBLIC_KEYS, hedged, live_config, one_line

# A key pair that belongs together, and another public key.
STARK_PRIVATE = SECRETS["HEDGED_EXTENDED_STARK_PRIVATE_KEY"]
STARK_PUBLIC = STARK_PUBLIC_KEYS[0]
OTHER_PUBLIC = "0x38f2725e9a3d590b17ce0dba17b05e075559d9185beb151454268314e2ce684"


def no_secret_in(res: subprocess.CompletedProcess, *values: str) -> None:
    for value in values or SECRETS.values():
        assert value not in res.stdout + res.stderr
        assert value.removeprefix("0x") not in res.stdout + res.stderr


def test_a_credential_file_that_is_not_text_is_one_line_78_for_check_and_daemon(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    for name, value in SECRETS.items():
        (creds / name).write_text(value + "\n")
    (creds / "HEDGED_EXTENDED_API_KEY").write_bytes(b"\xff\xfe9f3c2a1b\x00\x81")  # e.g. a DER file or UTF-16
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    cfg = live_config(tmp_path, STARK_PUBLIC)
    check = hedged("config", "check", "--config", str(cfg), env=env)
    assert check.returncode == 78
    assert "HEDGED_EXTENDED_API_KEY" in one_line(check) and "not UTF-8 text" in one_line(check)
    run = hedged("--config", str(cfg), env=env)
    assert run.returncode == 78
    assert one_line(run).startswith("hedged: credentials: credential HEDGED_EXTENDED_API_KEY is not UTF-8 text")


@pytest.mark.parametrize("command", [("config", "check"), ("ledger", "fills"), ("status",)])
def test_an_operator_command_writing_into_a_closed_pipe_prints_no_traceback(tmp_path, command):
    # `hedged ledger fills | head`: head exits, the next write fails with EPIPE. Here the pipe's
    # reading end is closed before the command starts, so every write fails.
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[metrics]\nport = 1\n')
    (tmp_path / "state").mkdir()
    Journal.open(tmp_path / "state" / "ledger.sqlite3").close()  # an empty journal: header lines only
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        res = subprocess.run([sys.executable, "-m", "hedged.cli", *command, "--config", str(cfg)], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, timeout=60, cwd=tmp_path)
    finally:
        os.close(write_end)
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr
    assert res.stderr == ""
    assert res.returncode == 0  # the reader leaving is not a failure of the command


@pytest.mark.parametrize(("key", "table"), [("account_index", "venues.lighter"), ("vault", "venues.extended"),
                                            ("iterations", "cycle"), ("seed", "sim")])
def test_an_integer_beyond_64_bits_is_refused_at_load_naming_the_key(tmp_path, key, table):
    # Lighter's signer takes account_index as a C long long: 2**63 and beyond used to restart
    # venue:lighter five times and exit 1 ("client has been closed"), restarted by systemd.
    cfg = live_config(tmp_path, STARK_PUBLIC)
    text = cfg.read_text().replace(f"[{table}]\n", f"[{table}]\n{key} = {2**63}\n", 1)
    if f"[{table}]" not in text:
        text += f"\n[{table}]\n{key} = {2**63}\n"
    cfg.write_text("\n".join(line for line in text.splitlines()
                             if not (line.startswith(f"{key} = ") and line != f"{key} = {2**63}")))
    res = hedged("config", "check", "--config", str(cfg), env=SECRETS)
    assert res.returncode == 78
    assert one_line(res).startswith(f"hedged: config error: {table}.{key} ({2**63}) is out of range")


@pytest.mark.parametrize(("key", "pasted"), [
    ("alerts.lark.signing_secret_env", "hnEsY6z6kVTZt8p6bFC1Ld"),  # a Lark bot's signing secret: 22 chars
    ("venues.extended.api_key_env", "Xk29fLq0ZmP4vN7r"),  # a short base62 API key
])
def test_a_short_token_pasted_into_an_env_key_is_refused_without_echo(tmp_path, key, pasted):
    table, name = key.rsplit(".", 1)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[{table}]\n{name} = "{pasted}"\n')
    res = hedged("config", "check", "--config", str(cfg))
    assert res.returncode == 78
    assert one_line(res).startswith(f"hedged: config error: {key}: the value looks like a secret itself (not shown)")
    no_secret_in(res, pasted)


def test_an_env_var_name_in_mixed_words_is_still_a_name(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[alerts.lark]\nsigning_secret_env = "HEDGED_LARK_SIGNING_SECRET_2"\n'
                   '[venues.extended]\napi_key_env = "hedged_extended_api_key"\n')
    res = hedged("config", "check", "--config", str(cfg))
    assert res.returncode == 0, res.stderr


def test_the_stark_private_key_pasted_as_the_public_key_is_refused_without_echo(tmp_path):
    cfg = live_config(tmp_path, STARK_PRIVATE)  # the most likely paste: both are 0x + hex
    for args in (("config", "check", "--config", str(cfg)), ("--config", str(cfg))):
        res = hedged(*args, env=SECRETS)
        assert res.returncode == 78, res.stderr
        assert "venues.extended.stark_public_key" in one_line(res)
        no_secret_in(res)


def test_config_check_refuses_a_stark_public_key_that_is_not_the_private_keys(tmp_path):
    # At start the venue refuses such a pair and the daemon halts (tests/test_daemon_venue_failures.py).
    cfg = live_config(tmp_path, OTHER_PUBLIC)
    for args in (("config", "check", "--config", str(cfg)),):
        res = hedged(*args, env=SECRETS)
        assert res.returncode == 78, res.stderr
        assert one_line(res) == ("hedged: credentials: venues.extended.stark_public_key is not the public key of "
                                 "the secret HEDGED_EXTENDED_STARK_PRIVATE_KEY (named by "
                                 "venues.extended.stark_private_key_env)")
        no_secret_in(res)


@pytest.mark.parametrize(("name", "value", "why"), [
    ("HEDGED_EXTENDED_STARK_PRIVATE_KEY", STARK_PRIVATE[2:], "must be 0x-prefixed hex"),  # pasted without 0x
    ("HEDGED_EXTENDED_STARK_PRIVATE_KEY", "0xnot-a-key", "must be 0x-prefixed hex"),
    ("HEDGED_EXTENDED_STARK_PRIVATE_KEY", "0x0000000000", "must be 0x-prefixed hex"),  # a placeholder: Rust panics
    ("HEDGED_EXTENDED_STARK_PRIVATE_KEY", "0x" + "f" * 64, "must be 0x-prefixed hex"),  # above the curve order
    ("HEDGED_LIGHTER_API_PRIVATE_KEY", "a7" * 32, "must be 80 hex digits"),  # 32 bytes, not Lighter's 40
])
def test_a_secret_of_the_wrong_shape_is_one_line_78_at_check_and_start_without_echo(tmp_path, name, value, why):
    # Without the check the venue service failed five times and the daemon exited 1 (restarted).
    env = {**SECRETS, name: value}
    cfg = live_config(tmp_path, STARK_PUBLIC)
    for args in (("config", "check", "--config", str(cfg)), ("--config", str(cfg))):
        res = hedged(*args, env=env)
        assert res.returncode == 78, res.stderr
        line = one_line(res)
        assert line.startswith(f"hedged: credentials: secret {name} ") and why in line
        no_secret_in(res, value)


def test_a_matching_key_pair_passes_config_check(tmp_path):
    res = hedged("config", "check", "--config", str(live_config(tmp_path, STARK_PUBLIC)), env=SECRETS)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(": set") == 3
    no_secret_in(res)


def test_a_config_saved_with_a_byte_order_mark_loads(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\xef\xbb\xbf" + (REPO / "etc" / "hedged.toml").read_bytes())  # Notepad's UTF-8
    res = hedged("config", "check", "--config", str(cfg))
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("body", [
    '[venues.lighter]\nmode = "Xk29fLq0ZmP4vN7rT5wY"\n',  # a token where a choice goes
    '[venues.extended]\nrest_url = "Xk29fLq0ZmP4vN7rT5wY"\n',  # ... where a URL goes
    '[alerts.telegram]\nseverities = ["critical", "Xk29fLq0ZmP4vN7rT5wY"]\n',  # ... in an array
    '[daemon]\nname = "Xk29fLq0ZmP4vN7rT5wY!"\n',
    '[venues.extended]\nXk29fLq0ZmP4vN7rT5wY = 1\n',  # ... pasted as a key
    '[venues]\nextended = { mode = "testnet", api_key = "Xk29fLq0ZmP4vN7rT5wY" }\n',  # inline table
])
def test_a_token_pasted_where_it_does_not_fit_is_refused_without_echo(tmp_path, body):
    cfg = tmp_path / "c.toml"
    cfg.write_text(body)
    res = hedged("config", "check", "--config", str(cfg))
    assert res.returncode == 78
    one_line(res)
    no_secret_in(res, "Xk29fLq0ZmP4vN7rT5wY")


@pytest.mark.parametrize("name", ["SOL\nUSD", "SOL USD", "SOL-USD;rm"])
def test_a_market_name_that_no_venue_lists_is_refused_at_load(tmp_path, name):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[market]\nextended = "' + name.replace("\n", "\\n") + '"\n')
    res = hedged("config", "check", "--config", str(cfg))
    assert res.returncode == 78
    assert one_line(res).startswith("hedged: config error: market.extended must be")


def test_a_token_pasted_as_metrics_host_is_not_echoed_by_the_daemon(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[metrics]\nhost = "Xk29fLq0ZmP4vN7rT5wY"\n')
    res = hedged("--config", str(cfg), "--state-dir", str(tmp_path / "state"))
    assert res.returncode == 78
    assert one_line(res).startswith("hedged: metrics.host (not shown: it looks like a secret): cannot resolve")
    no_secret_in(res, "Xk29fLq0ZmP4vN7rT5wY")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_a_state_file_another_user_owns_is_exit_73_naming_it_before_anything_starts(tmp_path):
    # `sudo hedged status --state-dir /var/lib/hedged` on a stopped daemon leaves root-owned
    # ledger.sqlite3-shm/-wal behind (SQLite's read-only WAL open creates them); the unit's
    # DynamicUser cannot write them and the journal failed at start: exit 1, restarted every 5 s.
    # Here root without CAP_DAC_OVERRIDE stands in for the unit's user, uid 1234 for root.
    state = tmp_path / "state"
    state.mkdir()
    shm = state / "ledger.sqlite3-shm"
    shm.write_bytes(b"\0" * 64)
    os.chown(shm, 1234, 1234)
    shm.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    res = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", sys.executable, "-m",
                          "hedged.cli", "--config", str(REPO / "etc" / "hedged.toml"), "--state-dir", str(state),
                          "--metrics-port", "0"], env=env, cwd="/", capture_output=True, text=True, timeout=60)
    assert res.returncode == 73, res.stderr[-2000:]
    assert one_line(res) == (f"hedged: state dir {state}: ledger.sqlite3-shm is not writable by this user "
                             f"(owner uid 1234); chown the state dir's files to the user that runs the daemon")


def test_a_table_declared_twice_is_named_as_toml_names_it_not_as_a_python_tuple(tmp_path):
    # The going-live road pastes sim-venues.toml after a config: forgetting to delete its [venues.*] first.
    cfg = tmp_path / "c.toml"
    cfg.write_text('[venues.extended]\nmode = "sim"\n\n[venues.extended]\nmode = "testnet"\n')
    res = hedged("config", "check", "--config", str(cfg))
    assert res.returncode == 78
    assert one_line(res) == f"hedged: config error: {cfg}: line 4, column 17: Cannot declare [venues.extended] twice"
