"""docs/going-live.md stays true: every `hedged ...` command in it parses, every config key it names
exists, every metric it names is exported."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from hedged import cli
from hedged import config as config_mod

REPO = Path(__file__).resolve().parent.parent
DOC = (REPO / "docs" / "going-live.md").read_text()


def _commands() -> list[str]:
    found = []
    for line in re.findall(r"`([^`\n]*\bhedged [^`\n]*)`", DOC) + DOC.splitlines():
        m = re.search(r"(?:^|\s|`)hedged ((?:--|config |sim |status|incidents|flatten|ledger)[^`#&|;]*)", line)
        if m:
            found.append(" ".join(m.group(1).split()))
    return sorted(set(found))


COMMANDS = _commands()


def test_the_guide_shows_the_whole_road():
    assert len(COMMANDS) >= 6
    for needed in ("hedged config check", "hedged sim", "hedged flatten", "CREDENTIALS_DIRECTORY",
                   "LoadCredential", "systemctl stop hedged", 'mode = "testnet"', 'mode = "mainnet"'):
        assert needed in DOC, needed


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_in_the_guide_parses(command):
    argv = shlex.split(command.replace("\\", ""))
    try:
        cli.build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"`hedged {command}` does not parse (exit {e.code})")


def test_every_config_key_in_the_guide_exists():
    doc = config_mod.to_dict(config_mod.Config())
    keys = set(re.findall(r"`((?:daemon|log|market|cycle|hedge|risk|venues|metrics|alerts|sim)\.[a-z_.]+)", DOC))
    assert len(keys) >= 10
    for key in keys:
        d = doc
        for part in key.split("."):
            assert isinstance(d, dict) and part in d, f"{key} is not a config key"
            d = d[part]


def test_every_metric_in_the_guide_is_exported():
    from hedged.metrics import Metrics

    exported = {m.name for m in Metrics("hedged", "SOL-USD").registry.collect()}  # counters without _total
    names = set(re.findall(r"\bhedged_[a-z_]+", DOC))
    assert len(names) >= 5
    for name in names:
        assert name.removesuffix("_total") in exported, f"{name} is not exported"
