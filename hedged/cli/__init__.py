"""`hedged` command line: run the daemon, check or write a config, and operator commands.

Exit codes (the table is in README): 0 clean stop, 1 unexpected failure, 2 usage error,
3 halted for safety, 66 config file unreadable, 69 a listen address is unavailable,
73 cannot create the state dir or a file, 78 config invalid or a required secret missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import tomli_w

from hedged import __version__
from hedged import config as config_mod
from hedged import configload
from hedged.cli import ops
from hedged.errors import EXIT_CANTCREAT, EXIT_CONFIG, EXIT_OK, EXIT_USAGE
from hedged.secrets import SecretStore, check_secrets, required_secrets


def _add_run_options(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    # Only the top-level parser sets defaults, so `hedged --config X status` and
    # `hedged status --config X` mean the same: a subcommand's unset option keeps the top value.
    default = None if top else argparse.SUPPRESS
    p.add_argument("--config", type=Path, default=default, help="path to hedged.toml")
    p.add_argument("--metrics-port", type=int, default=default,
                   help="override metrics.port (also HEDGE_METRICS_PORT)")
    p.add_argument("--log-format", choices=["auto", "text", "json"], default=default)
    p.add_argument("--state-dir", type=Path, default=default,
                   help="override daemon.state_dir (else $STATE_DIRECTORY when set, as systemd's StateDirectory=)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hedged", description="Maker on Extended, hedge on Lighter.")
    parser.add_argument("--version", action="version", version=f"hedged {__version__}")
    _add_run_options(parser, top=True)
    sub = parser.add_subparsers(dest="command")

    cfg = sub.add_parser("config", help="check or create a config file")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = cfg_sub.add_parser("check", help="validate a config and print it with secrets redacted")
    _add_run_options(check)
    init = cfg_sub.add_parser("init", help="write the commented reference config (never overwrites)")
    init.add_argument("path", type=Path)

    sim = sub.add_parser("sim", help="run both venue simulators standalone")
    _add_run_options(sim)
    ops.add_parsers(sub, _add_run_options)
    from hedged.dst import cli as dst_cli

    dst_cli.add_parser(sub)
    return parser


def load_config(args: argparse.Namespace) -> config_mod.Config:
    if args.config is None:
        raise config_mod.ConfigError("--config PATH is required")
    cfg = configload.load(args.config)
    # --state-dir, else systemd's StateDirectory= (the first, if it lists several), else the file.
    state_dir = args.state_dir
    env_state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state_dir is None and env_state:
        state_dir = Path(env_state)
    port = args.metrics_port
    env_port = os.environ.get("HEDGE_METRICS_PORT")
    if port is None and env_port:
        if not env_port.isdigit():
            raise config_mod.ConfigError(f"HEDGE_METRICS_PORT ({env_port!r}) must be a port number")
        port = int(env_port)
    return configload.with_overrides(cfg, metrics_port=port, log_format=args.log_format, state_dir=state_dir)


def _config_check(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    # The file holds no secrets by construction; show which named secrets are present, never their values.
    missing, problems = check_secrets(cfg, SecretStore())
    if any(" holds the value of the secret " in p for p in problems):
        # The config itself carries a secret: printing it would show the secret.
        for problem in problems:
            print(f"hedged: credentials: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(tomli_w.dumps(config_mod.to_dict(cfg)))
    sys.stdout.write("\n# secrets (values never shown):\n")
    for _, name in sorted(set(required_secrets(cfg)), key=lambda kn: kn[1]):
        state = "missing" if any(name == n for n, _ in missing) else "set"
        sys.stdout.write(f"#   {name}: {state}\n")
    if missing:
        named = ", ".join(f"{n} ({line.rsplit(' (', 1)[1]}" for n, line in missing)
        print(f"hedged: secrets: not set: {named}; export them or provide them with LoadCredential=",
              file=sys.stderr)
    for problem in problems:
        print(f"hedged: credentials: {problem}", file=sys.stderr)
    return EXIT_CONFIG if missing or problems else EXIT_OK


def _config_init(args: argparse.Namespace) -> int:
    from hedged.configdoc import reference_toml

    path: Path = args.path
    try:
        with path.open("x") as f:  # "x": refuse to overwrite, atomically
            f.write(reference_toml())
    except FileExistsError:
        print(f"hedged: config init: {path} exists; not overwriting", file=sys.stderr)
        return EXIT_CANTCREAT
    except OSError as e:
        print(f"hedged: config init: cannot create {path}: {e.strerror or e}", file=sys.stderr)
        return EXIT_CANTCREAT
    print(f"wrote {path}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `hedged config check ... | head`: the reader left, not an error worth a traceback; exit 0 as
        # the operator commands do (ops.dispatch). Point stdout at /dev/null so the flush at exit
        # does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_OK


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a bare `hedged` is a usage error, not an attempt to start
        parser.print_usage(sys.stderr)
        print("hedged: error: give --config PATH to run the daemon, or a command (hedged --help)", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    if args.command == "dst":  # needs no config: every seed builds its own world
        from hedged.dst import cli as dst_cli

        return dst_cli.run(args)
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
