"""Per-API-key state: the nonce sequence (and its sign-and-send lock) and the auth token.

Nonces: fetched once, then advanced locally; any nonce error or unknown outcome forces a
hard refetch before the next transaction. One `trio.Lock` per API key is held from taking
the nonce until the send's reply, so two transactions on one key never race (a hedge and a
flatten would otherwise reach the sequencer out of order and fail with 21104). With a pool
of keys (lighter.md §3: each key has its own sequence) a transaction takes any free key, so
one hedge's round trip holds back another only when every key is busy.

Auth tokens: minted locally by the signer with an absolute wall-clock deadline, refreshed
`refresh_margin_s` before expiry on the Trio clock; every refresh bumps `token` so the
stream re-subscribes its private channels.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio
from loguru import logger
from trio_util import AsyncValue

from hedged.venues.base import AuthError, NonceError, OrderRejected, RateLimited, TransportError, Venue


class NonceCore:
    """The nonce sequence of one API key, as plain state."""

    def __init__(self) -> None:
        self.next: int | None = None
        self.fetches = 0
        self.invalidations = 0

    @property
    def needs_fetch(self) -> bool:
        return self.next is None

    def fetched(self, nonce: int) -> None:
        self.next = nonce
        self.fetches += 1

    def take(self) -> int:
        if self.next is None:
            raise RuntimeError("nonce taken before it was fetched")
        nonce = self.next
        self.next = nonce + 1
        return nonce

    def not_consumed(self, nonce: int) -> None:
        """The venue certainly did not consume `nonce`: reuse it if nothing was taken after it."""
        if self.next == nonce + 1:
            self.next = nonce
        else:
            self.invalidate()

    def invalidate(self) -> None:
        self.next = None
        self.invalidations += 1


@dataclass(frozen=True, slots=True)
class NonceStats:
    fetches: int
    invalidations: int
    next: int | None


@dataclass(eq=False)
class _Waiter:
    keys: tuple[int, ...]
    woken: trio.Event = field(default_factory=trio.Event)
    key: int | None = None  # the key it was handed


class KeyLocks:
    """Which API keys are taken, and who waits for one: first come, first served. A released key goes
    straight to the first waiter that can use it (as `trio.Lock` hands itself on), so a key is free
    only while nobody waits for it."""

    def __init__(self) -> None:
        self._busy: set[int] = set()
        self._waiters: deque[_Waiter] = deque()

    def try_take(self, keys: Sequence[int]) -> int | None:
        """The first free key of `keys`, now taken; None if all are busy (no scheduler pass either way)."""
        key = next((k for k in keys if k not in self._busy), None)
        if key is not None:
            self._busy.add(key)
        return key

    async def take(self, keys: Sequence[int]) -> int:
        """`try_take`, or wait in line for the first of `keys` released."""
        key = self.try_take(keys)
        if key is not None:
            return key
        waiter = _Waiter(tuple(keys))
        self._waiters.append(waiter)
        try:
            await waiter.woken.wait()
        except BaseException:
            if waiter.key is None:
                self._waiters.remove(waiter)
            else:  # handed a key just as it was cancelled: pass it on
                self.release(waiter.key)
            raise
        assert waiter.key is not None
        return waiter.key

    def release(self, key: int) -> None:
        for waiter in self._waiters:
            if key in waiter.keys:
                self._waiters.remove(waiter)
                waiter.key = key
                waiter.woken.set()
                return
        self._busy.discard(key)


class NonceManager:
    """Async wrapper: `async with nonces.hold(key) as nonce:` sign and send inside.

    With several keys: `hold_any(keys)` takes whichever key is free (the first, in order, when several
    are), so transactions on different keys go out side by side; only when every key is busy does it
    wait, for the first released. `hold_all(keys)` holds every key at once (cancel-all: nothing of ours
    is in flight on any key while it goes out).
    """

    def __init__(self, fetch: Callable[[int], Awaitable[int]]) -> None:
        self._fetch = fetch
        self._cores: dict[int, NonceCore] = {}
        self._keys = KeyLocks()
        self._all = trio.Lock()  # one hold_all at a time: two never hold part of the pool each
        self.busy_waits = 0  # hold_any calls that found every key busy and waited

    def _core(self, key: int) -> NonceCore:
        if key not in self._cores:
            self._cores[key] = NonceCore()
        return self._cores[key]

    async def prime(self, key: int) -> None:
        core = self._core(key)
        await self._keys.take((key,))
        try:
            core.fetched(await self._fetch(key))
        finally:
            self._keys.release(key)

    def invalidate(self, key: int) -> None:
        self._core(key).invalidate()

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[int]:
        async with self.hold_any((key,)) as (_, nonce):
            yield nonce

    @asynccontextmanager
    async def hold_any(self, keys: Sequence[int]) -> AsyncIterator[tuple[int, int]]:
        """(key, nonce) of the first free key; waits only while every key is held."""
        for key in keys:
            self._core(key)
        # Uncontended (the usual case on the hedge path): no scheduler pass before signing.
        key = self._keys.try_take(keys)
        if key is None:
            self.busy_waits += 1
            key = await self._keys.take(keys)
        try:
            async with self._nonce(key) as nonce:
                yield key, nonce
        finally:
            self._keys.release(key)

    @asynccontextmanager
    async def hold_all(self, keys: Sequence[int]) -> AsyncIterator[int]:
        """The nonce of `keys[0]`, with every key in `keys` held. Free keys are taken at once (a hedge
        arriving meanwhile waits behind this, as it would on one key), busy ones as they are released."""
        held: list[int] = []
        async with self._all:
            try:
                for key in keys:
                    self._core(key)
                    if self._keys.try_take((key,)) is not None:
                        held.append(key)
                for key in keys:
                    if key not in held:
                        held.append(await self._keys.take((key,)))
                async with self._nonce(keys[0]) as nonce:
                    yield nonce
            finally:
                for key in held:
                    self._keys.release(key)

    @asynccontextmanager
    async def hold_pool(self, keys: Sequence[int], *, every: bool = False) -> AsyncIterator[tuple[int, int]]:
        """(key, nonce): `hold_any(keys)`, or with `every` `hold_all(keys)` and the first key's nonce."""
        if every:
            async with self.hold_all(keys) as nonce:
                yield keys[0], nonce
        else:
            async with self.hold_any(keys) as held:
                yield held

    @asynccontextmanager
    async def _nonce(self, key: int) -> AsyncIterator[int]:
        """The next nonce of `key`, whose lock the caller holds; what the send's outcome means for it."""
        core = self._cores[key]
        if core.needs_fetch:
            core.fetched(await self._fetch(key))
        nonce = core.take()
        try:
            yield nonce
        except (OrderRejected, RateLimited, TransportError, AuthError):
            # Refused at the API or never sent: the nonce is presumably still free.
            core.not_consumed(nonce)
            raise
        except NonceError:
            core.invalidate()
            raise
        except BaseException:
            # Unknown outcome (lost reply, cancellation mid-send): only the venue knows.
            core.invalidate()
            raise

    def stats(self, key: int) -> NonceStats:
        core = self._core(key)
        return NonceStats(core.fetches, core.invalidations, core.next)

    def totals(self) -> NonceStats:
        """Fetches and invalidations over every key (`next` is None: it is per key)."""
        cores = list(self._cores.values())
        return NonceStats(sum(c.fetches for c in cores), sum(c.invalidations for c in cores), None)


class AuthTokens:
    """Mints and refreshes the auth token of one API key.

    `mint(deadline_unix_s)` returns the token string; `wall_clock` gives Unix seconds
    (only for the deadline written into the token; scheduling uses `trio.current_time()`).
    """

    def __init__(
        self,
        mint: Callable[[int], Awaitable[str]],
        wall_clock: Callable[[], float],
        *,
        lifetime_s: float = 6 * 3600,
        refresh_margin_s: float = 3600,
        retry_s: float = 5.0,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        if refresh_margin_s >= lifetime_s:
            raise ValueError("refresh_margin_s must be shorter than lifetime_s")
        self._mint = mint
        self._wall = wall_clock
        self.lifetime_s = lifetime_s
        self.refresh_margin_s = refresh_margin_s
        self._retry_s = retry_s
        self.token: AsyncValue[str | None] = AsyncValue(None)
        self.expires_at: float = -math.inf  # trio time
        self.mints = 0
        self.refusals = 0  # distinct tokens the venue refused
        self._on_refused = on_refused
        self.refused: AsyncValue[str | None] = AsyncValue(None)  # the last token the venue refused
        self._refresh_now = trio.Event()

    def current(self) -> str:
        token = self.token.value
        if token is None or trio.current_time() >= self.expires_at:
            raise AuthError(Venue.LIGHTER, "no valid auth token")
        return token

    async def valid(self) -> str:
        """The current token, waiting for a refresh if it has expired (or was refused)."""
        if self.token.value is None or trio.current_time() >= self.expires_at:
            self._refresh_now.set()  # expired, not refused
        await self.token.wait_value(lambda t: t is not None and trio.current_time() < self.expires_at)
        return self.current()

    def refresh_soon(self) -> None:
        """The venue refused the token: mint a new one now rather than at the scheduled time.

        Each refused token counts once as a credential refusal (`on_refused`), however many
        channels or requests refused it: one stale token must not look like several.
        """
        token = self.token.value
        if token is not None and token != self.refused.value:
            self.refused.value = token
            self.refusals += 1
            if self._on_refused is not None:
                self._on_refused(f"refused by the venue (token {self.refusals})")
        self._refresh_now.set()

    async def mint_now(self) -> str:
        started = trio.current_time()
        token = await self._mint(int(self._wall() + self.lifetime_s))
        self.expires_at = started + self.lifetime_s
        self.mints += 1
        self.token.value = token
        logger.debug("lighter_auth_token_minted mints={} lifetime_s={}", self.mints, self.lifetime_s)
        return token

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await self.mint_now()
        task_status.started()
        while True:
            minted_at = trio.current_time()
            with trio.move_on_at(self.expires_at - self.refresh_margin_s):
                await self._refresh_now.wait()
                # A refused token asks for a new one; never faster than retry_s, so a venue that
                # keeps refusing cannot turn this into a hot loop.
                await trio.sleep_until(minted_at + self._retry_s)
            self._refresh_now = trio.Event()
            while True:
                try:
                    await self.mint_now()
                    break
                except AuthError as exc:
                    logger.warning("lighter_auth_token_mint_failed error={}", exc)
                    await trio.sleep(self._retry_s)
