"""The ctypes wrapper around the shipped Lighter signer: real signatures with throw-away keys, no network."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time

import pytest
import trio

from hedged.venues.lighter import signing
from hedged.venues.lighter.signing import SignedTx, Signer, SignerError, SignerThread, generate_api_key

ACCOUNT = 604118
KEY_INDEX = 5


@pytest.fixture(scope="module")
def signer() -> Signer:
    keys = generate_api_key()
    return Signer.create(
        url="http://127.0.0.1:9", private_key=keys.private_key, chain_id=304, api_key_index=KEY_INDEX, account_index=ACCOUNT
    )


def _assert_signature(info: dict) -> None:
    assert len(base64.b64decode(info["Sig"])) == 80


def test_generated_key_pair_is_hex_and_hides_private_half_in_repr() -> None:
    keys = generate_api_key()
    assert len(keys.private_key) == 80 and int(keys.private_key, 16) >= 0
    assert len(keys.public_key) == 80 and int(keys.public_key, 16) >= 0
    assert keys.private_key not in repr(keys)


def test_create_order_tx_info_carries_the_exact_integers_and_nonce(signer: Signer) -> None:
    tx = signer.sign_create_order(
        market_index=2, client_order_index=91007, base_amount=1250, price=142655, is_ask=False,
        order_type=signing.ORDER_TYPE_LIMIT, time_in_force=signing.TIF_IOC, order_expiry=0, nonce=318,
    )  # fmt: skip
    assert tx.tx_type == signing.TX_CREATE_ORDER
    assert len(tx.tx_hash) == 80
    info = tx.info()
    assert info["AccountIndex"] == ACCOUNT and info["ApiKeyIndex"] == KEY_INDEX
    assert (info["MarketIndex"], info["ClientOrderIndex"], info["BaseAmount"], info["Price"]) == (2, 91007, 1250, 142655)
    assert (info["IsAsk"], info["Type"], info["TimeInForce"], info["OrderExpiry"], info["Nonce"]) == (0, 0, 0, 0, 318)
    # The signer stamps ExpiredAt about ten minutes ahead of the wall clock.
    assert 0 < info["ExpiredAt"] - time.time() * 1000 <= 11 * 60 * 1000
    _assert_signature(info)


def test_resting_order_with_default_expiry_gets_a_future_order_expiry(signer: Signer) -> None:
    tx = signer.sign_create_order(
        market_index=2, client_order_index=1, base_amount=10, price=100, is_ask=True,
        order_type=signing.ORDER_TYPE_LIMIT, time_in_force=signing.TIF_POST_ONLY,
        order_expiry=signing.EXPIRY_DEFAULT, nonce=1,
    )  # fmt: skip
    info = tx.info()
    assert info["IsAsk"] == 1 and info["TimeInForce"] == signing.TIF_POST_ONLY
    assert info["OrderExpiry"] > time.time() * 1000 + 27 * 86400 * 1000


def test_cancel_modify_and_cancel_all_have_their_tx_types_and_fields(signer: Signer) -> None:
    cancel = signer.sign_cancel_order(market_index=2, order_index=281476930120044, nonce=7)
    modify = signer.sign_modify_order(market_index=2, order_index=281476930120044, base_amount=500, price=140000, nonce=8)
    cancel_all = signer.sign_cancel_all(nonce=9)
    assert [cancel.tx_type, modify.tx_type, cancel_all.tx_type] == [15, 17, 16]
    assert cancel.info()["Index"] == 281476930120044 and cancel.info()["Nonce"] == 7
    assert (modify.info()["BaseAmount"], modify.info()["Price"], modify.info()["Nonce"]) == (500, 140000, 8)
    assert cancel_all.info()["TimeInForce"] == 0 and cancel_all.info()["Nonce"] == 9
    for tx in (cancel, modify, cancel_all):
        _assert_signature(tx.info())


def test_signer_errors_surface_as_signer_error(signer: Signer) -> None:
    with pytest.raises(SignerError, match="OrderExpiry is invalid"):
        signer.sign_create_order(
            market_index=2, client_order_index=1, base_amount=10, price=100, is_ask=False,
            order_type=signing.ORDER_TYPE_LIMIT, time_in_force=signing.TIF_IOC, order_expiry=-1, nonce=1,
        )  # fmt: skip


def test_unregistered_key_is_refused_by_the_library() -> None:
    other = Signer(account_index=ACCOUNT, api_key_index=200, chain_id=304)
    with pytest.raises(SignerError, match="client is not created"):
        other.sign_cancel_order(market_index=2, order_index=1, nonce=1)


def test_several_api_keys_of_one_account_sign_side_by_side_in_one_process(signer: Signer) -> None:
    # The Go library keeps a client per (account, api key) and each Sign* call names its key
    # (lighter-go executables/shared.go: accountIndex -> apiKeyIndex -> client), so a pool of hedge keys
    # needs one CreateClient each and nothing else; creating one never replaces another.
    pool = [Signer.create(url="http://127.0.0.1:9", private_key=generate_api_key().private_key, chain_id=304,
                          api_key_index=index, account_index=ACCOUNT) for index in (6, 7)]
    for s in (signer, *pool):  # the first key's client is still there after the others were created
        info = s.sign_cancel_order(market_index=2, order_index=77, nonce=9).info()
        assert (info["AccountIndex"], info["ApiKeyIndex"], info["Nonce"]) == (ACCOUNT, s.api_key_index, 9)
        _assert_signature(info)
        assert s.create_auth_token(2_000_000_000).split(":")[1:3] == [str(ACCOUNT), str(s.api_key_index)]


@pytest.mark.parametrize(
    ("field", "value"), [("price", 2**31), ("price", 0), ("client_order_index", 2**48), ("base_amount", 0)]
)
def test_values_ctypes_would_wrap_are_refused_before_the_call(signer: Signer, field: str, value: int) -> None:
    args = dict(
        market_index=2, client_order_index=1, base_amount=10, price=100, is_ask=False,
        order_type=signing.ORDER_TYPE_LIMIT, time_in_force=signing.TIF_IOC, order_expiry=0, nonce=1,
    )  # fmt: skip
    args[field] = value
    with pytest.raises(ValueError, match=field):
        signer.sign_create_order(**args)


def test_auth_token_has_absolute_deadline_account_key_and_signature(signer: Signer) -> None:
    deadline = int(time.time()) + 3600
    token = signer.create_auth_token(deadline)
    parts = token.split(":")
    assert parts[:3] == [str(deadline), str(ACCOUNT), str(KEY_INDEX)]
    assert len(parts) == 4 and len(bytes.fromhex(parts[3])) > 0


def test_the_signer_thread_signs_off_the_trio_thread_and_gives_valid_txs(signer: Signer) -> None:
    threads: set[str] = set()

    def sign(nonce: int) -> SignedTx:
        threads.add(threading.current_thread().name)
        return signer.sign_cancel_order(market_index=2, order_index=5, nonce=nonce)

    with SignerThread() as thread:
        results = [thread.call(sign, nonce) for nonce in range(10, 20)]
    assert [tx.info()["Nonce"] for tx in results] == list(range(10, 20))
    assert len(threads) == 1 and threading.current_thread().name not in threads
    assert not any(t.name.startswith("hedged-signer") for t in threading.enumerate()), "the thread outlived its block"


async def test_a_signer_call_completes_before_any_other_task_takes_a_turn(signer) -> None:
    """Issue 12 point 11: on the hedge path every task the same fill woke is runnable. Awaiting a worker
    (`trio.to_thread.run_sync`) gave each of them a turn before the signer started and again before the
    signed tx went out."""
    other_ran: list[bool] = []
    seen: list[bool] = []

    async def other() -> None:
        other_ran.append(True)

    def sign() -> SignedTx:
        seen.append(bool(other_ran))
        return signer.sign_cancel_order(market_index=2, order_index=5, nonce=3)

    with SignerThread() as thread:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)  # runnable from the next pass on, as a woken task would be
            tx = thread.call(sign)
            assert seen == [False] and other_ran == [], "another task ran during the signer call"
    assert tx.info()["Nonce"] == 3 and other_ran == [True]


def test_a_signer_call_that_does_not_return_is_refused_within_its_bound() -> None:
    release = threading.Event()
    with SignerThread(timeout_s=0.05) as thread:
        with pytest.raises(SignerError, match="did not answer within 0.05 s"):
            thread.call(release.wait, 5)
        release.set()
    with pytest.raises(SignerError, match="not running"):
        thread.call(lambda: None)


def test_loading_the_signer_does_not_import_the_lighter_package() -> None:
    code = (
        "import sys; from hedged.venues.lighter.signing import generate_api_key; generate_api_key(); "
        "assert 'lighter' not in sys.modules, 'lighter imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_signer_error_never_carries_the_private_key_or_a_long_piece_of_it():
    from hedged.venues.lighter.signing import scrub

    key = "ab" * 20 + "0123456789abcdef" * 2 + "cd" * 4  # 80 hex digits, like a Lighter API private key
    assert "<redacted>" in scrub(f"invalid key 0x{key} for client", key)
    assert key not in scrub(f"invalid key {key.upper()}", key).lower()
    leaked = scrub(f"bad scalar {key[10:40]} (truncated)", "0x" + key)
    assert key[10:40] not in leaked and leaked.startswith("bad scalar <redacted>")
    assert scrub("nonce too low: 12 < 13", key) == "nonce too low: 12 < 13"  # nothing to take out
    assert len(scrub("x" * 500, key)) == 200
    # characters that grow when lowercased must not shift what is cut out (review finding)
    odd = scrub("\u0130" * 20 + " key " + key + " end", key)
    assert odd == "\u0130" * 20 + " key <redacted> end", odd
