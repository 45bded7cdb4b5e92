"""Per-API-key state: the nonce sequence (and its sign-and-send lock) and the auth token.

Nonces: fetched once, then advanced locally; any nonce error or unknown outcome forces a
hard refetch before the next transaction. One `trio.Lock` per API key is held from taking
the nonce until the send's reply, so two transactions on one key never race (a hedge and a
flatten would otherwise reach the sequencer out of order and fail with 21104).

Auth tokens: minted locally by the signer with an absolute wall-clock deadline, refreshed
`refresh_margin_s` before expiry on the Trio clock; every refresh bumps `token` so the
stream re-subscribes its private channels.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

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


class NonceManager:
    """Async wrapper: `async with nonces.hold(key) as nonce:` sign and send inside."""

    def __init__(self, fetch: Callable[[int], Awaitable[int]]) -> None:
        self._fetch = fetch
        self._cores: dict[int, NonceCore] = {}
        self._locks: dict[int, trio.Lock] = {}

    def _core(self, key: int) -> NonceCore:
        if key not in self._cores:
            self._cores[key] = NonceCore()
            self._locks[key] = trio.Lock()
        return self._cores[key]

    async def prime(self, key: int) -> None:
        core = self._core(key)
        async with self._locks[key]:
            core.fetched(await self._fetch(key))

    def invalidate(self, key: int) -> None:
        self._core(key).invalidate()

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[int]:
        core = self._core(key)
        lock = self._locks[key]
        try:
            # Uncontended (the usual case on the hedge path): no scheduler pass before signing.
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
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
        finally:
            lock.release()

    def stats(self, key: int) -> NonceStats:
        core = self._core(key)
        return NonceStats(core.fetches, core.invalidations, core.next)


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
        self._refused: str | None = None
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
        if token is not None and token != self._refused:
            self._refused = token
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
