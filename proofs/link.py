"""Linked snapshots: what happened to the pool between month t−1 and month t, proven.

A *link bundle* (``poolproof/link/v1``, canonical JSON, signed by the gateway key like headers)
ties two consecutive ``pool-v4`` snapshots of one pool (t's header names t−1's header hash as
``previous_header_hash``) and proves (docs/linked-months.md):

* **kept exposures** (in both snapshots, in t's leaf order): one link-circuit proof per piece
  (:mod:`proofs.linkcircuit`) whose inputs are the leaves' own commitments, with 30 row commitments
  per piece. Their sums over the pieces are opened (value and blinding): the **roll matrix** —
  loans by from-state (t−1) × to-state (t), and their t−1 balances by the same cells;
* **exits** (in t−1, not in t): the sum of their t−1 count inputs is opened and must hold zero in
  every outstanding slot. The rule: *an exposure leaves the pool only after a terminal state* —
  it may be absent from t only if its state at t−1 was WRITTEN_OFF, PREPAID, MATURED or
  REPURCHASED (it leaves in the month after it reached it; a terminal loan may also stay and is
  then counted in the matrix's terminal rows);
* **entries** (in t, not in t−1): exactly the period's listed purchases, carried in the bundle
  (their eligibility is proven elsewhere). A verifier that knows the purchase list passes it as
  ``purchases`` and the two must be equal.

:func:`prove_link` builds a bundle from the two snapshots' signed headers, the leaves' exposure ids
and the loans' openings (lane values and input blindings); :func:`verify_link` checks one against
the two snapshot bundles.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proofs import bundle, merkle
from proofs import linkcircuit as lc
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.executors import parallelism, run_in_order
from proofs.group import ORDER, POINT_BYTES, Group, Point, get_group
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, POOL_V4, LaneSet, get_lane_set
from proofs.loan_facts import OUTSTANDING_STATES, STATES, TERMINAL_STATES, LoanFacts
from proofs.pedersen import commit
from proofs.poolcircuit import LINK_BALANCE_INPUTS, LINK_COUNT_INPUT, LINK_LEAVES_BITS
from proofs.purchases import entries_row
from proofs.snapshot import (
    Header,
    decode_chunk,
    header_hash,
    loan_blindings,
    read_snapshot_parts,
    verify_header,
    verify_snapshot,
)
from proofs.transcript import Transcript

LINK_KIND: Final = "link"
LINK_VERSION: Final = 1
LINK_FORMAT: Final = bundle.format_string(LINK_KIND, LINK_VERSION)
#: Absorbed first into every piece proof's transcript, before the two header hashes.
LINK_PROTOCOL: Final = b"poolproof/link-proof/v1"
#: The leaf inputs a link reads: of t−1's leaves (counts and balances of kept loans, counts of
#: exits) and of t's (counts).
LINK_PREVIOUS_INPUTS: Final = frozenset({LINK_COUNT_INPUT, *LINK_BALANCE_INPUTS})
LINK_CURRENT_INPUTS: Final = frozenset({LINK_COUNT_INPUT})
_N: Final = len(STATES)
_N_OUT: Final = len(OUTSTANDING_STATES)
_R: Final = ORDER
_MAX_CELL: Final = (1 << 53) - 1


@dataclass(frozen=True)
class LinkLoan:
    """One loan of one snapshot as the link prover needs it: its exposure id, lane values
    (:attr:`proofs.lanes.LaneSet.lanes` order) and the blindings of its leaf's input commitments."""

    exposure_id: str
    values: tuple[int, ...] = field(repr=False)
    blindings: tuple[int, ...] = field(repr=False)


def link_loans(lanes: LaneSet, seed: bytes, facts: Iterable[LoanFacts]) -> list[LinkLoan]:
    """The prover's view of a sealed snapshot's loans from their facts and the snapshot seed."""
    return [
        LinkLoan(f.exposure_id, lanes.facts_values(f), tuple(loan_blindings(seed, f.exposure_id, lanes)))
        for f in facts
    ]


@dataclass(frozen=True)
class Leaf:
    """One leaf as a snapshot bundle carries it: exposure id and input commitments."""

    exposure_id: str
    inputs: tuple[Point, ...]


@dataclass(frozen=True)
class RollMatrix:
    """The opened roll matrix: ``counts[i][j]`` kept loans from state ``i`` (t−1) to ``j`` (t), and
    ``balances[i][j]`` their t−1 balances (``i`` over the outstanding states only)."""

    counts: tuple[tuple[int, ...], ...]
    balances: tuple[tuple[int, ...], ...]

    def rate(self, from_state: int, to_state: int, *, by: str = "count") -> tuple[int, int]:
        """The roll rate of a cell as ``(cell, from-state row total)`` (docs/metrics.md, "Roll rates")."""
        rows = self.counts if by == "count" else self.balances
        return rows[from_state][to_state], sum(rows[from_state])


@dataclass(frozen=True)
class LinkResult:
    """A verified link: both headers, the roll matrix, exits by t−1 state and the entries."""

    previous: Header
    current: Header
    roll: RollMatrix
    exits: tuple[str, ...]
    exits_by_state: tuple[int, ...]
    entries: tuple[str, ...]
    #: The entries row (:func:`proofs.purchases.entries_row`): per packed input, the sum of the
    #: entries' leaf commitments in t — what a period's purchase evidence must carry.
    entries_sums: tuple[Point, ...] = ()


# -------------------------------------------------------------------------------------------------
# Shared layout
# -------------------------------------------------------------------------------------------------


def _balance_slot_bits(lanes: LaneSet) -> int:
    assert lanes.packing is not None
    return lanes.packing[LINK_BALANCE_INPUTS[0]][1].shift


def _link_inputs(lanes: LaneSet, prev: Sequence[Any], cur: Sequence[Any]) -> list[Any]:
    """The four link inputs of a kept loan from its two leaves' input lists (commitments or values)."""
    b0, b1 = LINK_BALANCE_INPUTS
    return [prev[LINK_COUNT_INPUT], prev[b0], prev[b1], cur[LINK_COUNT_INPUT]]


def _piece_transcript(pool_id: str, cur_hash: bytes, prev_hash: bytes, piece: int) -> Transcript:
    t = Transcript(LINK_PROTOCOL)
    t.append_message(b"pool_id", str(pool_id).encode())
    t.append_message(b"previous_header_hash", prev_hash)
    t.append_message(b"current_header_hash", cur_hash)
    t.append_u64(b"piece", piece)
    return t


def _pack_counts(row: Sequence[int]) -> int:
    return sum(v << (LINK_LEAVES_BITS * j) for j, v in enumerate(row))


def _pack_balances(values: Sequence[int], width: int) -> int:
    return sum(v << (width * m) for m, v in enumerate(values))


def _row_values(counts: Sequence[Sequence[int]], balances: Sequence[Sequence[int]], width: int) -> list[int]:
    """The 30 row totals a roll matrix packs to (:mod:`proofs.linkcircuit` row order)."""
    out = [_pack_counts(counts[i]) for i in range(_N)]
    for j in range(_N):
        for k in range(2):
            out.append(_pack_balances([balances[3 * k + m][j] for m in range(3)], width))
    return out


def _check_pair(prev: Mapping[str, Any], cur: Mapping[str, Any], failure: type[Exception]) -> LaneSet:
    """The two headers are consecutive snapshots of one pool under one ``pool-v4`` lane set."""

    def fail(check: str, message: str) -> Exception:
        return VerificationError(check, message) if failure is VerificationError else ProvingError(message)

    if prev["pool_id"] != cur["pool_id"]:
        raise fail("link.pool", f"snapshots of different pools: {prev['pool_id']} and {cur['pool_id']}")
    if cur.get("previous_header_hash") != header_hash(dict(prev)).hex():
        raise fail(
            "link.chain", "the current header's previous_header_hash is not the previous header's hash"
        )
    name = prev["proof_params"]["lane_set"]
    if cur["proof_params"]["lane_set"] != name:
        raise fail("link.lane_set", "the two snapshots use different lane sets")
    lanes = get_lane_set(name)
    if lanes.family != POOL_V4:
        raise fail("link.lane_set", f"lane set {name} is not linkable (a link needs {POOL_V4})")
    return lanes


# -------------------------------------------------------------------------------------------------
# Prover
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PieceTask:
    """One piece of a link proof, as a worker proves it (picklable; carries its loans' openings)."""

    group_name: str
    params: lc.LinkParams
    ipa_rounds: int | None
    piece: int
    pool_id: str
    previous_header_hash: bytes
    current_header_hash: bytes
    loans: tuple[lc.KeptLoan, ...]
    #: The loans' four leaf commitments each, encoded (:func:`proofs.linkcircuit.encode_inputs`).
    inputs: bytes


@dataclass(frozen=True)
class PieceResult:
    """A proven piece: its row commitments (encoded), proof, and the rows' values and blindings."""

    rows: tuple[bytes, ...]
    proof: bytes
    values: tuple[int, ...]
    blindings: tuple[int, ...]


def _task_transcript(task: PieceTask) -> Transcript:
    return _piece_transcript(task.pool_id, task.current_header_hash, task.previous_header_hash, task.piece)


def prove_piece(task: PieceTask) -> PieceResult:
    """Prove one piece (runs on any worker); randomness from ``os.urandom``."""
    group = get_group(task.group_name)
    proof, rows, values, omegas = lc.prove_link_piece(
        group, task.params, task.loans, task.inputs, _task_transcript(task), ipa_rounds=task.ipa_rounds
    )
    return PieceResult(tuple(r.to_bytes() for r in rows), proof.to_bytes(), tuple(values), tuple(omegas))


def _check_piece_result(group: Group, task: PieceTask, result: PieceResult) -> None:
    """A worker's piece, checked before it is kept: rows that open to what it returned, a proof that
    verifies over the task's inputs (decoded without the subgroup check: this process made them)."""
    if (
        len(result.rows) != lc.ROWS
        or len(result.values) != lc.ROWS
        or len(result.blindings) != lc.ROWS
        or any(
            commit(group, v % _R, b % _R).to_bytes() != r
            for r, v, b in zip(result.rows, result.values, result.blindings, strict=True)
        )
    ):
        raise VerificationError("link.worker", f"piece {task.piece}: the rows do not open as returned")
    n = len(task.loans)
    step = POINT_BYTES
    points = [group.decode_checked_point(task.inputs[i : i + step]) for i in range(0, len(task.inputs), step)]
    inputs = [points[k * lc.INPUTS : (k + 1) * lc.INPUTS] for k in range(n)]
    try:
        rows = [group.decode_point(r, allow_identity=True) for r in result.rows]
        proof = lc.decode_proof(group, result.proof, n, task.ipa_rounds)
    except EncodingError as exc:
        raise VerificationError("link.worker", f"piece {task.piece}: {exc}") from None
    try:
        lc.verify_link_piece(
            group, lc.LinkPieceItem(task.params, inputs, rows, proof, _task_transcript(task))
        )
    except VerificationError as exc:
        raise VerificationError("link.worker", f"piece {task.piece}: {exc}") from None


def prove_link(
    key: Ed25519PrivateKey,
    prev_header: Mapping[str, Any],
    cur_header: Mapping[str, Any],
    prev_loans: Sequence[LinkLoan],
    cur_loans: Sequence[LinkLoan],
    *,
    entries: Sequence[str],
    prev_commitments: Sequence[Sequence[Point]] | None = None,
    cur_commitments: Sequence[Sequence[Point]] | None = None,
    ipa_rounds: int | None = None,
    group: Group | None = None,
    executor: Executor | None = None,
    max_in_flight: int | None = None,
    check_results: bool = False,
) -> dict[str, Any]:
    """The signed link bundle between two consecutive ``pool-v4`` snapshots.

    ``prev_loans`` and ``cur_loans`` are every loan of each snapshot *in leaf order*, with the
    openings they were sealed with; ``entries`` the exposure ids the period purchased (t's loans
    not in t−1, in any order). ``*_commitments`` are the leaves' input commitments in the same
    order (recomputed from the openings when not given). Piece proofs draw their randomness from
    ``os.urandom``.

    The pieces are independent proofs: with an ``executor`` (as for sealing, and under the same rule:
    their tasks carry openings, so only to a process pool or an encrypted or loopback scheduler,
    :func:`proofs.executors.open_executor` with ``secrets=True``) they are proven on its workers,
    ``max_in_flight`` at a time, and folded in order: the statement (pieces, roll matrix, exits,
    entries) does not depend on where they ran; the proofs differ run to run by their randomness.
    ``check_results``: the workers are not trusted with integrity (a cluster), so each piece is
    checked here before it is kept (its row commitments against the values and blindings it
    returned, and its proof verified).

    Raises:
        ProvingError: headers that are not consecutive snapshots of one pool under one pool-v4 lane
            set, an exit whose t−1 state is not terminal (named by exposure id), entries other than
            t's new loans, or openings that do not match the commitments.
        VerificationError: ``check_results`` and a worker returned a piece that does not hold.
    """
    group = group or get_group()
    lanes = _check_pair(prev_header, cur_header, ProvingError)
    if len(prev_loans) != prev_header["leaf_count"] or len(cur_loans) != cur_header["leaf_count"]:
        raise ProvingError("every loan of both snapshots is needed, in leaf order")
    for given, loans in ((prev_commitments, prev_loans), (cur_commitments, cur_loans)):
        if given is not None and len(given) != len(loans):
            raise ProvingError("commitments and loans differ in length")
    prev_index = {loan.exposure_id: i for i, loan in enumerate(prev_loans)}
    cur_ids = {loan.exposure_id for loan in cur_loans}
    kept = [
        (prev_index[loan.exposure_id], j)
        for j, loan in enumerate(cur_loans)
        if loan.exposure_id in prev_index
    ]
    new = [loan.exposure_id for loan in cur_loans if loan.exposure_id not in prev_index]
    if sorted(new) != sorted(entries) or len(set(entries)) != len(entries):
        raise ProvingError("entries must be exactly the current snapshot's loans that the previous one lacks")
    n_amount = len(lanes.balance_lanes)
    exits = [i for i, loan in enumerate(prev_loans) if loan.exposure_id not in cur_ids]
    for i in exits:
        state = _state(prev_loans[i], n_amount)
        if STATES[state] not in TERMINAL_STATES:
            raise ProvingError(
                f"exposure {prev_loans[i].exposure_id} leaves the pool in state {STATES[state]}: "
                "a loan may leave only after a terminal state"
            )
    width = _balance_slot_bits(lanes)
    prev_hash = header_hash(dict(prev_header))
    cur_hash = header_hash(dict(cur_header))
    params = lc.LinkParams(lanes.name, width)
    group_name = group.name

    def tasks() -> Iterator[PieceTask]:
        offset = 0
        for piece, size in enumerate(lc.split_loans(len(kept)) if kept else []):
            witnesses: list[lc.KeptLoan] = []
            inputs: list[list[Point]] = []
            for pi, ci in kept[offset : offset + size]:
                p, c = prev_loans[pi], cur_loans[ci]
                pv = lanes.input_values(p.values)
                b = _link_inputs(lanes, p.blindings, c.blindings)
                witnesses.append(
                    lc.KeptLoan(
                        _state(p, n_amount),
                        _state(c, n_amount),
                        (pv[LINK_BALANCE_INPUTS[0]], pv[LINK_BALANCE_INPUTS[1]]),
                        (b[0], b[1], b[2], b[3]),
                    )
                )
                prev_in = _inputs_of(
                    group, lanes, p, None if prev_commitments is None else prev_commitments[pi]
                )
                cur_in = _inputs_of(group, lanes, c, None if cur_commitments is None else cur_commitments[ci])
                inputs.append(_link_inputs(lanes, prev_in, cur_in))
            rounds = None if ipa_rounds is None else min(ipa_rounds, lc.gate_count(size).bit_length() - 1)
            yield PieceTask(
                group_name, params, rounds, piece, str(prev_header["pool_id"]), prev_hash, cur_hash,
                tuple(witnesses), lc.encode_inputs(inputs),
            )  # fmt: skip
            offset += size

    pieces: list[dict[str, Any]] = []
    row_sums = [0] * lc.ROWS
    blind_sums = [0] * lc.ROWS

    def settle(task: PieceTask, result: PieceResult) -> None:
        if check_results:
            _check_piece_result(group, task, result)
        for r in range(lc.ROWS):
            row_sums[r] += result.values[r]
            blind_sums[r] = (blind_sums[r] + result.blindings[r]) % _R
        pieces.append(
            {"loans": len(task.loans), "rows": [r.hex() for r in result.rows], "proof": result.proof.hex()}
        )

    run_in_order(tasks(), prove_piece, settle, executor, max_in_flight)
    counts = [[0] * _N for _ in range(_N)]
    balances = [[0] * _N for _ in range(_N_OUT)]
    for pi, ci in kept:
        p, c = prev_loans[pi], cur_loans[ci]
        i, j = _state(p, n_amount), _state(c, n_amount)
        counts[i][j] += 1
        if i < _N_OUT:
            balances[i][j] += p.values[i]
    if [v % _R for v in _row_values(counts, balances, width)] != [v % _R for v in row_sums]:
        raise ProvingError("the openings do not give one roll matrix (a lane value breaks the statement)")
    exit_blinding = sum(prev_loans[i].blindings[LINK_COUNT_INPUT] for i in exits) % _R
    exit_states = [0] * _N
    for i in exits:
        exit_states[_state(prev_loans[i], n_amount)] += 1
    doc = {
        "format": LINK_FORMAT,
        "pool_id": prev_header["pool_id"],
        "lane_set": lanes.name,
        "previous": _side(prev_header, prev_hash),
        "current": _side(cur_header, cur_hash),
        "ipa_rounds": ipa_rounds,
        "kept": len(kept),
        "pieces": pieces,
        "roll": {
            "from_states": list(STATES),
            "counts": counts,
            "balances": balances,
            "row_blindings": [b.to_bytes(32, "big").hex() for b in blind_sums],
        },
        "exits": {
            "exposure_ids": [prev_loans[i].exposure_id for i in exits],
            "by_state": exit_states,
            "blinding": exit_blinding.to_bytes(32, "big").hex(),
        },
        "entries": list(new),
    }
    return bundle.sign_document(key, LINK_KIND, doc)


def _side(header: Mapping[str, Any], h: bytes) -> dict[str, Any]:
    return {
        "snapshot_id": header["snapshot_id"],
        "cutoff_date": header["cutoff_date"],
        "sequence": header["sequence"],
        "leaf_count": header["leaf_count"],
        "header_hash": h.hex(),
    }


def _state(loan: LinkLoan, n_amount: int) -> int:
    counts = loan.values[n_amount:]
    if sorted(counts) != [0] * (_N - 1) + [1]:
        raise ProvingError(f"exposure {loan.exposure_id}: count lanes must hold a single 1")
    return list(counts).index(1)


def _inputs_of(group: Group, lanes: LaneSet, loan: LinkLoan, given: Sequence[Point] | None) -> list[Point]:
    """A loan's leaf commitments: as given, else recomputed for the inputs a link reads (others None)."""
    if given is not None:
        return list(given)
    values = lanes.input_values(loan.values)
    wanted = LINK_PREVIOUS_INPUTS
    return [
        commit(group, v % _R, b) if g in wanted else group.identity()
        for g, (v, b) in enumerate(zip(values, loan.blindings, strict=True))
    ]


# -------------------------------------------------------------------------------------------------
# Verifier
# -------------------------------------------------------------------------------------------------

_HEX32 = bundle.Bytes(32)
_POINT = bundle.Bytes(48)
_SIDE = bundle.Object(
    {
        "snapshot_id": bundle.Str(128),
        "cutoff_date": bundle.Date(),
        "sequence": bundle.Int(0, 1 << 40),
        "leaf_count": bundle.Int(0, 1 << 40),
        "header_hash": _HEX32,
    }
)
_EID = bundle.Str(64, r"[A-Za-z0-9_-]{1,64}")
_CELL = bundle.Int(0, _MAX_CELL)
LINK_SCHEMA: Final = bundle.Object(
    {
        "format": bundle.Str(64),
        "pool_id": bundle.Str(128),
        "lane_set": bundle.Str(512),
        "previous": _SIDE,
        "current": _SIDE,
        "ipa_rounds": bundle.Nullable(bundle.Int(1, 64)),
        "kept": bundle.Int(0, 1 << 40),
        "pieces": bundle.ListOf(
            bundle.Object(
                {
                    "loans": bundle.Int(1, 1 << 40),
                    "rows": bundle.ListOf(_POINT, lc.ROWS, lc.ROWS),
                    "proof": bundle.Bytes(max_length=1 << 26),
                }
            ),
            0,
            1 << 20,
        ),
        "roll": bundle.Object(
            {
                "from_states": bundle.ListOf(bundle.Str(32), _N, _N),
                "counts": bundle.ListOf(bundle.ListOf(_CELL, _N, _N), _N, _N),
                "balances": bundle.ListOf(bundle.ListOf(_CELL, _N, _N), _N_OUT, _N_OUT),
                "row_blindings": bundle.ListOf(_HEX32, lc.ROWS, lc.ROWS),
            }
        ),
        "exits": bundle.Object(
            {
                "exposure_ids": bundle.ListOf(_EID),
                "by_state": bundle.ListOf(_CELL, _N, _N),
                "blinding": _HEX32,
            }
        ),
        "entries": bundle.ListOf(_EID),
        "signatures": bundle.SIGNATURES_SPEC,
    }
)


@dataclass(frozen=True)
class SnapshotLeaves:
    """A snapshot's verified header and its leaves (Merkle root recomputed against the header)."""

    header: Header
    leaves: tuple[Leaf, ...]


def read_leaves(
    text: str,
    gateway_key: Ed25519PublicKey,
    *,
    group: Group | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> SnapshotLeaves:
    """The header (signature checked) and every leaf of a snapshot bundle, with the Merkle root and
    leaf count recomputed from the leaves (``link.leaves`` when they differ from the header's).

    This does not check the snapshot's proofs: :func:`verify_link` runs
    :func:`proofs.snapshot.verify_snapshot` for that unless told it already ran.
    """
    group = group or get_group()
    header_doc, _table, chunks = read_snapshot_parts(io.StringIO(text))
    header = verify_header(header_doc, gateway_key, group=group, lane_sets=lane_sets)
    size = 1 << header.params.chunk_log2
    n_inputs = len(header.lanes.inputs)
    leaves: list[Leaf] = []
    roots: list[bytes] = []
    for index, chunk in enumerate(chunks):
        expected = min(size, header.leaf_count - index * size)
        if expected <= 0:
            raise VerificationError("link.leaves", f"chunk {index} is beyond the header's leaf count")
        points, hashes, _ = decode_chunk(
            group, n_inputs, chunk, index, expected, header.params.strata_dimensions
        )
        roots.append(merkle.root(hashes))
        leaves += [Leaf(leaf[0], tuple(p)) for leaf, p in zip(chunk["leaves"], points, strict=True)]
    if len(leaves) != header.leaf_count:
        raise VerificationError("link.leaves", f"{len(leaves)} leaves, the header says {header.leaf_count}")
    root = (
        merkle.fold_chunk_roots(roots, header.leaf_count, header.params.chunk_log2)
        if roots
        else merkle.root([])
    )
    if root != header.merkle_root:
        raise VerificationError("link.leaves", "the leaves do not hash to the header's Merkle root")
    return SnapshotLeaves(header, tuple(leaves))


def verify_link(
    prev_bundle: str | SnapshotLeaves,
    cur_bundle: str | SnapshotLeaves,
    link_doc: object,
    gateway_key: Ed25519PublicKey,
    *,
    purchases: Collection[str] | None = None,
    verify_snapshots: bool = True,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    group: Group | None = None,
    executor: Executor | None = None,
    max_in_flight: int | None = None,
) -> LinkResult:
    """Check a link bundle against the two snapshot bundles (their text, or leaves already read).

    With an ``executor`` the snapshot audits run on it and the piece proofs are batch-verified in one
    share per worker (one multi-scalar multiplication each); inline, all pieces are one batch.

    With ``verify_snapshots`` (the default) each snapshot given as text is first fully audited
    (:func:`proofs.snapshot.verify_snapshot`): the link's soundness rests on both seals. Pass
    ``purchases`` to require that the entries are exactly those exposures.

    Raises:
        EncodingError: a malformed link bundle (names the path), or a malformed snapshot bundle.
        VerificationError: ``link.signature``, ``link.pool``, ``link.chain``, ``link.lane_set``,
            ``link.snapshots`` (the bundle names other snapshots), ``link.leaves``, ``link.kept``
            (piece sizes or the kept count do not fit the kept loans), ``linkcircuit.shape`` /
            ``linkcircuit.batch`` (a piece proof), ``link.roll_opening`` (the opened matrix does not
            open the summed row commitments), ``link.roll_total``, ``link.exits`` (the listed
            exits are not the exposures that left), ``link.exit_opening``, ``link.exit_state`` (an
            exposure left from an outstanding state), ``link.entries`` (not exactly the new
            exposures, or not the purchases), any check of the snapshot audit.
    """
    group = group or get_group()
    bundle.check_document(link_doc, LINK_KIND, {LINK_VERSION}, LINK_SCHEMA)
    assert isinstance(link_doc, dict)
    try:
        bundle.verify_document(link_doc, LINK_KIND, gateway_key)
    except VerificationError as exc:
        raise VerificationError("link.signature", str(exc)) from exc
    prev = _leaves_of(prev_bundle, gateway_key, verify_snapshots, lane_sets, group, executor)
    cur = _leaves_of(cur_bundle, gateway_key, verify_snapshots, lane_sets, group, executor)
    lanes = _check_pair(prev.header.doc, cur.header.doc, VerificationError)
    for side, snap in (("previous", prev), ("current", cur)):
        if link_doc[side]["header_hash"] != snap.header.hash.hex() or link_doc[side] != _side(
            snap.header.doc, snap.header.hash
        ):
            raise VerificationError("link.snapshots", f"the link's {side} snapshot is not the one given")
    if link_doc["pool_id"] != prev.header.context.pool_id or link_doc["lane_set"] != lanes.name:
        raise VerificationError("link.snapshots", "the link names another pool or lane set")

    prev_index = {leaf.exposure_id: i for i, leaf in enumerate(prev.leaves)}
    cur_ids = {leaf.exposure_id for leaf in cur.leaves}
    kept = [
        (prev_index[leaf.exposure_id], j)
        for j, leaf in enumerate(cur.leaves)
        if leaf.exposure_id in prev_index
    ]
    sizes = [p["loans"] for p in link_doc["pieces"]]
    if link_doc["kept"] != len(kept) or sizes != (lc.split_loans(len(kept)) if kept else []):
        raise VerificationError("link.kept", f"the pieces do not cover the {len(kept)} kept exposures")
    rounds = link_doc["ipa_rounds"]
    params = lc.LinkParams(lanes.name, _balance_slot_bits(lanes))
    totals: list[Point] = [group.identity()] * lc.ROWS
    checks: list[_PieceCheck] = []
    offset = 0
    for index, piece in enumerate(link_doc["pieces"]):
        size = piece["loans"]
        encoded_rows = tuple(bytes.fromhex(r) for r in piece["rows"])
        try:
            rows = [group.decode_point(r, allow_identity=True) for r in encoded_rows]
        except EncodingError as exc:
            raise EncodingError(f"pieces[{index}]: {exc}") from None
        totals = [t + r for t, r in zip(totals, rows, strict=True)]
        checks.append(_PieceCheck(index, offset, size, encoded_rows, bytes.fromhex(piece["proof"])))
        offset += size
    pool_id = prev.header.context.pool_id
    hashes = (prev.header.hash, cur.header.hash)
    workers = parallelism(executor)
    if workers <= 1 or len(checks) <= 1:
        items = [
            _piece_item(group, params, rounds, pool_id, hashes, c, _piece_inputs(lanes, prev, cur, kept, c))
            for c in checks
        ]
        lc.batch_verify_link(group, items)
    else:
        share = -(-len(checks) // workers)
        tasks = [
            _VerifyTask(
                group.name,
                params,
                rounds,
                pool_id,
                hashes,
                tuple(
                    (c, lc.encode_inputs(_piece_inputs(lanes, prev, cur, kept, c)))
                    for c in checks[k : k + share]
                ),
            )
            for k in range(0, len(checks), share)
        ]
        run_in_order(tasks, verify_pieces, lambda _t, _r: None, executor, max_in_flight)

    roll = link_doc["roll"]
    if roll["from_states"] != list(STATES):
        raise VerificationError("link.roll_opening", "the matrix's states are not the ten states in order")
    counts, balances = roll["counts"], roll["balances"]
    width = params.balance_slot_bits
    if any(v >= 1 << LINK_LEAVES_BITS for row in counts for v in row) or any(
        v >= 1 << width for row in balances for v in row
    ):
        raise VerificationError("link.roll_opening", "a cell is wider than its slot")
    values = _row_values(counts, balances, width)
    for r, (total, value, blind_hex) in enumerate(zip(totals, values, roll["row_blindings"], strict=True)):
        blinding = int(blind_hex, 16)
        if blinding >= _R or commit(group, value % _R, blinding) != total:
            raise VerificationError(
                "link.roll_opening", f"row {r}: the opened cells do not open the row total"
            )
    if sum(map(sum, counts)) != len(kept):
        raise VerificationError("link.roll_total", "the matrix does not count every kept exposure once")

    exits = [leaf for leaf in prev.leaves if leaf.exposure_id not in cur_ids]
    listed = link_doc["exits"]
    if listed["exposure_ids"] != [leaf.exposure_id for leaf in exits]:
        raise VerificationError(
            "link.exits", "the listed exits are not the exposures absent from the current snapshot"
        )
    by_state = listed["by_state"]
    if sum(by_state) != len(exits) or any(v >= 1 << LINK_LEAVES_BITS for v in by_state):
        raise VerificationError("link.exit_opening", "the exits by state do not count every exit once")
    exit_sum = group.identity()
    for leaf in exits:
        exit_sum = exit_sum + leaf.inputs[LINK_COUNT_INPUT]
    exit_blinding = int(listed["blinding"], 16)
    if exit_blinding >= _R or commit(group, _pack_counts(by_state) % _R, exit_blinding) != exit_sum:
        raise VerificationError(
            "link.exit_opening", "the exits' t−1 count inputs do not open to the stated states"
        )
    if any(by_state[s] for s in range(_N_OUT)):
        raise VerificationError(
            "link.exit_state",
            "an exposure left the pool from an outstanding state (only terminal loans leave)",
        )

    new = [leaf.exposure_id for leaf in cur.leaves if leaf.exposure_id not in prev_index]
    if link_doc["entries"] != new:
        raise VerificationError(
            "link.entries", "the listed entries are not the exposures new in the current snapshot"
        )
    if purchases is not None and sorted(set(purchases)) != sorted(new):
        raise VerificationError("link.entries", "the new exposures are not exactly the period's purchases")
    matrix = RollMatrix(tuple(map(tuple, counts)), tuple(map(tuple, balances)))
    _, entry_sums = entries_row(
        group, len(lanes.inputs), [leaf.inputs for leaf in cur.leaves if leaf.exposure_id not in prev_index]
    )
    return LinkResult(
        prev.header,
        cur.header,
        matrix,
        tuple(listed["exposure_ids"]),
        tuple(by_state),
        tuple(new),
        tuple(entry_sums),
    )


@dataclass(frozen=True)
class _PieceCheck:
    """One piece of a link bundle to verify: where its loans start among the kept ones, its rows'
    and its proof's bytes."""

    index: int
    offset: int
    loans: int
    rows: tuple[bytes, ...]
    proof: bytes


@dataclass(frozen=True)
class _VerifyTask:
    """Pieces of one link for a worker to batch-verify (public data only)."""

    group_name: str
    params: lc.LinkParams
    ipa_rounds: int | None
    pool_id: str
    hashes: tuple[bytes, bytes]
    pieces: tuple[tuple[_PieceCheck, bytes], ...]


def _piece_inputs(
    lanes: LaneSet, prev: SnapshotLeaves, cur: SnapshotLeaves, kept: Sequence[tuple[int, int]], c: _PieceCheck
) -> list[list[Point]]:
    return [
        _link_inputs(lanes, prev.leaves[pi].inputs, cur.leaves[ci].inputs)
        for pi, ci in kept[c.offset : c.offset + c.loans]
    ]


def _piece_item(
    group: Group,
    params: lc.LinkParams,
    rounds: int | None,
    pool_id: str,
    hashes: tuple[bytes, bytes],
    c: _PieceCheck,
    inputs: Sequence[Sequence[Point]],
) -> lc.LinkPieceItem:
    piece_rounds = None if rounds is None else min(rounds, lc.gate_count(c.loans).bit_length() - 1)
    try:
        rows = [group.decode_point(r, allow_identity=True) for r in c.rows]
        proof = lc.decode_proof(group, c.proof, c.loans, piece_rounds)
    except EncodingError as exc:
        raise EncodingError(f"pieces[{c.index}]: {exc}") from None
    transcript = _piece_transcript(pool_id, hashes[1], hashes[0], c.index)
    return lc.LinkPieceItem(params, inputs, rows, proof, transcript)


def verify_pieces(task: _VerifyTask) -> None:
    """Batch-verify a share of a link's pieces (runs on any worker; raises like :func:`verify_link`).
    The inputs are leaf commitments the caller decoded with every check, so only the curve check is
    repeated here."""
    group = get_group(task.group_name)
    items = []
    for check, encoded in task.pieces:
        points = [
            group.decode_checked_point(encoded[i : i + POINT_BYTES])
            for i in range(0, len(encoded), POINT_BYTES)
        ]
        inputs = [points[k * lc.INPUTS : (k + 1) * lc.INPUTS] for k in range(check.loans)]
        items.append(
            _piece_item(group, task.params, task.ipa_rounds, task.pool_id, task.hashes, check, inputs)
        )
    lc.batch_verify_link(group, items)


def _leaves_of(
    source: str | SnapshotLeaves,
    key: Ed25519PublicKey,
    audit: bool,
    lane_sets: Collection[str],
    group: Group,
    executor: Executor | None = None,
) -> SnapshotLeaves:
    if isinstance(source, SnapshotLeaves):
        return source
    if not audit:
        return read_leaves(source, key, group=group, lane_sets=lane_sets)
    return audited_leaves(source, key, group=group, lane_sets=lane_sets, executor=executor)


def audited_leaves(
    text: str,
    gateway_key: Ed25519PublicKey,
    *,
    group: Group | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    executor: Executor | None = None,
) -> SnapshotLeaves:
    """The snapshot's full audit (:func:`proofs.snapshot.verify_snapshot`, on ``executor``) and, from
    the same reading of the bundle, its header and every leaf: what :func:`read_leaves` gives, without
    parsing the bundle a second time. The audit checks every leaf point (curve and subgroup), so the
    points are decoded here with the curve check only."""
    group = group or get_group()
    read: list[tuple[str, bytes]] = []
    header = verify_snapshot(
        io.StringIO(text), gateway_key, lane_sets=lane_sets, executor=executor,
        leaves=lambda eid, raw: read.append((eid, raw)),
    )  # fmt: skip
    step = POINT_BYTES
    leaves = tuple(
        Leaf(eid, tuple(group.decode_checked_point(raw[i : i + step]) for i in range(0, len(raw), step)))
        for eid, raw in read
    )
    return SnapshotLeaves(header, leaves)


# -------------------------------------------------------------------------------------------------
# The compact form of one roll-rate cell
# -------------------------------------------------------------------------------------------------
#
# An aggregate-only party gets neither the leaves nor the whole matrix. It gets the signed *link
# header* (``poolproof/link-header/v1``: both snapshots and the 30 row totals, the sums of the
# pieces' row commitments) and, per figure, a *roll figure* (``poolproof/roll-figure/v1``): one
# cell of one row, and for a count cell its from-state row total, with a proof that the row
# total's commitment ``W = (Σ_m d_m·2^(s_m))·G + ω·H`` holds that digit at that slot:
#
# * commitments ``D_m = d_m·G + ρ_m·H`` to every *other* digit of the row, range-proven below their
#   slot width (one aggregated range proof, :func:`proofs.bulletproofs.prove_ranges`);
# * a Schnorr proof that ``Σ_{m≠t} 2^(s_m)·D_m + cell·2^(s_t)·G − W`` is a multiple of ``H`` (so
#   ``W``'s value is ``cell·2^(s_t) + Σ d_m·2^(s_m)`` mod r with every ``d_m`` below its width);
# * for a count cell, a second one with the same challenge that ``Σ_{m≠t} D_m + cell·G − total·G``
#   is a multiple of ``H`` (the row total is the sum of the digits).
#
# Soundness: the link's verification (by an auditor, or the witnesses) proved ``W`` opens to a
# packing with every digit below its width; both packings are below 2^254 < r, so they are equal
# as integers and have the same digits: the cell and the row total are the matrix's. What the
# investor relies on is the link header's signature (as for a snapshot header's aggregates).

LINK_HEADER_KIND: Final = "link-header"
ROLL_FIGURE_KIND: Final = "roll-figure"
ROLL_FIGURE_PROTOCOL: Final = b"poolproof/roll-figure/v1"
_LINK_HEADER_DOMAIN: Final = "link-header-hash/v1"


def link_header(
    key: Ed25519PrivateKey, link_doc: Mapping[str, Any], group: Group | None = None
) -> dict[str, Any]:
    """The signed link header of a link bundle: both snapshots and the 30 row totals."""
    group = group or get_group()
    totals = [group.identity()] * lc.ROWS
    for piece in link_doc["pieces"]:
        rows = [group.decode_point(bytes.fromhex(r), allow_identity=True) for r in piece["rows"]]
        totals = [t + r for t, r in zip(totals, rows, strict=True)]
    doc = {
        "format": bundle.format_string(LINK_HEADER_KIND, 1),
        "pool_id": link_doc["pool_id"],
        "lane_set": link_doc["lane_set"],
        "previous": link_doc["previous"],
        "current": link_doc["current"],
        "kept": link_doc["kept"],
        "row_totals": [t.to_bytes().hex() for t in totals],
    }
    return bundle.sign_document(key, LINK_HEADER_KIND, doc)


_LINK_HEADER_SCHEMA: Final = bundle.Object(
    {
        "format": bundle.Str(64),
        "pool_id": bundle.Str(128),
        "lane_set": bundle.Str(512),
        "previous": _SIDE,
        "current": _SIDE,
        "kept": bundle.Int(0, 1 << 40),
        "row_totals": bundle.ListOf(_POINT, lc.ROWS, lc.ROWS),
        "signatures": bundle.SIGNATURES_SPEC,
    }
)
_ROLL_FIGURE_SCHEMA: Final = bundle.Object(
    {
        "format": bundle.Str(64),
        "link_header": bundle.AnyJson(),
        "by": bundle.Str(8, "count|balance"),
        "from_state": bundle.Str(32),
        "to_state": bundle.Str(32),
        "cell": _CELL,
        "row_total": bundle.Nullable(_CELL),
        "digits": bundle.ListOf(_POINT, 1, _N),
        "range_proof": bundle.Bytes(max_length=1 << 16),
        "R": _POINT,
        "R_total": bundle.Nullable(_POINT),
        "s": _HEX32,
        "s_total": bundle.Nullable(_HEX32),
    }
)


def _figure_slots(lanes: LaneSet, by: str, from_state: int, to_state: int) -> tuple[int, int, list[int], int]:
    """``(row, target slot, slot shifts, width)`` of a cell (docs/metrics.md "Roll rates")."""
    if by == "count":
        return lc.count_row(from_state), to_state, [LINK_LEAVES_BITS * j for j in range(_N)], LINK_LEAVES_BITS
    if by == "balance" and from_state < _N_OUT:
        width = _balance_slot_bits(lanes)
        return lc.balance_row(to_state, from_state // 3), from_state % 3, [width * m for m in range(3)], width
    raise ValueError(f"no {by} cell from {STATES[from_state]}")


def _figure_transcript(
    header_doc: Mapping[str, Any], by: str, i: int, j: int, cell: int, total: int | None
) -> Transcript:
    t = Transcript(ROLL_FIGURE_PROTOCOL)
    t.append_message(b"link_header", bundle_hash(header_doc))
    t.append_message(b"by", by.encode())
    t.append_u64(b"from_state", i)
    t.append_u64(b"to_state", j)
    t.append_u64(b"cell", cell)
    t.append_u64(b"row_total", 0 if total is None else total + 1)
    return t


def bundle_hash(doc: Mapping[str, Any]) -> bytes:
    """The hash of a signed document without its signatures (what a figure's proof is bound to)."""
    from proofs.canonical import document_hash

    return document_hash(_LINK_HEADER_DOMAIN, bundle.unsigned_body(doc))


def prove_roll_figure(
    header_doc: Mapping[str, Any],
    link_doc: Mapping[str, Any],
    from_state: int,
    to_state: int,
    *,
    by: str = "count",
    group: Group | None = None,
) -> dict[str, Any]:
    """The roll figure of one cell against a signed link header, from the link bundle's openings.

    Raises:
        ValueError: a balance cell from a terminal state, or a header of another link.
    """
    from proofs import bulletproofs as bp
    from proofs._ipa import os_scalars

    group = group or get_group()
    if header_doc["current"] != link_doc["current"] or header_doc["previous"] != link_doc["previous"]:
        raise ValueError("the link header is not this link's")
    lanes = get_lane_set(link_doc["lane_set"])
    row, target, shifts, width = _figure_slots(lanes, by, from_state, to_state)
    roll = link_doc["roll"]
    if by == "count":
        digits = list(roll["counts"][from_state])
    else:
        digits = [roll["balances"][3 * (from_state // 3) + m][to_state] for m in range(3)]
    cell = digits[target]
    total = sum(digits) if by == "count" else None
    others = [m for m in range(len(digits)) if m != target]
    blinds = os_scalars(len(others) + 2)
    rhos, k_cell, k_total = blinds[: len(others)], blinds[-2], blinds[-1]
    omega = int(roll["row_blindings"][row], 16)
    widths = bp.pad_widths([width] * len(others))
    pad = len(widths) - len(others)
    transcript = _figure_transcript(header_doc, by, from_state, to_state, cell, total)
    proof, commitments = bp.prove_ranges(
        group, [digits[m] for m in others] + [0] * pad, rhos + [0] * pad, widths, transcript
    )
    _, h = _bases(group)
    r_cell = h * k_cell
    r_total = h * k_total if total is not None else None
    transcript.append_point(b"R", r_cell)
    if r_total is not None:
        transcript.append_point(b"R_total", r_total)
    e = transcript.challenge_scalar(b"e")
    delta = (sum(rho << shifts[m] for rho, m in zip(rhos, others, strict=True)) - omega) % _R
    s_cell = (k_cell + e * delta) % _R
    s_total = None if total is None else (k_total + e * (sum(rhos) % _R)) % _R
    return {
        "format": bundle.format_string(ROLL_FIGURE_KIND, 1),
        "link_header": dict(header_doc),
        "by": by,
        "from_state": STATES[from_state],
        "to_state": STATES[to_state],
        "cell": cell,
        "row_total": total,
        "digits": [c.to_bytes().hex() for c in commitments[: len(others)]],
        "range_proof": proof.to_bytes().hex(),
        "R": r_cell.to_bytes().hex(),
        "R_total": None if r_total is None else r_total.to_bytes().hex(),
        "s": s_cell.to_bytes(32, "big").hex(),
        "s_total": None if s_total is None else s_total.to_bytes(32, "big").hex(),
    }


def _bases(group: Group) -> tuple[Point, Point]:
    from proofs.generators import pedersen_bases

    return pedersen_bases(group)


@dataclass(frozen=True)
class RollFigure:
    """A verified roll-rate cell: ``cell`` of ``from_state → to_state`` and, by count, the row total."""

    pool_id: str
    previous_snapshot: str
    current_snapshot: str
    by: str
    from_state: str
    to_state: str
    cell: int
    row_total: int | None


def verify_roll_figure(
    doc: object, gateway_key: Ed25519PublicKey, *, group: Group | None = None
) -> RollFigure:
    """Check one roll-rate figure against its signed link header.

    Raises:
        EncodingError: a malformed figure or link header (names the path).
        VerificationError: ``roll.header_signature``, ``roll.cell`` (the slot proof fails),
            ``roll.range`` (a digit's range proof fails), ``roll.row_total``.
    """
    from proofs import bulletproofs as bp

    group = group or get_group()
    bundle.check_document(doc, ROLL_FIGURE_KIND, {1}, _ROLL_FIGURE_SCHEMA)
    assert isinstance(doc, dict)
    header = doc["link_header"]
    bundle.check_document(header, LINK_HEADER_KIND, {1}, _LINK_HEADER_SCHEMA)
    try:
        bundle.verify_document(header, LINK_HEADER_KIND, gateway_key)
    except VerificationError as exc:
        raise VerificationError("roll.header_signature", str(exc)) from exc
    try:
        lanes = get_lane_set(header["lane_set"])
    except KeyError as exc:
        raise EncodingError(f"link_header.lane_set: {exc.args[0]}") from None
    if lanes.family != POOL_V4 or doc["from_state"] not in STATES or doc["to_state"] not in STATES:
        raise EncodingError("roll figure: unknown lane set or state")
    i, j, by = STATES.index(doc["from_state"]), STATES.index(doc["to_state"]), doc["by"]
    try:
        row, target, shifts, width = _figure_slots(lanes, by, i, j)
    except ValueError as exc:
        raise EncodingError(f"roll figure: {exc}") from None
    total, cell = doc["row_total"], doc["cell"]
    if (total is None) != (by == "balance") or (doc["R_total"] is None) != (total is None):
        raise EncodingError("roll figure: a count figure has a row total, a balance figure none")
    others = [m for m in range(len(shifts)) if m != target]
    if len(doc["digits"]) != len(others):
        raise EncodingError(f"roll figure: expected {len(others)} digit commitments")
    if cell >= 1 << width or (total is not None and not cell <= total < 1 << LINK_LEAVES_BITS):
        raise VerificationError("roll.cell", "the cell is wider than its slot or above its row total")
    widths = bp.pad_widths([width] * len(others))
    digits = [group.decode_point(bytes.fromhex(d), allow_identity=True) for d in doc["digits"]]
    padded = digits + [group.identity()] * (len(widths) - len(others))
    w_row = group.decode_point(bytes.fromhex(header["row_totals"][row]), allow_identity=True)
    proof = bp.decode_ranges(group, bytes.fromhex(doc["range_proof"]), widths)
    transcript = _figure_transcript(header, by, i, j, cell, total)
    try:
        bp.verify_ranges(group, padded, widths, proof, transcript)
    except VerificationError as exc:
        raise VerificationError("roll.range", str(exc)) from exc
    r_cell = group.decode_point(bytes.fromhex(doc["R"]))
    transcript.append_point(b"R", r_cell)
    r_total = None
    if doc["R_total"] is not None:
        r_total = group.decode_point(bytes.fromhex(doc["R_total"]))
        transcript.append_point(b"R_total", r_total)
    e = transcript.challenge_scalar(b"e")
    g, h = _bases(group)
    s_cell = int(doc["s"], 16)
    d_cell = group.msm([*digits, g], [*(1 << shifts[m] for m in others), cell << shifts[target]]) - w_row
    if s_cell >= _R or h * s_cell != r_cell + d_cell * e:
        raise VerificationError("roll.cell", "the row total does not hold this cell at its slot")
    if r_total is not None and total is not None:
        s_total = int(doc["s_total"], 16)
        d_total = group.msm([*digits, g], [*(1 for _ in others), (cell - total) % _R])
        if s_total >= _R or h * s_total != r_total + d_total * e:
            raise VerificationError("roll.row_total", "the digits do not add up to the row total")
    return RollFigure(
        header["pool_id"],
        header["previous"]["snapshot_id"],
        header["current"]["snapshot_id"],
        by,
        doc["from_state"],
        doc["to_state"],
        cell,
        total,
    )
