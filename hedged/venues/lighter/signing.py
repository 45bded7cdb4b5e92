"""Lighter transaction signing through the Go signer library shipped in `lighter-sdk`.

The library file is located with `importlib.util.find_spec("lighter")`, which reads the package's
location without executing `lighter/__init__.py` (that import costs ~1.4 s and pulls in aiohttp).
It is loaded once per process with ctypes.

Public API (everything else is private):

    generate_api_key() -> ApiKeyPair                      # throw-away keys for tests and the simulator
    Signer.create(url=, private_key=, chain_id=, api_key_index=, account_index=) -> Signer
        .sign_create_order(market_index=, client_order_index=, base_amount=, price=, is_ask=,
                           order_type=, time_in_force=, order_expiry=, nonce=, reduce_only=False,
                           trigger_price=0) -> SignedTx
        .sign_cancel_order(market_index=, order_index=, nonce=) -> SignedTx
        .sign_modify_order(market_index=, order_index=, base_amount=, price=, nonce=,
                           trigger_price=0, order_version=0) -> SignedTx
        .sign_cancel_all(nonce=, time_in_force=CANCEL_ALL_NOW, time_ms=0, market_index=ALL_MARKETS) -> SignedTx
        .create_auth_token(deadline_unix_s) -> str         # "deadline:account:key:sighex", deadline ABSOLUTE
    SignerThread().call(fn, *args, **kwargs)              # run any of the above on the signer thread
    SignedTx(tx_type, tx_info, tx_hash)                   # tx_info: the signer's JSON, send it verbatim
    SignerError                                           # the library refused (message is the Go error text)

Every call is synchronous and must run off the Trio thread: a cgo call from the main thread costs ~3.4 ms
(it re-reads /proc/self/maps) against ~0.6-1.5 ms on another thread. Use `SignerThread.call(signer.sign_..., ...)`.
Nonces are always explicit (a nonce of -1 would make the Go code fetch one over HTTP inside the C call).

The Go library keeps its clients in process-global state, one per (account_index, api_key_index), and every
Sign* call names its key: several keys of one account (a pool for parallel hedges) sign side by side, each
`Signer.create` adding a client without replacing another. Every call into the library (including `Free`)
holds one process-wide threading lock. Signing is ~0.5 ms, so the lock costs little for one hedge at a time.
Private keys are passed to the library once, at `Signer.create`, and never stored or logged.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import importlib.util
import json
import platform
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

CALL_TIMEOUT_S = 5.0  # a signature takes ~1 ms; a call this late is a signer gone wrong

P = ParamSpec("P")
T = TypeVar("T")

# Signer `Type` and `TimeInForce` numbers (lighter.md §5.5) and tx types (§5.3).
ORDER_TYPE_LIMIT = 0
ORDER_TYPE_MARKET = 1
TIF_IOC = 0
TIF_GTT = 1
TIF_POST_ONLY = 2
CANCEL_ALL_NOW = 0
ALL_MARKETS = 255
TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
TX_CANCEL_ALL = 16
TX_MODIFY_ORDER = 17
# OrderExpiry -1 makes the signer substitute now + 28 days (resting orders); IOC needs 0.
EXPIRY_DEFAULT = -1

MAX_CLIENT_ORDER_INDEX = 2**48 - 1
_MAX_C_INT = 2**31 - 1

_LIBRARY_FILES = {
    ("Linux", "x86_64"): "lighter-signer-linux-amd64.so",
    ("Linux", "aarch64"): "lighter-signer-linux-arm64.so",
    ("Darwin", "x86_64"): "lighter-signer-darwin-amd64.dylib",
    ("Darwin", "arm64"): "lighter-signer-darwin-arm64.dylib",
    ("Windows", "x86_64"): "lighter-signer-windows-amd64.dll",
}
_MACHINE_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}


class SignerError(Exception):
    """The signer library refused a call. The text is the library's error; it never holds key material."""


@dataclass(frozen=True, slots=True)
class SignedTx:
    tx_type: int
    tx_info: str  # JSON text exactly as the signer produced it; send it unchanged
    tx_hash: str  # 80 hex chars, computed locally

    def info(self) -> dict[str, Any]:
        return json.loads(self.tx_info)


@dataclass(frozen=True, slots=True)
class ApiKeyPair:
    """A freshly generated API key pair, hex without `0x`. The private half is hidden from repr."""

    private_key: str = field(repr=False)
    public_key: str


class _ApiKeyResponse(ctypes.Structure):
    _fields_ = [("privateKey", ctypes.c_void_p), ("publicKey", ctypes.c_void_p), ("err", ctypes.c_void_p)]


class _SignedTxResponse(ctypes.Structure):
    _fields_ = [
        ("txType", ctypes.c_uint8),
        ("txInfo", ctypes.c_void_p),
        ("txHash", ctypes.c_void_p),
        ("messageToSign", ctypes.c_void_p),
        ("err", ctypes.c_void_p),
    ]


class _StrOrErr(ctypes.Structure):
    _fields_ = [("str", ctypes.c_void_p), ("err", ctypes.c_void_p)]


_ll, _i, _u8 = ctypes.c_longlong, ctypes.c_int, ctypes.c_uint8
_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "Free": ([ctypes.c_void_p], None),
    "GenerateAPIKey": ([], _ApiKeyResponse),
    "CreateClient": ([ctypes.c_char_p, ctypes.c_char_p, _i, _i, _ll], ctypes.c_void_p),
    "SignCreateOrder": (
        [_ll, _ll, _ll, _i, _i, _i, _i, _i, _i, _ll, _ll, _i, _i, _u8, _u8, _u8, _ll, _i, _ll],
        _SignedTxResponse,
    ),
    "SignCancelOrder": ([_ll, _ll, _u8, _ll, _i, _ll], _SignedTxResponse),
    "SignModifyOrder": ([_ll, _ll, _ll, _ll, _ll, _ll, _i, _i, _u8, _u8, _u8, _ll, _ll, _i, _ll], _SignedTxResponse),
    "SignCancelAllOrders": ([_i, _ll, _ll, _u8, _ll, _i, _ll], _SignedTxResponse),
    "CreateAuthToken": ([_ll, _i, _ll], _StrOrErr),
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def library_path() -> Path:
    """The shipped signer for this platform, found without importing the `lighter` package."""
    spec = importlib.util.find_spec("lighter")
    if spec is None or not spec.submodule_search_locations:
        raise SignerError("lighter-sdk is not installed")
    machine = platform.machine().lower()
    machine = _MACHINE_ALIASES.get(machine, machine)
    if platform.system() == "Linux" and machine == "arm64":
        machine = "aarch64"
    if platform.system() == "Darwin" and machine == "aarch64":
        machine = "arm64"
    name = _LIBRARY_FILES.get((platform.system(), machine))
    if name is None:
        raise SignerError(f"no Lighter signer for {platform.system()}/{platform.machine()}")
    path = Path(next(iter(spec.submodule_search_locations))) / "signers" / name
    if not path.is_file():
        raise SignerError(f"Lighter signer library missing: {path}")
    return path


def _library() -> ctypes.CDLL:
    """Load and type the library once; caller holds `_lock`."""
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(str(library_path()))
        for name, (argtypes, restype) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = restype
        _lib = lib
    return _lib


def _take_str(lib: ctypes.CDLL, ptr: int | None) -> str | None:
    """Copy a C string returned by the library and release it with the library's own Free."""
    if not ptr:
        return None
    try:
        raw = ctypes.cast(ptr, ctypes.c_char_p).value
        return raw.decode() if raw is not None else None
    finally:
        lib.Free(ptr)


def _signed(lib: ctypes.CDLL, r: _SignedTxResponse) -> SignedTx:
    # Free all four pointers even when err is set.
    info, tx_hash = _take_str(lib, r.txInfo), _take_str(lib, r.txHash)
    _take_str(lib, r.messageToSign)
    err = _take_str(lib, r.err)
    if err:
        raise SignerError(err)
    if info is None or tx_hash is None:
        raise SignerError("signer returned no tx_info")
    return SignedTx(tx_type=int(r.txType), tx_info=info, tx_hash=tx_hash)


def generate_api_key() -> ApiKeyPair:
    """A new random API key pair (the venue needs it registered before it signs anything real)."""
    with _lock:
        lib = _library()
        r = lib.GenerateAPIKey()
        priv, pub, err = _take_str(lib, r.privateKey), _take_str(lib, r.publicKey), _take_str(lib, r.err)
    if err or not priv or not pub:
        raise SignerError(err or "GenerateAPIKey returned nothing")
    return ApiKeyPair(private_key=priv.removeprefix("0x"), public_key=pub.removeprefix("0x"))


def _check_range(name: str, value: int, lo: int, hi: int) -> None:
    # ctypes silently wraps out-of-range ints; refuse them before they become a different order.
    if not (isinstance(value, int) and lo <= value <= hi):
        raise ValueError(f"{name}={value!r} outside [{lo}, {hi}]")


_HEX_RUN = re.compile(r"[0-9a-fA-F]{16,}")


def scrub(text: str, key_hex: str, *, limit: int = 200) -> str:
    """`text` from the signer library, with every run of hex digits that holds 16 or more digits of the
    private key in a row (any case, with or without 0x) taken out, then cut to `limit` characters."""
    key = key_hex.lower().removeprefix("0x")

    def holds_key(run: str) -> bool:
        run = run.lower()
        return any(run[i:i + 16] in key for i in range(len(run) - 15))

    return _HEX_RUN.sub(lambda m: "<redacted>" if holds_key(m.group()) else m.group(), text)[:limit]


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs for one (account_index, api_key_index). Methods are blocking: call them via `SignerThread.call`."""

    account_index: int
    api_key_index: int
    chain_id: int

    @classmethod
    def create(cls, *, url: str, private_key: str, chain_id: int, api_key_index: int, account_index: int) -> Signer:
        """Register the key with the library (`CreateClient`; no network I/O). `url` is the REST base."""
        _check_range("api_key_index", api_key_index, 0, 254)
        _check_range("account_index", account_index, 0, 2**63 - 1)
        key = private_key.removeprefix("0x").encode()
        with _lock:
            lib = _library()
            err = _take_str(lib, lib.CreateClient(url.encode(), key, chain_id, api_key_index, account_index))
        if err:
            # The Go error text does not echo the key today; a future version might: never let it through.
            raise SignerError(f"CreateClient failed for key {api_key_index}: {scrub(err, key.decode())}")
        return cls(account_index=account_index, api_key_index=api_key_index, chain_id=chain_id)

    def sign_create_order(
        self,
        *,
        market_index: int,
        client_order_index: int,
        base_amount: int,
        price: int,
        is_ask: bool,
        order_type: int,
        time_in_force: int,
        order_expiry: int,
        nonce: int,
        reduce_only: bool = False,
        trigger_price: int = 0,
    ) -> SignedTx:
        _check_range("client_order_index", client_order_index, 0, MAX_CLIENT_ORDER_INDEX)
        _check_range("price", price, 1, _MAX_C_INT)
        _check_range("trigger_price", trigger_price, 0, _MAX_C_INT)
        _check_range("base_amount", base_amount, 1, 2**63 - 1)
        _check_range("nonce", nonce, 0, 2**63 - 1)
        with _lock:
            lib = _library()
            r = lib.SignCreateOrder(
                market_index, client_order_index, base_amount, price, int(is_ask), order_type, time_in_force,
                int(reduce_only), trigger_price, order_expiry,
                0, 0, 0,  # integrator account / taker fee / maker fee: never used by hedged
                0, 0,  # self-trade behaviour / equality: venue defaults
                0, nonce, self.api_key_index, self.account_index,
            )  # fmt: skip
            return _signed(lib, r)

    def sign_cancel_order(self, *, market_index: int, order_index: int, nonce: int) -> SignedTx:
        _check_range("nonce", nonce, 0, 2**63 - 1)
        with _lock:
            lib = _library()
            r = lib.SignCancelOrder(market_index, order_index, 0, nonce, self.api_key_index, self.account_index)
            return _signed(lib, r)

    def sign_modify_order(
        self,
        *,
        market_index: int,
        order_index: int,
        base_amount: int,
        price: int,
        nonce: int,
        trigger_price: int = 0,
        order_version: int = 0,
    ) -> SignedTx:
        _check_range("price", price, 1, _MAX_C_INT)
        _check_range("base_amount", base_amount, 1, 2**63 - 1)
        _check_range("nonce", nonce, 0, 2**63 - 1)
        with _lock:
            lib = _library()
            r = lib.SignModifyOrder(
                market_index, order_index, base_amount, price, trigger_price,
                0, 0, 0, 0, 0,  # integrator fields and self-trade modes, as for create
                0, nonce, order_version, self.api_key_index, self.account_index,
            )  # fmt: skip
            return _signed(lib, r)

    def sign_cancel_all(
        self, *, nonce: int, time_in_force: int = CANCEL_ALL_NOW, time_ms: int = 0, market_index: int = ALL_MARKETS
    ) -> SignedTx:
        _check_range("nonce", nonce, 0, 2**63 - 1)
        with _lock:
            lib = _library()
            r = lib.SignCancelAllOrders(
                time_in_force, time_ms, market_index, 0, nonce, self.api_key_index, self.account_index
            )
            return _signed(lib, r)

    def create_auth_token(self, deadline_unix_s: int) -> str:
        """A token valid until the ABSOLUTE Unix time `deadline_unix_s`: "deadline:account:key:sighex"."""
        _check_range("deadline_unix_s", deadline_unix_s, 1, 2**63 - 1)
        with _lock:
            lib = _library()
            r = lib.CreateAuthToken(deadline_unix_s, self.api_key_index, self.account_index)
            token, err = _take_str(lib, r.str), _take_str(lib, r.err)
        if err or not token:
            raise SignerError(err or "CreateAuthToken returned nothing")
        return token


class SignerThread:
    """The one thread every call into the Go signer runs on, while the Trio thread waits for it.

    Not on the Trio thread itself: a cgo call from the process's main thread costs ~3.4 ms (Go looks up the
    calling thread's stack bounds, which on the main thread re-reads /proc/self/maps), against ~0.6-1.5 ms on
    any other thread. And the Trio thread waits rather than awaits: measured on the simulators, handing the
    call to a worker and awaiting it cost about 2.5 ms around a 1.1 ms signature (a scheduler pass before the
    thread got the GIL, the run_sync_soon hop and a pass back after it), and every other task the fill woke
    ran in those passes. A hedge is what the process is for: nothing else should run while one is signed
    (strategy/hedgefirst.py says the same to the tasks that can wait). A call is bounded by `timeout_s`.

    Use it as a context manager where its user's resources live (the Lighter client's `run()`): the thread
    ends with it, so a stop leaves no thread behind.
    """

    def __init__(self, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def __enter__(self) -> SignerThread:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hedged-signer")
        return self

    def __exit__(self, *exc: object) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the signer thread and return its result (or raise its exception)."""
        if self._pool is None:
            raise SignerError("the signer thread is not running")
        future = self._pool.submit(functools.partial(fn, *args, **kwargs))
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            raise SignerError(f"the signer did not answer within {self.timeout_s} s") from None
