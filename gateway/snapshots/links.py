"""Linked months on the gateway: each sealed ``pool-v4`` snapshot is linked to the pool's one before it.

When a seal job finishes a snapshot whose pool has an earlier sealed snapshot under the same linkable
lane set, the gateway proves the link between them (:func:`proofs.link.prove_link`: every kept loan's
previous state and balance read from the earlier leaf, the roll matrix, exits only after a terminal
state, entries exactly the period's new loans) and stores the signed link bundle with the snapshot, in
the same transaction (:mod:`gateway.snapshots.seal_jobs`). The openings come from the two snapshots'
seeds and their tapes' loans, as every other proof the gateway makes of a sealed snapshot.

A link the data cannot support — a loan gone from the tape while still outstanding, the pool's per-loan
cap changed between the months (two lane sets) — is stored as *refused* with the reason: the month is
still sealed (its own statement holds), the chain of headers is unbroken, but no roll matrix exists for
it and ``poolproof-audit verify-series`` says so. The reason names exposure ids; it is served only to
the parties that may read snapshot bundles.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs.errors import ProvingError
from proofs.group import ORDER, POINT_BYTES, Point, get_group
from proofs.lanes import POOL_V4, LaneSet
from proofs.link import (
    LINK_CURRENT_INPUTS,
    LINK_PREVIOUS_INPUTS,
    LinkLoan,
    link_header,
    link_loans,
    prove_link,
    prove_roll_figure,
)
from proofs.loan_facts import STATES
from proofs.pedersen import commit_many

from ..errors import GatewayError
from ..ingest.pool_settings import PoolConfig
from ..keys.keyring import PoolKeys
from ..loan_facts import LoanFactsError, loan_facts
from ..storage import links as link_rows
from ..storage import snapshots as snapshot_rows
from ..storage.links import LinkRecord
from ..storage.records import get_tape, iter_loans
from ..storage.snapshots import SnapshotRecord
from .sealed import decode_leaves, snapshot_seed, snapshot_tape_id

log = logging.getLogger(__name__)


def linkable(lanes: LaneSet) -> bool:
    """Whether snapshots sealed under ``lanes`` are linked month to month (the ``pool-v4`` family)."""
    return lanes.name.startswith(POOL_V4 + ":")


def _loans(
    db: sqlite_utils.Database, keys: PoolKeys, tape_id: int, settings: PoolConfig, lanes: LaneSet, seed: bytes
) -> list[LinkLoan]:
    tape = get_tape(db, tape_id)
    return link_loans(lanes, seed, (loan_facts(s.record, settings) for s in iter_loans(db, keys, tape)))


def _leaves(db: sqlite_utils.Database, job_id: str, lanes: LaneSet) -> list[tuple[str, bytes]]:
    """A sealed job's leaves in order: (exposure id, the input commitments' 48-byte encodings)."""
    n = len(lanes.inputs)
    return [
        leaf
        for _, blob in snapshot_rows.iter_chunk_leaves(db, job_id)
        for leaf in decode_leaves(blob, n, labelled=True)
    ]


def _in_leaf_order(
    loans: Sequence[LinkLoan], leaves: Sequence[tuple[str, bytes]], lanes: LaneSet, wanted: Collection[int]
) -> tuple[list[LinkLoan], list[list[Point]]]:
    """The loans in the leaves' order with the commitments of the ``wanted`` inputs (the ones the link
    reads; the others are the identity), each recomputed from its opening and compared with the
    sealed leaf byte for byte (a stored opening that does not open its leaf is a ``ProvingError``,
    never a link that fails to verify)."""
    group = get_group()
    by_id = {loan.exposure_id: loan for loan in loans}
    if len(by_id) != len(leaves) or set(by_id) != {eid for eid, _ in leaves}:
        raise ProvingError("the tape's loans are not the snapshot's leaves")
    ordered = [by_id[eid] for eid, _ in leaves]
    picks = sorted(wanted)
    values: list[int] = []
    blindings: list[int] = []
    for loan in ordered:
        inputs = lanes.input_values(loan.values)
        values += [inputs[g] % ORDER for g in picks]
        blindings += [loan.blindings[g] for g in picks]
    computed = iter(commit_many(group, values, blindings))
    identity = group.identity()
    points: list[list[Point]] = []
    for eid, raw in leaves:
        pts = [identity] * len(lanes.inputs)
        for g in picks:
            pts[g] = next(computed)
            if pts[g].to_bytes() != raw[g * POINT_BYTES : (g + 1) * POINT_BYTES]:
                raise ProvingError(f"exposure {eid}: the stored opening does not open its sealed leaf")
        points.append(pts)
    return ordered, points


def build_link(
    db: sqlite_utils.Database,
    keys: PoolKeys,
    gateway_key: Ed25519PrivateKey,
    settings: PoolConfig,
    previous: SnapshotRecord,
    header: Mapping[str, Any],
    *,
    job_id: str,
    tape_id: int,
    seed: bytes,
    ipa_rounds: int | None,
    executor: Executor | None = None,
    check_results: bool = False,
) -> LinkRecord | None:
    """The link of a snapshot about to be stored (its signed ``header``, the seal job's ``job_id``,
    ``tape_id`` and ``seed``) to the pool's ``previous`` snapshot; ``None`` when the two are not both
    linkable. A link the data cannot support is a ``refused`` record naming why. The link's pieces
    are proven on the seal's ``executor`` (inline when ``None``), checked as the seal's chunks are
    when its workers are not trusted (``check_results``)."""
    lanes = previous.lanes
    current_lane_set = str(header["proof_params"]["lane_set"])
    if not linkable(lanes) or not current_lane_set.startswith(POOL_V4 + ":"):
        return None
    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

    def record(status: str, bundle: dict[str, Any] | None, reason: str | None) -> LinkRecord:
        return LinkRecord(
            snapshot_id=str(header["snapshot_id"]),
            pool_id=previous.pool_id,
            cutoff_date=str(header["cutoff_date"]),
            previous_snapshot_id=previous.snapshot_id,
            status=status,  # type: ignore[arg-type]
            bundle=bundle,
            reason=reason,
            created_at=created,
        )

    if current_lane_set != lanes.name:
        return record(
            "refused",
            None,
            f"link.lane_set: {previous.cutoff_date} is sealed under {lanes.name}, "
            f"{header['cutoff_date']} under {current_lane_set} (the pool's per-loan cap changed)",
        )
    try:
        prev_leaves = _leaves(db, previous.job_id, lanes)
        cur_leaves = _leaves(db, job_id, lanes)
        prev_seed = snapshot_seed(db, keys, previous)
        prev_loans, prev_points = _in_leaf_order(
            _loans(db, keys, snapshot_tape_id(db, previous), settings, lanes, prev_seed),
            prev_leaves,
            lanes,
            LINK_PREVIOUS_INPUTS,
        )
        cur_loans, cur_points = _in_leaf_order(
            _loans(db, keys, tape_id, settings, lanes, seed), cur_leaves, lanes, LINK_CURRENT_INPUTS
        )
        entries = sorted({eid for eid, _ in cur_leaves} - {eid for eid, _ in prev_leaves})
        doc = prove_link(
            gateway_key,
            previous.header,
            header,
            prev_loans,
            cur_loans,
            entries=entries,
            prev_commitments=prev_points,
            cur_commitments=cur_points,
            # A link proof has at least one inner-product round (a seal may have none).
            ipa_rounds=None if ipa_rounds is None else max(1, ipa_rounds),
            executor=executor,
            check_results=check_results,
        )
    except (ProvingError, LoanFactsError) as exc:
        # The month stays sealed (its own statement holds); it has no roll matrix, and says why.
        log.warning("no link from %s to %s: %s", previous.cutoff_date, header["cutoff_date"], exc)
        return record("refused", None, f"link.statement: {exc}")
    return record("linked", doc, None)


class NotLinked(GatewayError):
    """The snapshot has no link to the month before (none built, or refused): 422."""

    http_status: ClassVar[int] = 422


def stored_link(db: sqlite_utils.Database, snap: SnapshotRecord) -> LinkRecord:
    """The snapshot's linked record; :class:`NotLinked` naming why there is none."""
    link = link_rows.get_link(db, snap.pool_id, snap.cutoff_date)
    if link is None:
        raise NotLinked(
            f"the snapshot of {snap.cutoff_date} has no link to the month before (the pool's first "
            "snapshot, or one sealed under a lane set that does not link)"
        )
    if link.status != "linked" or link.bundle is None:
        raise NotLinked(f"the snapshot of {snap.cutoff_date} could not be linked to the month before")
    return link


def roll_figure(
    db: sqlite_utils.Database,
    snap: SnapshotRecord,
    by: str,
    from_state: str,
    to_state: str,
    key: Ed25519PrivateKey,
) -> dict[str, Any]:
    """The compact proof of one roll-rate cell (:func:`proofs.link.prove_roll_figure`) against the
    link header, signed with the gateway's ``key``."""
    link = stored_link(db, snap)
    assert link.bundle is not None
    header = link_header(key, link.bundle)
    return prove_roll_figure(header, link.bundle, STATES.index(from_state), STATES.index(to_state), by=by)
