"""The root nursery: named services, readiness, restart policy, ordered graceful stop.

A service is an async function `run(*, task_status)` that calls `task_status.started()`
once it is ready. The supervisor starts services in order, one `nursery.start` at a
time, so "ready" means every service before it is ready too. Failures follow the
service's `RestartPolicy`: network services restart with exponential backoff and
jitter until they fail too often in a window (restart intensity), critical services
escalate at once. `Halted` is never restarted.

Stop: `request_stop()` (first signal) sets `stopping`, then stops services in
`stop_order` within the graceful deadline: a service with `wait_on_stop` is expected to
watch `supervisor.stopping` and return by itself; the others are cancelled. After the
deadline everything left is cancelled. A second request stops at once: no service is waited
for, but they are cancelled in `stop_order` (each one's shielded way out, such as the hedge
executor cancelling its live hedges, runs while the venue clients are still up).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import trio
from loguru import logger

from hedged.backoff import Backoff
from hedged.deadlines import StopBudget
from hedged.errors import Halted, ServiceFailed


@dataclass(frozen=True)
class RestartPolicy:
    kind: Literal["restart", "critical"] = "restart"
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    jitter: float = 0.2  # +- fraction of each delay, from the supervisor's seeded RNG
    max_restarts: int = 5  # more than this many restarts ...
    window_s: float = 60.0  # ... within this window escalates

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Backoff before restart number `attempt` (0-based), jittered."""
        backoff = Backoff(self.backoff_initial_s, self.backoff_max_s, jitter="spread", spread=self.jitter)
        return backoff.delay(attempt, rng)


CRITICAL = RestartPolicy(kind="critical")


@dataclass
class Service:
    name: str
    run: Callable[..., Awaitable[Any]]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    stop_order: int = 100  # lower stops first
    wait_on_stop: bool = False  # True: the service finishes by itself once `stopping` is set
    # state owned by the supervisor task of this service
    scope: trio.CancelScope = field(default_factory=trio.CancelScope, init=False)
    done: trio.Event = field(default_factory=trio.Event, init=False)
    ready: bool = field(default=False, init=False)
    restarts: int = field(default=0, init=False)
    started: bool = field(default=False, init=False)


class Supervisor:
    def __init__(self, *, graceful_stop_s: float, rng: random.Random | None = None,
                 on_status: Callable[[str], None] | None = None) -> None:
        # Every stop deadline (this one, the executor's grace and flatten budget) is read off this budget.
        self.budget = StopBudget.of(graceful_stop_s)
        self.rng = rng or random.Random(0)
        self.stopping = trio.Event()  # graceful stop has begun
        self._start_abandoned = False  # a service was stopped before it became ready: start no more
        self.all_ready = trio.Event()
        self.services: list[Service] = []
        self._on_status = on_status or (lambda s: None)
        self._stop_requests = 0
        self._stop_wanted = trio.Event()
        self._root_scope: trio.CancelScope | None = None
        self._fatal: BaseException | None = None  # the escalated failure, raised once the crash stop is done
        self._crash = trio.Event()
        self._stop_now = trio.Event()  # a second stop request

    def status(self, text: str) -> None:
        # "starting <service>" is start-up detail; "ready" and "stopping" are what a person waits for.
        logger.log("DEBUG" if text.startswith("starting ") else "INFO", "status {}", text)
        self._on_status(text)

    async def run(self, services: list[Service]) -> None:
        """Run until every service has returned, a stop completes, or a failure escalates."""
        self.services = services
        with trio.CancelScope() as root_scope:
            self._root_scope = root_scope
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._stop_driver)
                nursery.start_soon(self._crash_driver)
                nursery.start_soon(self._stop_now_driver)
                started: list[Service] = []
                for svc in services:
                    if self._fatal is not None or self._start_abandoned:
                        break
                    self.status(f"starting {svc.name}")
                    started.append(svc)
                    svc.started = True
                    await nursery.start(self._supervise, svc)
                    logger.debug("service_ready name={}", svc.name)
                else:
                    self.all_ready.set()
                    self.status("ready")
                for svc in started:
                    await svc.done.wait()
                nursery.cancel_scope.cancel()  # only the drivers are left
        if self._fatal is not None:
            # As a nursery would have raised it (callers match it with except*).
            raise BaseExceptionGroup("service escalated", [self._fatal])

    def request_stop(self, reason: str = "requested") -> None:
        """First call: graceful stop. Second call: stop at once."""
        self._stop_requests += 1
        if self._stop_requests == 1:
            logger.info("stop_requested reason={} mode=graceful deadline_s={}", reason, self.budget.total_s)
            self._stop_wanted.set()
        elif self._root_scope is not None:
            logger.warning("stop_requested reason={} mode=immediate", reason)
            self._stop_now.set()

    async def _stop_driver(self) -> None:
        await self._stop_wanted.wait()
        self.stopping.set()
        self.status("stopping")
        with trio.move_on_after(self.budget.total_s) as deadline:
            for svc in sorted(self.services, key=lambda s: s.stop_order):
                logger.debug("service_stopping name={}", svc.name)
                if not svc.wait_on_stop:
                    svc.scope.cancel()
                await svc.done.wait()
        if deadline.cancelled_caught:
            logger.warning("graceful_stop_deadline_exceeded deadline_s={}", self.budget.total_s)
        for svc in self.services:
            svc.scope.cancel()

    async def _crash_driver(self) -> None:
        """An escalated failure stops the others in `stop_order`, one at a time, so what a service
        does on its way out (the cycle cancelling its maker orders) runs while the services it needs
        (the venue clients) are still up. Bounded by the graceful deadline, then everything goes."""
        await self._crash.wait()
        await self._cancel_in_stop_order("escalation")
        for svc in self.services:
            svc.scope.cancel()
            if not svc.started:
                svc.done.set()  # never started (the failure came first): nothing to wait for

    async def _stop_now_driver(self) -> None:
        """A second stop request: cancel every service now, in stop order (a root-scope cancel would
        close the venue clients while the executor still cancels its hedges: one stayed on Lighter)."""
        await self._stop_now.wait()
        await self._cancel_in_stop_order("immediate")
        assert self._root_scope is not None
        self._root_scope.cancel()

    async def _cancel_in_stop_order(self, reason: str) -> None:
        with trio.move_on_after(self.budget.total_s):
            for svc in sorted(self.services, key=lambda s: s.stop_order):
                if svc.done.is_set() or not svc.started:
                    continue  # (one never started has nothing to wait for)
                logger.debug("service_stopping name={} reason={}", svc.name, reason)
                svc.scope.cancel()
                await svc.done.wait()

    def _escalate(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
            self._crash.set()

    async def _supervise(self, svc: Service, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        failures: deque[float] = deque()
        try:
            with svc.scope:
                while True:
                    try:
                        async with trio.open_nursery() as inner:
                            await inner.start(svc.run)
                            if not svc.ready:
                                svc.ready = True
                                task_status.started()
                        logger.debug("service_exited name={}", svc.name)
                        return
                    except Exception as exc:
                        try:
                            delay = self._after_failure(svc, exc, failures)
                        except (Halted, ServiceFailed) as fatal:
                            self._escalate(fatal)
                            return
                    except BaseExceptionGroup as group:
                        # Failed just as it was being cancelled: its nursery raises the error and the
                        # Cancelled in one group, which is no Exception. The error is judged like any
                        # other; the Cancelled goes on to the scope that asked for it.
                        failed, cancelled = group.split(Exception)
                        if failed is None or cancelled is None:
                            raise
                        try:
                            self._after_failure(svc, failed, failures)
                        except (Halted, ServiceFailed) as fatal:
                            self._escalate(fatal)
                        raise cancelled from None
                    if not svc.ready and self.stopping.is_set():
                        return
                    await trio.sleep(delay)
        finally:
            svc.done.set()
            if not svc.ready:
                # Stopped before it ever became ready: let the start sequence go on, to start nothing more
                # (the rest needs what never got ready: the venue-rules check raised on a venue not loaded,
                # and a graceful stop exited 1; DST seed 2287). While a graceful stop is within its deadline
                # the sequence does go on, so a start-up still cancels a crashed life's orphan makers.
                self._start_abandoned = True
                svc.ready = True
                try:
                    task_status.started()
                except RuntimeError:
                    pass

    def _after_failure(self, svc: Service, exc: BaseException, failures: deque[float]) -> float:
        """Decide what a failure means: the restart delay, or raise to escalate."""
        halted = _find(exc, Halted)
        if halted is not None:
            logger.error("service_halted name={} reason={}", svc.name, halted.reason)
            raise halted
        if svc.policy.kind == "critical":
            logger.error("service_failed name={} policy=critical error={}", svc.name, describe(exc))
            raise ServiceFailed(svc.name, f"critical service raised {type(exc).__name__}") from exc
        if self.stopping.is_set():
            logger.warning("service_failed_while_stopping name={} error={}", svc.name, describe(exc))
            return 0.0
        now = trio.current_time()
        failures.append(now)
        while failures and failures[0] < now - svc.policy.window_s:
            failures.popleft()
        if len(failures) > svc.policy.max_restarts:
            logger.error("service_restart_intensity_exceeded name={} restarts={} window_s={}",
                         svc.name, len(failures) - 1, svc.policy.window_s)
            raise ServiceFailed(
                svc.name, f"more than {svc.policy.max_restarts} restarts in {svc.policy.window_s}s"
            ) from exc
        delay = svc.policy.delay(len(failures) - 1, self.rng)
        svc.restarts += 1
        logger.warning("service_restarting name={} attempt={} delay_s={:.3f} error={}",
                       svc.name, len(failures), delay, describe(exc))
        return delay


def describe(exc: BaseException) -> str:
    """`Type: message` of the exception inside nursery groups: a log line, not a group repr."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _find(exc: BaseException, kind: type[BaseException]) -> Any:
    """The first `kind` inside `exc`, looking through exception groups."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    return None
