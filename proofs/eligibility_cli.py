"""``poolproof-audit verify-eligibility``: check a period's purchase-eligibility statement offline.

With ``--header`` (the signed snapshot header of the period's cut-off) it checks the signature, the
period, pool and deal binding and every proof of a holding statement: what an investor can check
with the view the gateway serves. With ``--snapshot`` (the period's whole snapshot bundle, fully
audited first) and ``--previous-snapshot`` (the one before) it also requires the statement to cover
exactly the loans new in the period; with the trustee's bundle (``loans`` member) every leaf's
inclusion, region and openings are checked too, and ``--records`` (a JSON object of exposure id to
the tape's ``nominal_rate_bps``, ``apr_bps``, ``original_term_months``, ``remaining_term_months``)
re-checks the committed attributes against the signed tape. A thin shell over
:func:`proofs.eligibility.verify_eligibility`, mounted by :mod:`proofs.audit_cli`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Final

from proofs import bundle
from proofs.deal import Deal, deal_hash, load_deal
from proofs.eligibility import check_records, verify_eligibility
from proofs.errors import EncodingError, VerificationError
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.signing import load_public_key
from proofs.snapshot import Header, read_snapshot_parts, verify_header, verify_snapshot

MAX_BUNDLE_BYTES: Final = 64 << 20


def _load(path: str, what: str) -> dict[str, Any]:
    try:
        if os.path.getsize(path) > MAX_BUNDLE_BYTES:
            raise EncodingError(f"{what} {path}: larger than {MAX_BUNDLE_BYTES >> 20} MiB")
        return bundle.load_bundle(Path(path))
    except OSError as exc:
        raise EncodingError(f"{what} {path}: {exc.strerror or exc}") from None
    except RecursionError:
        raise EncodingError(f"{what} {path}: JSON nested too deeply") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's own arguments (``--key``, ``--json`` and ``--accept-lane-set`` are shared)."""
    p.add_argument("bundle", help="the eligibility statement (JSON)")
    p.add_argument("--deal", required=True, metavar="DEAL", help="the deal file (TOML) the statement follows")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--header", metavar="HEADER", help="the signed snapshot header of the period (JSON)")
    where.add_argument("--snapshot", metavar="BUNDLE", help="the period's snapshot bundle (fully audited)")
    p.add_argument(
        "--previous-snapshot",
        metavar="BUNDLE",
        help="the previous period's snapshot bundle: the statement must cover exactly the new loans",
    )
    p.add_argument("--records", metavar="JSON", help="the tape's attributes per exposure id (trustee)")


def _exposures(path: str, key: Any, lane_sets: frozenset[str], deal: Deal) -> tuple[Header, list[str]]:
    """Audit a snapshot bundle in full; return its header and every exposure id in leaf order."""
    try:
        with open(path, encoding="utf-8") as f:
            header = verify_snapshot(f, key, lane_sets=lane_sets, deal=deal)
        with open(path, encoding="utf-8") as f:
            _, _, chunks = read_snapshot_parts(f)
            ids = [str(leaf[0]) for chunk in chunks for leaf in chunk["leaves"]]
    except OSError as exc:
        raise EncodingError(f"snapshot {path}: {exc.strerror or exc}") from None
    return header, ids


def verify_eligibility_command(args: argparse.Namespace) -> dict[str, Any]:
    """Run the check; return what was verified (raises on failure, see ``verify_eligibility``)."""
    try:
        key = load_public_key(args.key)
    except (OSError, ValueError) as exc:
        raise EncodingError(f"gateway key {args.key}: {exc}") from None
    deal = load_deal(args.deal)
    doc = _load(args.bundle, "statement")
    lane_sets = DEFAULT_ACCEPTED_LANE_SETS | frozenset(args.accept_lane_set or ())
    previous: list[str] | None = None
    current: list[str] | None = None
    if args.snapshot:
        header, current = _exposures(args.snapshot, key, lane_sets, deal)
        if args.previous_snapshot:
            before, previous = _exposures(args.previous_snapshot, key, lane_sets, deal)
            named = header.doc.get("previous_header_hash")
            if named != before.hash.hex():
                raise VerificationError(
                    "eligibility.previous", "the previous snapshot is not the one the period's header names"
                )
    else:
        if args.previous_snapshot:
            raise EncodingError("--previous-snapshot goes with --snapshot")
        header = verify_header(_load(args.header, "header"), key, lane_sets=lane_sets, deal=deal)
    result = verify_eligibility(
        doc, key, header, deal, previous_exposures=previous, snapshot_exposures=current
    )
    checked = list(result.checked)
    if args.records:
        records = json.loads(Path(args.records).read_text(encoding="utf-8"))
        if not isinstance(records, dict):
            raise EncodingError(f"records {args.records}: expected an object of exposure id to attributes")
        check_records(doc, records)
        checked.append("eligibility.records")
    out: dict[str, Any] = {
        "verified": f"purchase eligibility of {doc['pool_id']} at {doc['cutoff_date']}",
        "deal_hash": deal_hash(deal).hex(),
        "status": "HOLDS" if result.holds else "DOES NOT HOLD",
        "purchased": result.purchased,
        "failed": list(result.failed),
        "checked": checked,
        "not proven": list(result.unchecked),
    }
    if result.failing:
        out["failing loans"] = [f"{k}: {', '.join(v)}" for k, v in result.failing.items()]
    if current is None or "loans" not in doc:
        out["not checked"] = [
            "eligibility.completeness (give --snapshot, --previous-snapshot and the trustee's bundle)"
        ]
    return out
