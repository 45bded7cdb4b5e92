"""Build the service tree from a config and run it under the root supervisor."""

from __future__ import annotations

import gc
import os
import random
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio
from loguru import logger
from trio_util import AsyncValue

from hedged import logs
from hedged.config import Config, ConfigError
from hedged.errors import (EXIT_CANTCREAT, EXIT_CONFIG, EXIT_FAILURE, EXIT_HALTED, EXIT_OK, EXIT_UNAVAILABLE, Halted,
                           ServiceFailed)
from hedged.alerts import Alerter, IncidentStore
from hedged.engine import Engine
from hedged.metrics import Metrics, Readiness, serve_metrics
from hedged.statefiles import private_dir
from hedged.nursery import CRITICAL, Notifier, RestartPolicy, Service, Supervisor, watch_signals
from hedged.secrets import SECRETS, MissingSecret, check_secrets, shown
from hedged.wiring import MetricsExporter, alert_settings


# The failure path's closing alert: one per run, `flattened_on` set when it traded.
FLATTEN_EVENTS = frozenset({"exposure_flattened", "exposure_unrecovered"})


@dataclass
class Runtime:
    """What the services share: config, supervisor, notifier, metrics, alerter, engine."""

    cfg: Config
    supervisor: Supervisor
    notifier: Notifier
    rng: random.Random
    metrics: Metrics = None  # type: ignore[assignment]
    engine: Engine = None  # type: ignore[assignment]
    alerter: Alerter | None = None
    metrics_port: int | None = None  # the bound port, once the endpoint is up
    exports: AsyncValue[int] = field(default_factory=lambda: AsyncValue(0))  # metrics export passes

    def healthy(self) -> bool:
        """What the watchdog needs: not halted, and every venue feed alive once trading."""
        if self.engine.halted:
            return False
        return not self.supervisor.all_ready.is_set() or self.engine.readiness().ok

    async def alert(self, event: str, severity: str, **details: object) -> object:
        if event in FLATTEN_EVENTS and details.get("flattened_on") and self.metrics is not None:
            self.metrics.flattens.labels(str(details.get("reason", event))[:40]).inc()
        if self.alerter is None:
            logger.warning("alert_unrouted event={} severity={} details={}", event, severity, details)
            return None
        return await self.alerter.alert(event, severity, **details)


def build_services(rt: Runtime) -> list[Service]:
    """The supervision tree, in start order. Stop order is given per service."""
    services: list[Service] = []
    if rt.cfg.metrics.enabled:
        services.append(Service("metrics", _metrics_service(rt), CRITICAL, stop_order=900))
        services.append(Service("metrics-export", _export_service(rt), RestartPolicy(), stop_order=890))
    services.append(Service("alerts", _alerts_service(rt), RestartPolicy(), stop_order=850))
    services += rt.engine.services()
    services.append(Service("watchdog", _watchdog_service(rt), CRITICAL, stop_order=950))
    return services


def _watchdog_service(rt: Runtime):
    async def run(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await rt.notifier.watchdog(rt.healthy)

    return run


def _metrics_service(rt: Runtime):
    async def run(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        def ready() -> Readiness:
            if rt.supervisor.stopping.is_set():
                return Readiness(False, ("stopping",))
            if not rt.supervisor.all_ready.is_set():
                return Readiness(False, ("starting",))
            return rt.engine.readiness()

        async with trio.open_nursery() as n:
            rt.metrics_port = await n.start(
                partial(serve_metrics, rt.metrics, rt.cfg.metrics.host, rt.cfg.metrics.port,
                        health=lambda: True, ready=ready, status=rt.engine.status)
            )
            task_status.started()

    return run


def freeze_startup_heap() -> None:
    """Collect once, then move everything alive to the collector's permanent generation (`gc.freeze`).

    What the start built (modules, the SDKs, configuration, market data) lives as long as the process, yet
    every full collection walked it again: measured on the simulators, one took 70 ms and the hedges
    behind it waited that long (docs/benchmarks.md). Objects made after this are collected as before."""
    gc.collect()
    gc.freeze()
    logger.debug("heap_frozen objects={}", gc.get_freeze_count())


def _export_service(rt: Runtime):
    """Copies ledger values and feed health into the gauges (the ledger does not know metrics)."""

    async def run(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        exporter = MetricsExporter(rt.metrics, rt.engine)
        await rt.supervisor.all_ready.wait()
        while True:
            if rt.engine.executor is not None:
                await rt.engine.executor.first.defer()  # a hedge being written goes first
            exporter.export()
            rt.exports.value += 1
            await trio.sleep(1.0)  # ok: a periodic export, not a wait for state

    return run


def _alerts_service(rt: Runtime):
    async def run(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        settings = alert_settings(rt.cfg)
        path = Path(rt.cfg.daemon.state_dir) / "incidents.sqlite3"
        with IncidentStore(path) as store:
            rt.alerter = Alerter(settings, store, daemon=rt.cfg.daemon.name, market=rt.cfg.market.extended,
                                 positions=rt.engine.positions_snapshot, metrics=rt.metrics)
            try:
                await rt.alerter.run(task_status=task_status)
                # No sink configured: incidents are still written to the store, so keep it open.
                await trio.sleep_forever()
            finally:
                rt.alerter = None

    return run


async def main(cfg: Config, *, notifier: Notifier | None = None, rng: random.Random | None = None,
               on_runtime: Callable[[Runtime], None] | None = None,
               engine_kw: dict[str, Any] | None = None) -> int:
    notifier = notifier or Notifier()
    if rng is None:
        # Seeded and logged: a sim run repeats from its seed, a live run can be replayed from the log.
        seed = cfg.sim.seed if cfg.uses_sim else random.SystemRandom().randrange(2**63)
        logger.info("rng_seed seed={}", seed)
        rng = random.Random(seed)
    rt = Runtime(cfg=cfg, supervisor=None, notifier=notifier, rng=rng)  # type: ignore[arg-type]

    def on_status(text: str) -> None:
        trio.lowlevel.spawn_system_task(notifier.status, text)

    rt.supervisor = Supervisor(graceful_stop_s=cfg.daemon.graceful_stop_s, rng=rt.rng, on_status=on_status)
    rt.metrics = Metrics(cfg.daemon.name, cfg.market.extended)
    rt.engine = Engine(cfg, rt.supervisor, rt.alert, metrics=rt.metrics, rng=random.Random(rt.rng.random()),
                       **(engine_kw or {}))
    if on_runtime is not None:
        on_runtime(rt)
    private_dir(cfg.daemon.state_dir)
    code = EXIT_OK
    failure: str | None = None  # the one line an operator reads last, `hedged: <what>: <why>`
    try:
        async with trio.open_nursery() as outer:
            await outer.start(watch_signals, rt.supervisor)
            outer.start_soon(_notify_ready, rt)
            await rt.supervisor.run(build_services(rt))
            outer.cancel_scope.cancel()
    except* Halted as group:
        halted = _first(group, Halted)
        logger.error("daemon_halted reason={}", halted.reason)
        code, failure = EXIT_HALTED, f"halted: {SECRETS.redact(halted.reason)}"
    except* ServiceFailed as group:
        failed = _first(group, ServiceFailed)
        failure_code, failure_text = _failure_line(failed)
        logger.error("daemon_failed exit_code={} error={}", failure_code, failure_text)
        if code != EXIT_HALTED:
            code, failure = failure_code, failure_text
        # else: a service failed while the tree was torn down for a halt; the halt decides (exit 3
        # keeps systemd from restarting a daemon that stopped for safety).
    finally:
        with trio.CancelScope(shield=True):
            await notifier.stopping()
        notifier.close()
    if rt.engine.cycle is not None:
        rt.engine.cycle.log_summary()
    logger.info("daemon_stopped exit_code={}", code)
    if failure is not None:
        print(f"hedged: {failure}", file=sys.stderr)
    return code


def _first(exc: BaseException, kind: type[BaseException]) -> Any:
    """The first `kind` inside a (nested) exception group."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _first(inner, kind)) is not None:
                return found
        return None
    return exc if isinstance(exc, kind) else None


def _leaf(exc: BaseException) -> BaseException:
    """The exception that started it, through `raise ... from` and nursery groups."""
    while True:
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        elif exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            return exc


def _failure_line(failed: ServiceFailed) -> tuple[int, str]:
    """A failed service as the exit code and the one line an operator reads (`hedged: <what>: <why>`)."""
    leaf = _leaf(failed)
    if isinstance(leaf, ConfigError):
        return EXIT_CONFIG, f"config error: {leaf}"
    if isinstance(leaf, MissingSecret):
        return EXIT_CONFIG, f"credentials: {leaf}"
    if failed.name == "metrics" and isinstance(leaf, OSError):
        return EXIT_UNAVAILABLE, f"metrics listen: {leaf.strerror or leaf}"
    why = SECRETS.redact(str(leaf)) or type(leaf).__name__
    return EXIT_FAILURE, f"service {failed.name} failed: {type(leaf).__name__}: {why}"


class StartupError(Exception):
    """Refusal to start, already phrased: `hedged: <what>: <why>` and a sysexits code."""

    def __init__(self, what: str, why: str, code: int) -> None:
        super().__init__(f"{what}: {why}")
        self.code = code


def check_state_dir(cfg: Config) -> None:
    """The state dir exists (created if missing) and takes a new file, else exit 73."""
    state = Path(cfg.daemon.state_dir)
    try:
        private_dir(state)
        # Root ignores permission bits and a read-only mount passes os.access: try a real file.
        fd, probe = tempfile.mkstemp(dir=state, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        why = "not a directory" if state.exists() and not state.is_dir() else (e.strerror or str(e))
        raise StartupError(f"state dir {state}", why, EXIT_CANTCREAT) from None
    # A file left by another user (`sudo hedged status` on a stopped daemon leaves root-owned SQLite
    # -shm/-wal files) fails deep inside the journal as "not a readable hedged journal": name it here.
    for entry in sorted(os.scandir(state), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False):
            continue
        try:
            os.close(os.open(entry.path, os.O_RDWR | os.O_NONBLOCK))  # opens, changes nothing
        except PermissionError:
            raise StartupError(f"state dir {state}", f"{entry.name} is not writable by this user (owner uid "
                               f"{entry.stat(follow_symlinks=False).st_uid}); chown the state dir's files to the "
                               f"user that runs the daemon", EXIT_CANTCREAT) from None
        except OSError:
            continue  # vanished, or not ours to judge: the service that owns it says more


def preflight(cfg: Config) -> None:
    """What can be known before the first service starts, checked so that a failure is one
    line and the right exit code instead of a failed service: state dir, secrets, listen address."""
    check_state_dir(cfg)
    # The Stark key pair is checked by `config check`; at start a pair the venue does not take is the
    # venue's to refuse (counted, alerted, halt with exit 3: tests/test_daemon_venue_failures.py).
    missing, problems = check_secrets(cfg, SECRETS, key_pair=False)
    if missing or problems:
        raise StartupError("credentials", missing[0][1] if missing else problems[0], EXIT_CONFIG)
    m = cfg.metrics
    if m.enabled:
        # The same bind the endpoint makes (hypercorn: family by ':' in host, SO_REUSEADDR), released at once.
        with socket.socket(socket.AF_INET6 if ":" in m.host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((m.host, m.port))
            except socket.gaierror as e:
                raise StartupError(f"metrics.host {shown(m.host)}", f"cannot resolve: {e.strerror}", EXIT_CONFIG) from None
            except OSError as e:
                raise StartupError(f"metrics listen {m.host}:{m.port}", e.strerror or str(e), EXIT_UNAVAILABLE) from None


async def _notify_ready(rt: Runtime) -> None:
    await rt.supervisor.all_ready.wait()
    if not rt.engine.in_memory:  # a process of its own (a simulation in memory shares it with its runner)
        freeze_startup_heap()
    await rt.notifier.ready()
    await rt.supervisor.stopping.wait()
    await rt.notifier.stopping()


def run(cfg: Config) -> int:
    try:
        preflight(cfg)
    except StartupError as e:
        print(f"hedged: {e}", file=sys.stderr)
        return e.code
    logs.setup(cfg.log.level, cfg.log.format)
    logger.info("daemon_starting name={} extended={} lighter={}", cfg.daemon.name, cfg.market.extended, cfg.market.lighter)
    try:
        return trio.run(main, cfg)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # the last line of defence: log it and exit 1
        logger.opt(exception=exc).error("daemon_crashed")
        return EXIT_FAILURE


def run_sim_standalone(cfg: Config) -> int:
    """`hedged sim`: both simulators on 127.0.0.1 until SIGINT/SIGTERM, as a testnet stand-in."""
    try:
        check_state_dir(cfg)
    except StartupError as e:
        print(f"hedged: {e}", file=sys.stderr)
        return e.code
    logs.setup(cfg.log.level, cfg.log.format)
    return trio.run(_sim_main, cfg)


async def _sim_main(cfg: Config) -> int:
    import os
    import signal

    from hedged.venues.assembly import SimPair

    pair = SimPair.build(cfg, extended_chain_id="SN_SEPOLIA")
    state = Path(cfg.daemon.state_dir)
    private_dir(state)
    # Listen before announcing sim_ready: a signal sent on seeing it must stop us, not kill us.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as n:
            await n.start(partial(pair.serve, extended_port=cfg.sim.extended_port, lighter_port=cfg.sim.lighter_port))
            env_file = state / "sim.env"
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(pair.env_lines()) + "\n")
            (state / "sim-venues.toml").write_text(pair.venue_toml())
            logger.info("sim_ready extended={} lighter={} extended_control={} lighter_control={}",
                        pair.extended_urls[0], pair.lighter_urls[0],
                        pair.extended_urls[0].rsplit("/api/v1", 1)[0] + "/_sim",
                        pair.lighter_urls[0] + (pair.lighter.settings.control_path or ""))
            logger.info("sim_credentials env_file={} venues_toml={} (throw-away keys; source the env file, "
                        "paste the TOML into a copy of the config)", env_file, state / "sim-venues.toml")
            async for signum in signals:
                logger.info("sim_stopping signal={}", signal.Signals(signum).name)
                break
            n.cancel_scope.cancel()
    return EXIT_OK
