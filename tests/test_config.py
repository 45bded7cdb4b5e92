"""Config: every bad file is refused with exit 78 and the key path; good files round-trip."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hedged import cli
from hedged import config as config_mod
from hedged import configload

REPO = Path(__file__).resolve().parent.parent

# (name, file body, text the error must contain)
BAD_CONFIGS = [
    ("unknown_top_level", "[bogus]\nx = 1\n", "bogus: unknown key"),
    ("unknown_nested_key", "[cycle]\nsize_mni = '1'\n", "cycle.size_mni: unknown key"),
    ("size_min_above_max", "[cycle]\nsize_min = '3'\nsize_max = '2'\nsize_step='1'\n",
     "cycle.size_min (3) must be <= cycle.size_max (2)"),
    ("size_zero", "[cycle]\nsize_min = '0'\n", "cycle.size_min (0) must be > 0"),
    ("size_not_number", "[cycle]\nsize_max = 'lots'\n", "cycle.size_max ('lots') is not a decimal number"),
    ("size_off_step", "[cycle]\nsize_min = '0.55'\n", "cycle.size_min (0.55) must be a multiple of cycle.size_step"),
    ("delay_negative", "[cycle]\ndelay_min_s = -1\n", "cycle.delay_min_s (-1.0) must be >= 0"),
    ("hold_min_above_max", "[cycle]\nhold_min_s = 20\nhold_max_s = 10\n", "cycle.hold_min_s (20.0) must be <= cycle.hold_max_s"),
    ("direction_bad", "[cycle]\ndirection = 'up'\n", "cycle.direction ('up') must be one of random, buy, sell"),
    ("iterations_float", "[cycle]\niterations = 1.5\n", "cycle.iterations must be an integer"),
    ("iterations_bool", "[cycle]\niterations = true\n", "cycle.iterations must be an integer"),
    ("bps_out_of_range", "[hedge]\nbuy_offset_bps_max = '5000'\n", "hedge.buy_offset_bps_max (5000) must be between 0 and 1000"),
    ("bps_min_above_max", "[hedge]\nsell_offset_bps_min = '20'\nsell_offset_bps_max = '10'\n",
     "hedge.sell_offset_bps_min (20) must be <= hedge.sell_offset_bps_max (10)"),
    ("attempts_zero", "[hedge]\nmax_attempts = 0\n", "hedge.max_attempts (0) must be >= 1"),
    ("timeout_zero", "[hedge]\ntimeout_s = 0\n", "hedge.timeout_s (0.0) must be > 0"),
    ("tolerance_pct_over_100", "[risk]\ntolerance_pct = '150'\n", "risk.tolerance_pct (150) must be between 0.01 and 100"),
    ("max_position_below_size", "[risk]\nmax_position = '1'\n", "cycle.size_max (2) must be <= risk.max_position (1)"),
    ("orphans_bad", "[risk]\norphan_orders = 'keep'\n", "risk.orphan_orders ('keep') must be one of cancel, adopt"),
    ("port_out_of_range", "[metrics]\nport = 70000\n", "metrics.port (70000) must be between 0 and 65535"),
    ("port_string", "[metrics]\nport = '9464'\n", "metrics.port must be an integer"),
    ("mode_bad", "[venues.extended]\nmode = 'prod'\n", "venues.extended.mode ('prod') must be one of sim, testnet, mainnet"),
    ("api_key_index_reserved", "[venues.lighter]\napi_key_index = 1\n", "venues.lighter.api_key_index (1) must be between 3 and 254"),
    ("mainnet_without_vault", "[venues.extended]\nmode = 'mainnet'\n[venues.lighter]\nmode='mainnet'\naccount_index=5\n",
     "venues.extended.vault and venues.extended.stark_public_key are required in mode 'mainnet'"),
    ("mixed_mainnet", "[venues.lighter]\nmode = 'mainnet'\naccount_index = 5\n", "must both be mainnet or neither"),
    ("bad_url", "[venues.extended]\nrest_url = 'ftp://x'\n", "venues.extended.rest_url ('ftp://x') must be an http(s)://"),
    ("env_name_bad", "[venues.extended]\napi_key_env = 'my key'\n", "venues.extended.api_key_env must name an environment variable"),
    ("section_not_table", "cycle = 3\n", "cycle must be a table"),
    ("severity_bad", "[alerts.webhook]\nseverities = ['loud']\n", "alerts.webhook.severities[0] ('loud') must be one of"),
    ("telegram_without_chat", "[alerts.telegram]\nenabled = true\n", "alerts.telegram.chat_id is required"),
    ("sim_flow_sizes_reversed", "[sim]\nflow_size_min = '2'\n", "sim.flow_size_min (2) must be <= sim.flow_size_max (1.0)"),
    ("syntax_error", "[cycle\nsize_min = 1\n", "line 1, column"),
    ("syntax_error_value", "[cycle]\nsize_min = = 1\n", "line 2, column"),
    ("inline_api_key", "[venues.extended]\napi_key = 'abcdef123456'\n", "venues.extended.api_key: secrets are not accepted"),
    ("inline_token", "[alerts.telegram]\nbot_token = '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef'\n", "alerts.telegram.bot_token: secrets are not accepted"),
    ("inline_private_key", "[venues.lighter]\napi_private_key = '0x" + "cd" * 40 + "'\n",
     "venues.lighter.api_private_key: secrets are not accepted"),
    ("hex_key_under_a_non_public_key", "[alerts.telegram]\nchat_id = '0x" + "cd" * 32 + "'\n",
     "alerts.telegram.chat_id: the value looks like a secret (not shown)"),
    ("bot_token_under_any_key", "[daemon]\nname = '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef'\n", "daemon.name: the value looks like a secret"),
    ("password_url", "[alerts.telegram]\napi_base = 'https://bot:hunter2hunter2@api.example'\n",
     "alerts.telegram.api_base: the value looks like a secret"),
    ("hex_api_key_in_env_key", "[venues.extended]\napi_key_env = '" + "0f" * 16 + "'\n",
     "venues.extended.api_key_env: the value looks like a secret itself (not shown)"),
    ("letter_first_hex_api_key_in_env_key", "[venues.extended]\napi_key_env = '" + "ab" * 16 + "'\n",
     "venues.extended.api_key_env: the value looks like a secret itself"),
    ("private_key_in_env_key", "[venues.extended]\nstark_private_key_env = '0x" + "cd" * 32 + "'\n",
     "venues.extended.stark_private_key_env: the value looks like a secret itself"),
    ("token_in_env_key", "[alerts.telegram]\nbot_token_env = 'AbCdEfGhIjKlMnOpQrStUvWx12345678'\n",
     "alerts.telegram.bot_token_env: the value looks like a secret itself"),
    ("env_name_starts_with_digit", "[venues.lighter]\napi_private_key_env = '1ABC'\n",
     "venues.lighter.api_private_key_env must name an environment variable"),
    ("float_nan", "[cycle]\ndelay_min_s = nan\n", "cycle.delay_min_s (nan) must be a finite number"),
    ("float_inf", "[hedge]\ntimeout_s = inf\n", "hedge.timeout_s (inf) must be a finite number"),
    ("decimal_string_nan", "[cycle]\nsize_max = 'NaN'\n", "cycle.size_max (NaN) must be a finite number"),
    ("decimal_huge", "[cycle]\nsize_max = '1e200'\n", "cycle.size_max (1e200) is out of range"),
    ("decimal_too_fine", "[cycle]\nsize_step = '1e-30'\n", "cycle.size_step (1e-30) is out of range"),
    ("max_position_absurd", "[risk]\nmax_position = '5000000'\n", "risk.max_position (5000000) must be <="),
    ("duration_absurd", "[cycle]\nhold_max_s = 1e9\n", "cycle.hold_max_s (1000000000.0) must be <= 2592000"),
    ("size_max_off_step", "[cycle]\nsize_max = '1.95'\n", "cycle.size_max (1.95) must be a multiple of cycle.size_step (0.1)"),
]

SECRET_VALUES = ["abcdef123456", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", "cd" * 32, "cd" * 40, "0f" * 16, "ab" * 16,
                 "AbCdEfGhIjKlMnOpQrStUvWx12345678", "hunter2hunter2", "1ABC"]


@pytest.mark.parametrize(("name", "body", "expected"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_exits_78_naming_the_key(tmp_path, capsys, name, body, expected):
    path = tmp_path / f"{name}.toml"
    path.write_text(body)
    code = cli.main(["config", "check", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 78, err
    assert err.startswith("hedged: config error: ")
    assert expected in err
    for secret in SECRET_VALUES:
        assert secret not in err, "a config error echoed a secret"


def test_syntax_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[daemon]\nname = 'x'\n[cycle]\nsize_min = \n")
    with pytest.raises(config_mod.ConfigError) as info:
        configload.load(path)
    assert str(path) in str(info.value)
    assert "line 4, column" in str(info.value)


def test_unreadable_file_exits_66(tmp_path, capsys):
    assert cli.main(["--config", str(tmp_path / "missing.toml")]) == 66
    assert "cannot read" in capsys.readouterr().err


def test_missing_config_option_is_a_config_error(capsys):
    assert cli.main(["--metrics-port", "0"]) == 78
    assert "--config PATH is required" in capsys.readouterr().err


def _number_keys():
    """Every float and Decimal key of the schema, as (table, key, kind)."""
    import dataclasses
    import typing
    from decimal import Decimal

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                yield from walk(tp, f"{prefix}{f.name}.")
            elif tp in (float, Decimal):
                yield prefix.rstrip("."), f.name, tp.__name__

    return list(walk(config_mod.Config, ""))


NUMBER_KEYS = _number_keys()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(("table", "key", "kind"), NUMBER_KEYS, ids=[f"{t}.{k}" for t, k, _ in NUMBER_KEYS])
def test_nan_and_inf_are_refused_for_every_number_key_naming_it(tmp_path, capsys, table, key, kind, value):
    path = tmp_path / "c.toml"
    path.write_text(f"[{table}]\n{key} = {value}\n")
    assert cli.main(["config", "check", "--config", str(path)]) == 78
    assert f"{table}.{key} (" in capsys.readouterr().err
    if kind == "Decimal":  # the exact form, a string, is refused the same way
        path.write_text(f"[{table}]\n{key} = '{value}'\n")
        assert cli.main(["config", "check", "--config", str(path)]) == 78
        err = capsys.readouterr().err
        assert f"{table}.{key} (" in err and "finite" in err


def test_shipped_config_is_valid_and_equals_the_defaults():
    cfg = configload.load(REPO / "etc" / "hedged.toml")
    assert config_mod.to_dict(cfg) == config_mod.to_dict(config_mod.Config())


def test_shipped_config_documents_every_key():
    text = (REPO / "etc" / "hedged.toml").read_text()
    doc = tomllib.loads(text)

    def keys(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from keys(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    assert set(keys(doc)) == set(keys(config_mod.to_dict(config_mod.Config())))


def test_config_init_then_check_round_trips(tmp_path, capsys):
    path = tmp_path / "new.toml"
    assert cli.main(["config", "init", str(path)]) == 0
    capsys.readouterr()
    assert cli.main(["config", "check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    reparsed = tomllib.loads(out.split("\n# secrets")[0])
    assert reparsed == config_mod.to_dict(config_mod.Config())


def test_config_init_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "exists.toml"
    path.write_text("# mine\n")
    assert cli.main(["config", "init", str(path)]) == 73  # EX_CANTCREAT
    assert path.read_text() == "# mine\n"
    assert "not overwriting" in capsys.readouterr().err


def test_config_check_reports_secret_presence_without_values(tmp_path, capsys, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("[alerts.webhook]\nenabled = true\n")
    monkeypatch.setenv("HEDGED_ALERT_WEBHOOK_URL", "https://hooks.example/very-secret-path")
    assert cli.main(["config", "check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "HEDGED_ALERT_WEBHOOK_URL: set" in out
    assert "very-secret-path" not in out


def test_metrics_port_overrides_from_flag_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("")
    args = cli.build_parser().parse_args(["--config", str(path)])
    monkeypatch.setenv("HEDGE_METRICS_PORT", "9555")
    assert cli.load_config(args).metrics.port == 9555
    args = cli.build_parser().parse_args(["--config", str(path), "--metrics-port", "9666", "--log-format", "json"])
    cfg = cli.load_config(args)
    assert cfg.metrics.port == 9666 and cfg.log.format == "json"
    monkeypatch.setenv("HEDGE_METRICS_PORT", "nope")
    args = cli.build_parser().parse_args(["--config", str(path)])
    with pytest.raises(config_mod.ConfigError, match="HEDGE_METRICS_PORT"):
        cli.load_config(args)


def test_decimal_values_stay_exact(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[cycle]\nsize_min = 0.1\nsize_step = '0.1'\nsize_max = '0.3'\n")
    cfg = configload.load(path)
    assert str(cfg.cycle.size_min) == "0.1" and str(cfg.cycle.size_max) == "0.3"


def test_options_before_or_after_the_subcommand_mean_the_same(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("")
    for argv in (["--config", str(path), "config", "check"], ["config", "check", "--config", str(path)]):
        args = cli.build_parser().parse_args(argv)
        assert args.config == path
        assert cli.load_config(args).metrics.port == 9464
