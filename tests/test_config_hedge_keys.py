"""venues.lighter.hedge_api_keys: a pool of Lighter API keys for parallel hedges (issue 12 points 1, 11).

Each key's private key is its own secret (`<api_private_key_env>_<index>`, env var or systemd credential),
never in the file; the config names only the indexes."""

from __future__ import annotations

import pytest

from hedged import cli
from hedged import configload
from hedged.secrets import SecretStore
from hedged.venues.assembly import SimPair, lighter_settings
from hedged.venues.lighter.signing import generate_api_key

TESTNET = "[venues.lighter]\nmode = 'testnet'\naccount_index = 281474976710000\napi_key_index = 3\n"


@pytest.mark.parametrize(("body", "error"), [
    ("hedge_api_keys = [4, 2]\n", "venues.lighter.hedge_api_keys[1] (2) must be between 3 and 254"),
    ("hedge_api_keys = [255]\n", "venues.lighter.hedge_api_keys[0] (255) must be between 3 and 254"),
    ("hedge_api_keys = [4, 5, 4]\n", "venues.lighter.hedge_api_keys[2] (4) is listed twice"),
    ("hedge_api_keys = [4, 3]\n", "venues.lighter.hedge_api_keys[1] (3) is venues.lighter.api_key_index"),
    ("hedge_api_keys = ['4']\n", "venues.lighter.hedge_api_keys[0] must be an integer"),
    ("hedge_api_keys = 4\n", "venues.lighter.hedge_api_keys must be an array"),
    ("hedge_api_private_key = '" + "ab" * 40 + "'\n", "venues.lighter.hedge_api_private_key: secrets are not accepted"),
])
def test_a_bad_hedge_key_pool_is_refused_naming_the_key(tmp_path, capsys, body, error):
    path = tmp_path / "c.toml"
    path.write_text(TESTNET + body)
    assert cli.main(["config", "check", "--config", str(path)]) == 78
    assert error in capsys.readouterr().err


def _keys(n: int) -> list[str]:
    return [generate_api_key().private_key for _ in range(n)]


def test_config_check_reads_every_hedge_keys_secret_from_a_file_and_never_prints_one(tmp_path, capsys, monkeypatch):
    path = tmp_path / "hedged.toml"
    path.write_text(TESTNET + "hedge_api_keys = [4, 5, 6]\n")
    primary, k4, k5, k6 = _keys(4)
    monkeypatch.setenv("HEDGED_LIGHTER_API_PRIVATE_KEY", primary)
    monkeypatch.setenv("HEDGED_LIGHTER_API_PRIVATE_KEY_4", "0x" + k4)  # 0x is optional, as for the primary
    creds = tmp_path / "creds"  # systemd LoadCredential= for the others
    creds.mkdir()
    (creds / "HEDGED_LIGHTER_API_PRIVATE_KEY_5").write_text(k5 + "\n")
    (creds / "HEDGED_LIGHTER_API_PRIVATE_KEY_6").write_text(k6)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert cli.main(["config", "check", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "hedge_api_keys = [\n    4,\n    5,\n    6,\n]" in out or "hedge_api_keys = [4, 5, 6]" in out
    for n in ("", "_4", "_5", "_6"):
        assert f"HEDGED_LIGHTER_API_PRIVATE_KEY{n}: set" in out
    for secret in (primary, k4, k5, k6):
        assert secret not in out and secret not in captured.err

    # The adapter gets each key under its index, in the file's order; repr shows indexes, never a key.
    cfg = configload.load(path)
    settings = lighter_settings(cfg, secrets=SecretStore())
    assert [(k.index, k.private_key.removeprefix("0x")) for k in settings.hedge_keys] == [(4, k4), (5, k5), (6, k6)]
    assert settings.key_indexes == (3, 4, 5, 6)
    assert all(secret not in repr(settings) for secret in (primary, k4, k5, k6))


def test_a_missing_or_misshapen_hedge_key_secret_is_named_with_its_config_key(tmp_path, capsys, monkeypatch):
    path = tmp_path / "hedged.toml"
    path.write_text(TESTNET + "hedge_api_keys = [4, 5]\n")
    primary, k4 = _keys(2)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("HEDGED_LIGHTER_API_PRIVATE_KEY", primary)
    monkeypatch.setenv("HEDGED_LIGHTER_API_PRIVATE_KEY_4", k4[:-2])  # 78 hex digits: cut short in a paste
    assert cli.main(["config", "check", "--config", str(path)]) == 78
    err = capsys.readouterr().err
    assert "HEDGED_LIGHTER_API_PRIVATE_KEY_5 (named by venues.lighter.hedge_api_keys[1])" in err
    assert ("secret HEDGED_LIGHTER_API_PRIVATE_KEY_4 must be 80 hex digits" in err
            and "(named by venues.lighter.hedge_api_keys[0])" in err)
    assert k4[:-2] not in err


def test_the_simulators_register_the_pool_and_hand_its_throwaway_keys_to_the_daemon(tmp_path):
    cfg = configload.from_dict({"venues": {"lighter": {"hedge_api_keys": [4, 7]}}})
    pair = SimPair.build(cfg, id_base=0)
    account = pair.lighter.exchange.accounts[pair.lighter_account]
    assert sorted(account.api_keys) == [3, 4, 7]
    assert sorted(pair.lighter_hedge_keys) == [4, 7]
    env = dict(line.split("=", 1) for line in pair.env_lines())
    assert env["HEDGED_LIGHTER_API_PRIVATE_KEY_4"] == pair.lighter_hedge_keys[4]
    assert "hedge_api_keys = [4, 7]" in pair.venue_toml()
    assert all(key not in pair.venue_toml() for key in pair.lighter_hedge_keys.values())
    settings = lighter_settings(cfg, sim=pair)
    assert settings.key_indexes == (3, 4, 7)


def test_settings_refuse_a_pool_that_reuses_an_index_or_carries_a_bad_key():
    from hedged.venues.lighter.settings import HedgeKey, LighterSettings

    primary, other = _keys(2)
    base = {"rest_url": "http://x", "ws_url": "ws://x", "market": "SOL", "account_index": 7, "api_key_index": 3,
            "api_private_key": primary}
    with pytest.raises(ValueError, match="hedge key index 3 is used twice"):
        LighterSettings(**base, hedge_keys=(HedgeKey(3, other),))
    with pytest.raises(ValueError, match="the private key of hedge key 4 must be 80 hex characters") as exc:
        LighterSettings(**base, hedge_keys=(HedgeKey(4, other[:40]),))
    assert other[:40] not in str(exc.value)
