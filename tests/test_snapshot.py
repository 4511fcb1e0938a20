"""Sealed snapshots: the auditor's full check and its failure modes (DESIGN.md "Snapshot statement")."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.lanes import DPD5_V1, LANE_SETS, get_lane_set
from proofs.sealing import seal_pool
from proofs.snapshot import (
    ChunkResult,
    ChunkTask,
    LoanInput,
    SealParams,
    SnapshotContext,
    chunk_nonce_key,
    loan_blindings,
    pieces,
    read_snapshot_bundle,
    seal_chunk,
    verify_snapshot,
)
from tests.snapshot_util import Sealed, flip_hex, make_loans, rewrite_chunk, seal_in_memory


@pytest.fixture(scope="module", params=["dpd5-v1", "dpd5-v2", "dpd5-v3"])
def sealed(request: pytest.FixtureRequest) -> Sealed:
    # 37 loans in chunks of 16: two full chunks and a partial one (range proofs: pieces 4 + 1).
    return seal_in_memory(make_loans(37), chunk_log2=4, lane_set=request.param)


def _verify(text: str, sealed: Sealed) -> None:
    verify_snapshot(io.StringIO(text), sealed.key.public_key(), lane_sets=LANE_SETS)


def _lines(sealed: Sealed) -> list[str]:
    return sealed.bundle_text.split("\n")


def _with_header(sealed: Sealed, header: dict[str, Any]) -> str:
    """The bundle text with ``header`` in place of the sealed one."""
    lines = _lines(sealed)
    lines[0] = (
        '{"format":"poolproof/snapshot/v1","header":'
        + json.dumps(header, separators=(",", ":"))
        + ',"chunks":['
    )
    return "\n".join(lines)


def test_pieces_are_the_binary_expansion() -> None:
    assert pieces(37) == [(0, 32), (32, 4), (36, 1)]
    assert pieces(16) == [(0, 16)]
    assert pieces(0) == []


def test_honest_snapshot_verifies_and_header_matches_the_tape(sealed: Sealed) -> None:
    progress: list[tuple[int, int]] = []
    header = verify_snapshot(
        io.StringIO(sealed.bundle_text),
        sealed.key.public_key(),
        lane_sets=LANE_SETS,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert header.leaf_count == 37
    assert progress[-1] == (37, 37)
    totals = dict(zip(DPD5_V1.lanes, sealed.outcome.lane_value_sums, strict=True))
    assert DPD5_V1.metric_value("pool_balance", totals) == sum(loan.principal for loan in sealed.loans)
    assert DPD5_V1.metric_value("loan_count", totals) == 37
    assert DPD5_V1.metric_value("count_dpd_90plus", totals) == sum(1 for x in sealed.loans if x.bucket == 4)


def test_bundle_is_one_valid_json_document(sealed: Sealed) -> None:
    doc = json.loads(sealed.bundle_text)
    assert doc["format"] == "poolproof/snapshot/v1"
    assert len(doc["chunks"]) == 3
    # A re-serialised (non-streaming layout) bundle still verifies.
    _verify(json.dumps(doc, indent=2), sealed)


def test_chunked_sealing_is_independent_of_chunk_boundaries_for_root_and_aggregates(sealed: Sealed) -> None:
    other = seal_in_memory(sealed.loans, chunk_log2=3, lane_set=sealed.params.lane_set)
    assert other.outcome.leaf_count == sealed.outcome.leaf_count
    # Different seeds give different commitments, so compare plaintext totals and sizes.
    assert other.outcome.lane_value_sums == sealed.outcome.lane_value_sums


def test_wrong_gateway_key_is_rejected(sealed: Sealed) -> None:
    with pytest.raises(VerificationError, match=r"header\.signature"):
        verify_snapshot(
            io.StringIO(sealed.bundle_text), Ed25519PrivateKey.generate().public_key(), lane_sets=LANE_SETS
        )


@pytest.mark.parametrize("field", ["leaf_count", "merkle_root", "cutoff_date", "pool_id", "policy_version"])
def test_any_header_change_breaks_the_signature(sealed: Sealed, field: str) -> None:
    header = dict(sealed.header)
    value = header[field]
    header[field] = (
        value + 1
        if isinstance(value, int)
        else flip_hex(value, 0)
        if field == "merkle_root"
        else "2026-10-30"  # another real day (a non-date is refused before the signature)
        if field == "cutoff_date"
        else value[:-1] + ("1" if value[-1] != "1" else "2")
    )
    with pytest.raises(VerificationError, match=r"header\.signature"):
        _verify(_with_header(sealed, header), sealed)


def test_resigned_header_with_wrong_root_fails_the_merkle_check(sealed: Sealed) -> None:
    header = bundle.unsigned_body(sealed.header)
    header["merkle_root"] = flip_hex(header["merkle_root"], 5)
    header = bundle.sign_document(sealed.key, "snapshot-header", header)
    with pytest.raises(VerificationError, match=r"snapshot\.merkle_root"):
        _verify(_with_header(sealed, header), sealed)


def test_resigned_header_with_wrong_aggregate_fails_the_sum_check(sealed: Sealed) -> None:
    header = bundle.unsigned_body(sealed.header)
    header["aggregates"]["balance_M0"] = header["aggregates"]["balance_M1"]
    header = bundle.sign_document(sealed.key, "snapshot-header", header)
    # Packed lane sets: the aggregates are not sums of leaves but must unpack the packed sums.
    with pytest.raises(VerificationError, match=r"snapshot\.aggregate|unpacking\.linear"):
        _verify(_with_header(sealed, header), sealed)


def test_swapped_commitments_within_a_leaf_are_rejected(sealed: Sealed) -> None:
    def swap(doc: dict[str, Any]) -> None:
        blob = doc["leaves"][3][1]
        doc["leaves"][3][1] = blob[96:192] + blob[:96] + blob[192:]

    with pytest.raises(VerificationError):
        _verify(rewrite_chunk(sealed, 0, swap), sealed)


def test_changed_exposure_id_changes_the_root(sealed: Sealed) -> None:
    def rename(doc: dict[str, Any]) -> None:
        doc["leaves"][0][0] = "EXXXXXX"

    with pytest.raises(VerificationError, match=r"snapshot\.merkle_root"):
        _verify(rewrite_chunk(sealed, 1, rename), sealed)


def test_every_proof_byte_region_is_checked(sealed: Sealed) -> None:
    n_proofs = len(json.loads(_lines(sealed)[1].rstrip(","))["proofs"])
    for proof_index in range(n_proofs):
        for pos in (0, 100, 200, 400, -70, -2):

            def corrupt(doc: dict[str, Any], pos: int = pos, i: int = proof_index) -> None:
                p = doc["proofs"][i]
                doc["proofs"][i] = flip_hex(p, pos % len(p))

            with pytest.raises((VerificationError, EncodingError)):
                _verify(rewrite_chunk(sealed, 0, corrupt), sealed)


def test_proofs_cannot_be_moved_between_chunks(sealed: Sealed) -> None:
    first = json.loads(_lines(sealed)[1].rstrip(","))

    def steal(doc: dict[str, Any]) -> None:
        doc["proofs"] = first["proofs"]
        doc["leaves"] = first["leaves"]

    with pytest.raises(VerificationError):
        _verify(rewrite_chunk(sealed, 1, steal), sealed)


def test_dropped_or_duplicated_chunks_are_rejected(sealed: Sealed) -> None:
    lines = _lines(sealed)
    dropped = "\n".join([lines[0], lines[1], lines[3], *lines[4:]])
    with pytest.raises(VerificationError, match=r"snapshot\.chunk_order"):
        _verify(dropped, sealed)
    truncated = "\n".join(lines[:3])
    with pytest.raises((EncodingError, VerificationError)):
        _verify(truncated, sealed)


def test_a_loan_counted_twice_is_rejected(sealed: Sealed) -> None:
    # Replace a count commitment by a commitment to 2 in another bucket: count check must fail.
    from proofs.group import get_group
    from proofs.pedersen import commit

    g = get_group()

    def double(doc: dict[str, Any]) -> None:
        blob = doc["leaves"][0][1]
        if sealed.params.lane_set == "dpd5-v3":
            # pack_0 with a count of one in M0 *and* M1 (and the same principal).
            fake = commit(g, 1 + (1 << 32) + (4242 << 160), 12345).to_bytes().hex()
            doc["leaves"][0][1] = fake + blob[96:]
        else:
            fake = commit(g, 1, 12345).to_bytes().hex()
            doc["leaves"][0][1] = blob[: 96 * 6] + fake + blob[96 * 7 :]

    with pytest.raises(VerificationError):
        _verify(rewrite_chunk(sealed, 0, double), sealed)


def test_prover_refuses_a_negative_lane_value() -> None:
    context = SnapshotContext("S", "P", "2026-10-31", "dpd5-v1")
    with pytest.raises(ValueError, match="principal"):
        seal_chunk(ChunkTask.prepare(context, SealParams(), 0, (LoanInput("E1", -5, 0),), b"s" * 32))


def test_a_chunk_task_carries_its_own_chunks_secrets_and_never_the_seed() -> None:
    """What a worker receives: its loans' blindings and a per-chunk nonce key, not the snapshot seed."""
    import pickle

    seed = bytes(range(7, 39))
    params = SealParams()
    context = SnapshotContext("S", "P", "2026-10-31", params.lane_set)
    loans = tuple(make_loans(4, seed=3))
    tasks = [ChunkTask.prepare(context, params, i, loans, seed) for i in range(3)]
    lanes = get_lane_set(params.lane_set)
    assert tasks[0].blindings == tuple(tuple(loan_blindings(seed, x.exposure_id, lanes)) for x in loans)
    assert len({t.nonce_key for t in tasks}) == 3  # one key per chunk
    assert tasks[2].nonce_key == chunk_nonce_key(seed, 2) != chunk_nonce_key(seed[::-1], 2)
    for task in tasks:
        wire = pickle.dumps(task)
        assert seed not in wire
        assert seed.hex() not in repr(task)
        assert str(task.blindings[0][0]) not in repr(task)
    with pytest.raises(ValueError, match="non-negative"):
        chunk_nonce_key(seed, -1)


def test_seal_chunk_refuses_a_task_whose_blindings_do_not_match_its_loans() -> None:
    params = SealParams()
    context = SnapshotContext("S", "P", "2026-10-31", params.lane_set)
    task = ChunkTask.prepare(context, params, 0, tuple(make_loans(3)), b"s" * 32)
    short = ChunkTask(context, params, 0, task.loans, task.blindings[:2], task.nonce_key)
    with pytest.raises(ValueError, match="blindings"):
        seal_chunk(short)
    narrow = ChunkTask(context, params, 0, task.loans, tuple(r[:1] for r in task.blindings), task.nonce_key)
    with pytest.raises(ValueError, match="blindings"):
        seal_chunk(narrow)


class _Worker(Executor):
    """An executor whose worker runs ``seal_chunk`` and then does what ``act`` says with the result."""

    def __init__(self, act: Callable[[ChunkTask], ChunkResult]) -> None:
        self.act = act

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(self.act(*args))
        return future


def _other_values(task: ChunkTask) -> ChunkResult:
    """The worst worker: valid proofs and consistent totals, for loans it made up."""
    first = task.loans[0]
    loans = (replace(first, principal=first.principal + 1), *task.loans[1:])
    return seal_chunk(replace(task, loans=loans))


def _tampered(change: Callable[[ChunkResult], dict[str, Any]]) -> Callable[[ChunkTask], ChunkResult]:
    def act(task: ChunkTask) -> ChunkResult:
        result = seal_chunk(task)
        return replace(result, **change(result))

    return act


WORKER_LIES: dict[str, Callable[[ChunkTask], ChunkResult]] = {
    "other values, valid proofs": _other_values,
    "a leaf hash": _tampered(lambda r: {"leaf_hashes": (b"\0" * 32, *r.leaf_hashes[1:])}),
    "lane totals": _tampered(lambda r: {"lane_value_sums": (0,) * len(r.lane_value_sums)}),
    "blinding totals": _tampered(lambda r: {"lane_blinding_sums": (1,) * len(r.lane_blinding_sums)}),
    "exposure ids": _tampered(lambda r: {"exposure_ids": tuple(reversed(r.exposure_ids))}),
    "a proof's size": _tampered(lambda r: {"proofs": tuple(replace(p, m=p.m + 1) for p in r.proofs)}),
    "no proofs": _tampered(lambda r: {"proofs": ()}),
}


@pytest.mark.parametrize("lie", WORKER_LIES)
def test_a_lying_worker_is_caught_before_its_chunk_is_stored(lie: str) -> None:
    params = SealParams(chunk_log2=3)
    context = SnapshotContext("S", "P", "2026-10-31", params.lane_set)
    loans = make_loans(12, seed=2)
    stored: list[ChunkResult] = []
    kwargs: dict[str, Any] = {"context": context, "params": params, "seed": b"w" * 32, "sink": stored.append}
    with pytest.raises(VerificationError, match="chunk 0: the worker's") as info:
        seal_pool(loans, executor=_Worker(WORKER_LIES[lie]), check_results=True, **kwargs)
    assert info.value.check == "sealing.worker-result"
    assert stored == []
    # Unchecked (a local process pool, same trust domain) the lie would have been stored.
    lied: list[ChunkResult] = []
    seal_pool(loans, executor=_Worker(WORKER_LIES[lie]), **{**kwargs, "sink": lied.append})
    honest: list[ChunkResult] = []
    outcome = seal_pool(loans, **{**kwargs, "sink": honest.append})
    assert lied[0] != honest[0]
    # An honest worker passes the check, with the very same result.
    checked: list[ChunkResult] = []
    honest_worker = _Worker(seal_chunk)
    again = seal_pool(loans, executor=honest_worker, check_results=True, **{**kwargs, "sink": checked.append})
    assert (again, checked) == (outcome, honest)


@pytest.mark.parametrize("lane_set", ["dpd5-v1", "dpd5-v2", "dpd5-v3"])
def test_negative_lane_smuggled_past_the_prover_cannot_verify(
    monkeypatch: pytest.MonkeyPatch, lane_set: str
) -> None:
    """A platform that forces r - 5 ("-5") into a lane gets no verifying snapshot."""
    from proofs import lanes as lanes_module
    from proofs.group import ORDER

    real = lanes_module.LaneSet.lane_values

    def evil(self: Any, principal: int, bucket: int) -> tuple[int, ...]:
        values = list(real(self, abs(principal), bucket))
        if principal == 4242:
            values[1] = ORDER - 5
        return tuple(values)

    monkeypatch.setattr(lanes_module.LaneSet, "lane_values", evil)
    with pytest.raises(ProvingError):
        seal_in_memory([LoanInput("E1", 4242, 0), LoanInput("E2", 10, 0)], chunk_log2=1, lane_set=lane_set)


def test_seal_pool_resumes_from_stored_chunk_summaries() -> None:
    from proofs.sealing import ChunkSummary

    loans = make_loans(20)
    context = SnapshotContext("S", "P", "2026-10-31", "dpd5-v1")
    params = SealParams(chunk_log2=3)
    seed = b"k" * 32
    full: list[Any] = []
    outcome = seal_pool(loans, context=context, params=params, seed=seed, sink=full.append)
    done = {0: ChunkSummary.of(full[0])}
    resumed: list[Any] = []
    outcome2 = seal_pool(
        loans, context=context, params=params, seed=seed, sink=resumed.append, skip_chunks=done
    )
    assert [r.chunk_index for r in resumed] == [1, 2]
    assert outcome2.merkle_root == outcome.merkle_root
    assert outcome2.aggregates == outcome.aggregates
    assert resumed[0].commitments == full[1].commitments
    # Prover nonces derive from the seed, so a resumed chunk is byte-identical, proofs included.
    assert resumed == full[1:]


def test_reader_rejects_trailing_garbage(sealed: Sealed) -> None:
    _header, chunks = read_snapshot_bundle(io.StringIO(sealed.bundle_text + "junk\n"))
    with pytest.raises(EncodingError, match="after the end"):
        list(chunks)


def test_verification_errors_keep_their_check_across_processes() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(VerificationError("snapshot.aggregate", "lane x")))
    assert err.check == "snapshot.aggregate"
    assert str(err) == "snapshot.aggregate: lane x"


def test_audit_on_a_process_pool_matches_inline_and_names_failures(sealed: Sealed) -> None:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        header = verify_snapshot(
            io.StringIO(sealed.bundle_text),
            sealed.key.public_key(),
            lane_sets=LANE_SETS,
            executor=pool,
            group_leaves=16,
        )
        assert header.leaf_count == 37

        def swap(doc: dict[str, Any]) -> None:
            blob = doc["leaves"][3][1]
            doc["leaves"][3][1] = blob[96:192] + blob[:96] + blob[192:]

        with pytest.raises(VerificationError) as info:
            verify_snapshot(
                io.StringIO(rewrite_chunk(sealed, 1, swap)),
                sealed.key.public_key(),
                lane_sets=LANE_SETS,
                executor=pool,
                group_leaves=16,
            )
        assert info.value.check.split(".")[0] in {"rangeproof", "lanecircuit", "snapshot"}
