"""Verifying a folder of bundles into the report's evidence: verified figures, and what failed and why.

Every file is checked before anything of it is used, with the gateway key and the witness policy the
investor gives (never a key from a bundle):

* a claim bundle (``poolproof/claim/v1``) by :func:`proofs.claim_bundle.verify_claim_answer`: the
  header signature, the unpacking proof, the claim proof bound to its header and nonce, and the
  witness cosignatures the policy requires. A disclosure gives an exact figure, a range claim a proven
  threshold; the cosigned header gives the witness-cosigned fields (loans sealed, the per-loan cap);
* a whole snapshot bundle (``poolproof/snapshot/v1``) by :func:`proofs.snapshot.verify_snapshot`
  (every leaf and proof: the auditor's full check);
* a bare header (``poolproof/snapshot-header/v1``) by :func:`proofs.snapshot.verify_header`.

Then the headers of the pool are checked as a chain, as ``verify-log`` does: one header per cut-off
(a second one is a fork, and every bundle on either header fails ``chain.fork``), and each header
whose predecessor is in the folder names that predecessor's hash (``chain.link`` otherwise).
A bundle that fails becomes an :class:`~proofs.report.figures.Unverified` naming the failed check;
nothing it carries reaches the page.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle
from proofs.claim_bundle import ExpectedClaim, VerifiedClaim, verify_claim_answer
from proofs.claims import BoundClaim, Disclosure, RatioBetweenClaim, RatioClaim
from proofs.errors import EncodingError, VerificationError
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.report.figures import Figure, Unit, Unverified
from proofs.snapshot import Header, verify_header, verify_snapshot
from proofs.witness import WitnessPolicy

#: Largest claim or header file read whole (as ``poolproof-audit``); a snapshot bundle is streamed.
MAX_BUNDLE_BYTES: Final = 64 << 20
_SNAPSHOT_OPENING: Final = b'{"format":"poolproof/snapshot/'


class ReportInputError(Exception):
    """The folder cannot be reported on at all (exit code 2): unreadable, empty, or several pools."""


@dataclass
class SnapshotEvidence:
    """Everything verified about one header: its figures and the files they came from."""

    header: Header
    figures: list[Figure] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    witnesses: tuple[str, ...] = ()

    @property
    def cutoff(self) -> str:
        """The header's cut-off date."""
        return self.header.context.cutoff_date


@dataclass(frozen=True)
class VerifiedFile:
    """One file that passed, with what it is."""

    name: str
    kind: str
    cutoff: str | None


@dataclass
class Evidence:
    """The verified folder: snapshots oldest first, failures, and files that carry no figure."""

    pool_id: str | None
    currency: str
    snapshots: list[SnapshotEvidence]
    failures: list[Unverified]
    verified: list[VerifiedFile]
    skipped: list[tuple[str, str]]
    witness_policy: WitnessPolicy
    #: Cut-offs whose header links to the previous cut-off's header in the folder.
    linked: frozenset[str] = frozenset()

    @property
    def bundle_count(self) -> int:
        """Bundles checked (verified or failed; skipped files are not bundles of figures)."""
        return len(self.verified) + len(self.failures)

    def figures(self) -> list[Figure]:
        """Every verified figure, oldest cut-off first."""
        return [f for s in self.snapshots for f in s.figures]


def _metric_unit(header: Header, metric: str) -> Unit:
    return "loans" if header.lanes.metric_unit(metric) == "loans" else "minor"


def claim_figures(name: str, verified: VerifiedClaim, doc: dict[str, Any]) -> list[Figure]:
    """The figures a verified claim bundle establishes (one, or two for a two-sided claim)."""
    header, statement = verified.header, verified.statement
    base = Figure(
        metric=statement.metrics[0],
        cutoff=header.context.cutoff_date,
        pool_id=header.context.pool_id,
        unit="fraction",
        basis="threshold",
        bundles=(name,),
        header_hash=header.hash.hex(),
        currency=str(header.doc["currency"]),
        witnesses=verified.witnesses,
    )
    if isinstance(statement, Disclosure):
        unit = _metric_unit(header, statement.metric)
        return [replace(base, unit=unit, basis="disclosure", value=int(doc["proof"]["value"]))]
    if isinstance(statement, RatioClaim):
        ratio = replace(base, denominator_metric=statement.metric_den)
        return [replace(ratio, op=statement.op, level=Fraction(statement.p, statement.q))]
    if isinstance(statement, RatioBetweenClaim):
        ratio = replace(base, denominator_metric=statement.metric_den)
        return [
            replace(ratio, op=">=", level=Fraction(statement.lo_p, statement.lo_q)),
            replace(ratio, op="<=", level=Fraction(statement.hi_p, statement.hi_q)),
        ]
    assert isinstance(statement, BoundClaim)
    bound = replace(base, unit=_metric_unit(header, statement.metric))
    out = []
    if statement.lo is not None:
        out.append(replace(bound, op=">=", level=statement.lo))
    if statement.hi is not None:
        out.append(replace(bound, op="<=", level=statement.hi))
    return out


def witness_figures(header: Header, witnesses: tuple[str, ...], files: list[str]) -> list[Figure]:
    """The header fields the required witnesses vouch for: loans sealed, and the proven per-loan cap."""
    if not witnesses:
        return []
    count = Figure(
        metric="leaf_count",
        cutoff=header.context.cutoff_date,
        pool_id=header.context.pool_id,
        unit="loans",
        basis="witness",
        bundles=tuple(files[:1]),
        header_hash=header.hash.hex(),
        currency=str(header.doc["currency"]),
        value=header.leaf_count,
        witnesses=witnesses,
    )
    out = [count]
    circuit = header.lanes.circuit
    if circuit is not None and circuit.balance_cap is not None:
        out.append(replace(count, metric="balance_cap", unit="minor", value=circuit.balance_cap))
    return out


def _placement(doc: object) -> tuple[tuple[str, ...], str | None]:
    """Metrics and cut-off a failed bundle claims to be about, read without trusting them."""
    if not isinstance(doc, dict):
        return (), None
    metrics: tuple[str, ...] = ()
    statement = doc.get("statement")
    if isinstance(statement, dict):
        names = [statement.get(k) for k in ("metric", "metric_num")]
        metrics = tuple(str(n) for n in names if isinstance(n, str))
    header = doc.get("header", doc)
    cutoff = header.get("cutoff_date") if isinstance(header, dict) else None
    return metrics, str(cutoff) if isinstance(cutoff, str) else None


def _is_snapshot_bundle(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_SNAPSHOT_OPENING)) == _SNAPSHOT_OPENING


def _load(path: Path) -> dict[str, Any]:
    if os.path.getsize(path) > MAX_BUNDLE_BYTES:
        raise EncodingError(f"larger than {MAX_BUNDLE_BYTES >> 20} MiB; not a claim or header bundle")
    return bundle.load_bundle(path)


def bundle_files(folder: Path) -> list[Path]:
    """The ``*.json`` files of ``folder`` in name order.

    Raises:
        ReportInputError: not a readable folder, or no JSON file in it.
    """
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())
    except OSError as exc:
        raise ReportInputError(f"{folder}: {exc.strerror or exc}") from None
    if not files:
        raise ReportInputError(f"{folder}: no bundle (*.json) in the folder")
    return files


def verify_folder(
    folder: Path,
    gateway_key: Ed25519PublicKey,
    witnesses: WitnessPolicy,
    *,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    expected: dict[str, ExpectedClaim] | None = None,
) -> Evidence:
    """Verify every bundle of ``folder``; see the module docstring for what each check is.

    ``expected`` optionally pins, per file name, what was asked (the nonce and statement of a request
    this tool made itself, :mod:`proofs.report.fetch`).

    Raises:
        ReportInputError: the folder has no bundle, or bundles of more than one pool.
    """
    by_hash: dict[bytes, SnapshotEvidence] = {}
    failures: list[Unverified] = []
    verified: list[VerifiedFile] = []
    skipped: list[tuple[str, str]] = []
    for path in bundle_files(folder):
        name = path.name
        doc: object = None
        try:
            if _is_snapshot_bundle(path):
                with open(path, encoding="utf-8") as f:
                    header = verify_snapshot(f, gateway_key, lane_sets=lane_sets)
                _evidence(by_hash, header).files.append(name)
                verified.append(VerifiedFile(name, "snapshot", header.context.cutoff_date))
                continue
            doc = _load(path)
            fmt = str(doc.get("format", ""))
            if fmt.startswith("poolproof/claim/"):
                want = (expected or {}).get(name, ExpectedClaim())
                claim = verify_claim_answer(
                    doc, gateway_key, expected=want, witnesses=witnesses, lane_sets=lane_sets
                )
                snap = _evidence(by_hash, claim.header)
                snap.figures.extend(claim_figures(name, claim, doc))
                snap.files.append(name)
                snap.witnesses = snap.witnesses or claim.witnesses
                verified.append(VerifiedFile(name, "claim", claim.header.context.cutoff_date))
            elif fmt.startswith("poolproof/snapshot-header/"):
                header = verify_header(doc, gateway_key, lane_sets=lane_sets)
                _evidence(by_hash, header).files.append(name)
                verified.append(VerifiedFile(name, "header", header.context.cutoff_date))
            else:
                skipped.append((name, fmt or "(no format)"))
        except VerificationError as exc:
            metrics, cutoff = _placement(doc)
            message = str(exc).removeprefix(f"{exc.check}: ")
            failures.append(Unverified(name, exc.check, message, metrics, cutoff))
        except (EncodingError, UnicodeDecodeError, RecursionError, OSError, RuntimeError) as exc:
            metrics, cutoff = _placement(doc)
            failures.append(Unverified(name, "bundle.encoding", _message(exc), metrics, cutoff))
    snapshots = sorted(by_hash.values(), key=lambda s: (s.header.doc["sequence"], s.cutoff))
    pools = sorted({s.header.context.pool_id for s in snapshots})
    if len(pools) > 1:
        raise ReportInputError(
            f"{folder}: bundles of several pools ({', '.join(pools)}); one report is one pool"
        )
    snapshots, linked = _check_chain(snapshots, failures, verified)
    for snap in snapshots:
        snap.figures[:0] = witness_figures(snap.header, snap.witnesses, snap.files)
    currency = str(snapshots[-1].header.doc["currency"]) if snapshots else "CNY"
    return Evidence(
        pools[0] if pools else None, currency, snapshots, failures, verified, skipped, witnesses, linked
    )


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    return str(exc)


def _evidence(by_hash: dict[bytes, SnapshotEvidence], header: Header) -> SnapshotEvidence:
    if header.hash not in by_hash:
        by_hash[header.hash] = SnapshotEvidence(header)
    return by_hash[header.hash]


def _fail_snapshot(
    snap: SnapshotEvidence, check: str, message: str, failures: list[Unverified], verified: list[VerifiedFile]
) -> None:
    """Every bundle of ``snap`` fails ``check``: its figures leave the report."""
    names = set(snap.files)
    verified[:] = [v for v in verified if v.name not in names]
    for name in snap.files:
        metrics = tuple(dict.fromkeys(f.metric for f in snap.figures if name in f.bundles))
        failures.append(Unverified(name, check, message, metrics, snap.cutoff))


def _check_chain(
    snapshots: list[SnapshotEvidence], failures: list[Unverified], verified: list[VerifiedFile]
) -> tuple[list[SnapshotEvidence], frozenset[str]]:
    """Forks and broken links fail their bundles; returns the snapshots kept and the linked cut-offs."""
    by_cutoff: dict[str, list[SnapshotEvidence]] = {}
    for snap in snapshots:
        by_cutoff.setdefault(snap.cutoff, []).append(snap)
    kept: list[SnapshotEvidence] = []
    for cutoff, group in by_cutoff.items():
        if len(group) > 1:
            hashes = ", ".join(s.header.hash.hex()[:16] for s in group)
            for snap in group:
                message = f"cut-off {cutoff} has {len(group)} signed headers ({hashes}…)"
                _fail_snapshot(snap, "chain.fork", message, failures, verified)
        else:
            kept.append(group[0])
    kept.sort(key=lambda s: s.header.doc["sequence"])
    by_sequence = {s.header.doc["sequence"]: s for s in kept}
    out: list[SnapshotEvidence] = []
    linked: set[str] = set()
    for snap in kept:
        previous = by_sequence.get(snap.header.doc["sequence"] - 1)
        if previous is None:
            out.append(snap)
            continue
        if (
            snap.header.doc["previous_header_hash"] != previous.header.hash.hex()
            or snap.cutoff <= previous.cutoff
        ):
            _fail_snapshot(
                snap,
                "chain.link",
                f"the header of {snap.cutoff} (sequence {snap.header.doc['sequence']}) does not extend "
                f"the header of {previous.cutoff} in the folder",
                failures,
                verified,
            )
            continue
        linked.add(snap.cutoff)
        out.append(snap)
    return out, frozenset(linked)
