"""One source for the config reference: etc/hedged.toml, `hedged config init` and docs/config.md are
all rendered from hedged/config.py, and the files in the repository are up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hedged import config as config_mod
from hedged import configload
from hedged import configdoc

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_config_init_writes_exactly_the_shipped_reference(tmp_path):
    res = _run("hedged.cli", "config", "init", str(tmp_path / "hedged.toml"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "hedged.toml").read_bytes() == (REPO / "etc" / "hedged.toml").read_bytes()


def test_config_init_refuses_to_overwrite_with_73_and_leaves_the_file(tmp_path):
    target = tmp_path / "hedged.toml"
    target.write_text("# mine\n")
    res = _run("hedged.cli", "config", "init", str(target), cwd=tmp_path)
    assert res.returncode == 73
    assert res.stderr == f"hedged: config init: {target} exists; not overwriting\n"
    assert target.read_text() == "# mine\n"
    res = _run("hedged.cli", "config", "init", str(tmp_path / "no" / "dir.toml"), cwd=tmp_path)
    assert res.returncode == 73 and res.stderr.startswith("hedged: config init: cannot create ")


def test_docs_config_md_is_generated_from_the_schema_and_up_to_date(tmp_path):
    res = _run("hedged.configdoc", "--md", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == (REPO / "docs" / "config.md").read_text(), \
        "docs/config.md is stale: python -m hedged.configdoc --md > docs/config.md"


def test_every_key_is_documented_with_a_comment_in_the_schema():
    text = configdoc.reference_toml()
    doc = configdoc.reference_md()
    for table, cls in configdoc._tables():
        for name, _ in configdoc._scalars(cls):
            assert configdoc.field_comments(cls).get(name), f"{table}.{name} has no comment in hedged/config.py"
            assert f"| `{name}` |" in doc
    assert config_mod.to_dict(configload.from_dict(__import__("tomllib").loads(text))) == \
        config_mod.to_dict(config_mod.Config())
