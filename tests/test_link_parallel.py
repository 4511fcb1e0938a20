"""A link proven and verified on worker processes: the same statement as inline, the pieces folded in
order, tampering still rejected with the check named, and workers not trusted with integrity caught
when they return a piece that does not hold."""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs import linkcircuit as lc
from proofs.errors import EncodingError, VerificationError
from proofs.executors import run_in_order
from proofs.link import LINK_KIND, PieceResult, audited_leaves, prove_link, read_leaves, verify_link
from tests.link_chain import Month, first_facts, next_facts, seal_month

#: Five kept loans a piece (5 × 48 gates ≤ 256), so a small pool spans several pieces.
SMALL_PIECES = 256


@dataclasses.dataclass
class Pair:
    key: Ed25519PrivateKey
    prev: Month
    cur: Month
    entries: list[str]


@pytest.fixture(scope="module")
def pair() -> Pair:
    key = Ed25519PrivateKey.generate()
    rng = random.Random(1203)
    prev = seal_month(first_facts(18, rng), key, sequence=1, previous=None)
    facts = next_facts(prev.facts, rng, new=2, first_id=500)
    cur = seal_month(facts, key, sequence=2, previous=prev.header)
    old = {f.exposure_id for f in prev.facts}
    return Pair(key, prev, cur, [f.exposure_id for f in facts if f.exposure_id not in old])


@pytest.fixture(scope="module")
def pool() -> Any:
    with ProcessPoolExecutor(2) as executor:
        yield executor


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lc, "PIECE_GATES", SMALL_PIECES)


def _prove(p: Pair, **kw: Any) -> dict[str, Any]:
    return prove_link(
        p.key, p.prev.header, p.cur.header, p.prev.loans, p.cur.loans, entries=p.entries, ipa_rounds=2, **kw
    )


def test_pieces_proven_on_workers_verify_like_inline_ones(pair: Pair, pool: Any, small_pieces: None) -> None:
    inline = _prove(pair)
    parallel = _prove(pair, executor=pool, max_in_flight=2, check_results=True)
    sizes = [p["loans"] for p in parallel["pieces"]]
    assert len(sizes) > 2
    assert sizes == [p["loans"] for p in inline["pieces"]]
    public = pair.key.public_key()
    for doc in (inline, parallel):
        a = verify_link(pair.prev.text, pair.cur.text, doc, public, purchases=pair.entries)
        b = verify_link(pair.prev.text, pair.cur.text, doc, public, purchases=pair.entries, executor=pool)
        assert (a.roll, a.exits, a.entries) == (b.roll, b.exits, b.entries)
    assert parallel["roll"]["counts"] == inline["roll"]["counts"]
    assert parallel["roll"]["balances"] == inline["roll"]["balances"]
    # Fresh randomness per piece: same statement, different proofs.
    assert parallel["pieces"][0]["proof"] != inline["pieces"][0]["proof"]


def _resigned(p: Pair, doc: dict[str, Any]) -> dict[str, Any]:
    return bundle.sign_document(p.key, LINK_KIND, bundle.unsigned_body(doc))


def test_a_tampered_piece_is_rejected_by_the_worker_that_checks_it(
    pair: Pair, pool: Any, small_pieces: None
) -> None:
    doc = _prove(pair)
    prev, cur = (read_leaves(m.text, pair.key.public_key()) for m in (pair.prev, pair.cur))
    last = len(doc["pieces"]) - 1
    for index in (0, last):
        bad = copy.deepcopy(doc)
        proof = bytearray(bytes.fromhex(bad["pieces"][index]["proof"]))
        proof[-1] ^= 1  # the last scalar: still canonical, no longer the proof's
        bad["pieces"][index]["proof"] = proof.hex()
        with pytest.raises(VerificationError) as err:
            verify_link(prev, cur, _resigned(pair, bad), pair.key.public_key(), executor=pool)
        assert err.value.check == "linkcircuit.batch"
    bad = copy.deepcopy(doc)
    bad["pieces"][last]["proof"] = bad["pieces"][last]["proof"][:-2]
    with pytest.raises(EncodingError, match=rf"pieces\[{last}\]"):
        verify_link(prev, cur, _resigned(pair, bad), pair.key.public_key(), executor=pool)
    swapped = copy.deepcopy(doc)
    swapped["pieces"][0]["proof"], swapped["pieces"][1]["proof"] = (
        doc["pieces"][1]["proof"],
        doc["pieces"][0]["proof"],
    )
    with pytest.raises(VerificationError) as err:
        verify_link(prev, cur, _resigned(pair, swapped), pair.key.public_key(), executor=pool)
    assert err.value.check == "linkcircuit.batch"


class _LyingWorker(Executor):
    """Runs each task here, then hands back what ``lie`` makes of the honest result."""

    def __init__(self, lie: Callable[[PieceResult], PieceResult]) -> None:
        self.lie = lie

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(self.lie(fn(*args, **kwargs)))
        return future


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


LIES: dict[str, Callable[[PieceResult], PieceResult]] = {
    "a row value": lambda r: dataclasses.replace(r, values=(r.values[0] + 1, *r.values[1:])),
    "a row blinding": lambda r: dataclasses.replace(r, blindings=(r.blindings[0] + 1, *r.blindings[1:])),
    "a row commitment": lambda r: dataclasses.replace(r, rows=(r.rows[1], r.rows[0], *r.rows[2:])),
    "the proof's last scalar": lambda r: dataclasses.replace(r, proof=_flip(r.proof)),
    "a truncated proof": lambda r: dataclasses.replace(r, proof=r.proof[:-1]),
    "too few rows": lambda r: dataclasses.replace(r, rows=r.rows[:-1]),
}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_worker_returning_a_piece_that_does_not_hold_is_caught(
    pair: Pair, small_pieces: None, lie: str
) -> None:
    with pytest.raises(VerificationError) as err:
        _prove(pair, executor=_LyingWorker(LIES[lie]), check_results=True)
    assert err.value.check == "link.worker"


def test_an_honest_worker_passes_the_check(pair: Pair, small_pieces: None) -> None:
    doc = _prove(pair, executor=_LyingWorker(lambda r: r), check_results=True)
    verify_link(pair.prev.text, pair.cur.text, doc, pair.key.public_key(), purchases=pair.entries)


def _square(x: int) -> int:
    return x * x


def test_results_are_settled_in_task_order(pool: Any) -> None:
    seen: list[tuple[int, int]] = []
    run_in_order(range(40), _square, lambda t, r: seen.append((t, r)), pool, max_in_flight=3)
    assert seen == [(t, t * t) for t in range(40)]
    inline: list[tuple[int, int]] = []
    run_in_order(range(5), _square, lambda t, r: inline.append((t, r)), None)
    assert inline == [(t, t * t) for t in range(5)]


@pytest.mark.parametrize("on_workers", [False, True])
def test_the_audit_hands_back_the_leaves_a_separate_read_gives(
    pair: Pair, pool: Any, on_workers: bool
) -> None:
    public = pair.key.public_key()
    read = read_leaves(pair.cur.text, public)
    audited = audited_leaves(pair.cur.text, public, executor=pool if on_workers else None)
    assert audited.header.hash == read.header.hash
    assert audited.leaves == read.leaves


def test_a_snapshot_that_fails_its_audit_gives_no_leaves(pair: Pair) -> None:
    eid = pair.cur.loans[0].exposure_id
    broken = pair.cur.text.replace(f'["{eid}"', f'["{eid}Z"', 1)
    assert broken != pair.cur.text
    with pytest.raises(VerificationError) as err:
        audited_leaves(broken, pair.key.public_key())
    assert err.value.check == "snapshot.merkle_root"


@pytest.mark.parametrize("kept", [1, 1365, 1366, 100_000, 1_000_000])
def test_pieces_are_bounded_so_a_large_link_spreads_over_workers(kept: int) -> None:
    sizes = lc.split_loans(kept)
    assert sum(sizes) == kept
    assert max(sizes) * lc.GATES_PER_LOAN <= lc.PIECE_GATES
    assert len(sizes) >= kept * lc.GATES_PER_LOAN // lc.PIECE_GATES
