"""`hedged` command line: run the daemon, check or write a config, and operator commands.

Exit codes (also in README): 0 clean stop, 1 unexpected failure, 3 halted for safety,
66 config file unreadable, 78 config invalid.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import tomli_w

from hedged import config as config_mod
from hedged.cli import ops
from hedged.errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK


def _add_run_options(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    # Only the top-level parser sets defaults, so `hedged --config X status` and
    # `hedged status --config X` mean the same: a subcommand's unset option keeps the top value.
    default = None if top else argparse.SUPPRESS
    p.add_argument("--config", type=Path, default=default, help="path to hedged.toml")
    p.add_argument("--metrics-port", type=int, default=default,
                   help="override metrics.port (also HEDGE_METRICS_PORT)")
    p.add_argument("--log-format", choices=["auto", "text", "json"], default=default)
    p.add_argument("--state-dir", type=Path, default=default, help="override daemon.state_dir")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hedged", description="Maker on Extended, hedge on Lighter.")
    _add_run_options(parser, top=True)
    sub = parser.add_subparsers(dest="command")

    cfg = sub.add_parser("config", help="check or create a config file")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = cfg_sub.add_parser("check", help="validate a config and print it with secrets redacted")
    _add_run_options(check)
    init = cfg_sub.add_parser("init", help="write a complete default config (never overwrites)")
    init.add_argument("path", type=Path)

    sim = sub.add_parser("sim", help="run both venue simulators standalone")
    _add_run_options(sim)
    ops.add_parsers(sub, _add_run_options)
    return parser


def load_config(args: argparse.Namespace) -> config_mod.Config:
    if args.config is None:
        raise config_mod.ConfigError("--config PATH is required")
    cfg = config_mod.load(args.config)
    port = args.metrics_port
    env_port = os.environ.get("HEDGE_METRICS_PORT")
    if port is None and env_port:
        if not env_port.isdigit():
            raise config_mod.ConfigError(f"HEDGE_METRICS_PORT ({env_port!r}) must be a port number")
        port = int(env_port)
    return config_mod.with_overrides(cfg, metrics_port=port, log_format=args.log_format, state_dir=args.state_dir)


def _config_check(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    # The file holds no secrets by construction; show which named secrets are present, never their values.
    doc = config_mod.to_dict(cfg)
    present = {name: ("set" if _secret_present(name) else "missing") for name in _secret_names(cfg)}
    sys.stdout.write(tomli_w.dumps(doc))
    sys.stdout.write("\n# secrets (values never shown):\n")
    for name, state in sorted(present.items()):
        sys.stdout.write(f"#   {name}: {state}\n")
    return EXIT_OK


def _secret_names(cfg: config_mod.Config) -> list[str]:
    names = []
    if cfg.venues.extended.mode != "sim":
        names += [cfg.venues.extended.api_key_env, cfg.venues.extended.stark_private_key_env]
    if cfg.venues.lighter.mode != "sim":
        names.append(cfg.venues.lighter.api_private_key_env)
    a = cfg.alerts
    if a.telegram.enabled:
        names.append(a.telegram.bot_token_env)
    if a.lark.enabled:
        names.append(a.lark.webhook_url_env)
        if a.lark.signing_secret_env:
            names.append(a.lark.signing_secret_env)
    if a.webhook.enabled:
        names.append(a.webhook.url_env)
    return names


def _secret_present(name: str) -> bool:
    if os.environ.get(name):
        return True
    cred = os.environ.get("CREDENTIALS_DIRECTORY")
    return bool(cred) and (Path(cred) / name).is_file()


def _config_init(args: argparse.Namespace) -> int:
    path: Path = args.path
    doc = tomli_w.dumps(config_mod.to_dict(config_mod.Config()))
    try:
        with path.open("x") as f:  # "x": refuse to overwrite, atomically
            f.write(doc)
    except FileExistsError:
        print(f"hedged: {path} exists; not overwriting", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as e:
        print(f"hedged: cannot write {path}: {e.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {path}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "config" and args.config_command == "init":
            return _config_init(args)
        if args.command == "config":
            return _config_check(args)
        cfg = load_config(args)
    except config_mod.ConfigError as e:
        print(f"hedged: config error: {e}", file=sys.stderr)
        return e.exit_code

    if args.command in ops.COMMANDS:
        # Read-only commands print their answer; only warnings belong on stderr beside it.
        from hedged import logs

        logs.setup("WARNING", cfg.log.format)
        return ops.dispatch(args, cfg)
    from hedged import daemon

    if args.command == "sim":
        return daemon.run_sim_standalone(cfg)
    return daemon.run(cfg)
