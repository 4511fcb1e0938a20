"""``poolproof-audit verify-link`` and ``verify-series``: linked months, checked offline.

``verify-link PREV CUR LINK`` audits both snapshot bundles in full (as ``verify-snapshot`` does)
and then the link bundle between them (:func:`proofs.link.verify_link`), printing the opened roll
matrix. ``verify-series DIR`` checks a whole chain kept in one folder: every snapshot bundle in it is
audited once (with ``--require-witness``, each header must carry the cosignatures the policy asks
for, read from ``BUNDLE.cosignature.json`` as ``verify-snapshot --cosign`` writes them), the
headers must form one unbroken chain of one pool, and every consecutive pair must have a link
bundle that verifies; a payment report in the folder has each period's purchase evidence checked
against that month's link (the entries row recomputed from the leaves). Mounted by
:mod:`proofs.audit_cli`; exit codes as there (:mod:`proofs.exit_codes`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from proofs.canonical import parse_json
from proofs.errors import EncodingError, VerificationError
from proofs.group import get_group
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.link import LINK_FORMAT, LinkResult, SnapshotLeaves, audited_leaves, verify_link
from proofs.loan_facts import OUTSTANDING_STATES, STATES
from proofs.purchases import check_entries_row, verify_purchases
from proofs.signing import load_public_key
from proofs.snapshot import header_hash
from proofs.witness import WitnessPolicy, check_witnesses

#: Largest file read whole (a snapshot bundle of a few hundred thousand loans).
MAX_FILE_BYTES: Final = 2 << 30
_COSIGNATURE_SUFFIX: Final = ".cosignature.json"
_REPORT_PREFIX: Final = "poolproof/payment-report/"
_IGNORED_SUFFIXES: Final = (".pem", ".pub", ".state.json", ".tmp", _COSIGNATURE_SUFFIX)

Add = Callable[[str, str, Callable[[argparse.Namespace], dict[str, Any]]], argparse.ArgumentParser]
PolicyOf = Callable[[argparse.Namespace], WitnessPolicy | None]


def register(
    add: Add, witness_options: Callable[[argparse.ArgumentParser], None], policy_of: PolicyOf
) -> None:
    """Add the two commands to ``poolproof-audit``'s parser (``add`` gives ``--key`` and ``--json``)."""
    link = add(
        "verify-link",
        "Verify the link between two consecutive snapshots: both snapshots in full, then the roll "
        "matrix, exits and entries of the link bundle.",
        _cmd_verify_link,
    )
    link.add_argument("previous", help="snapshot bundle of month t-1")
    link.add_argument("current", help="snapshot bundle of month t")
    link.add_argument("link", help="the link bundle between them")
    link.add_argument(
        "--purchases",
        metavar="FILE",
        help="JSON list of the period's purchased exposure ids (entries must equal it)",
    )
    series = add(
        "verify-series",
        "Verify every snapshot bundle in a folder, that their headers form one chain, every "
        "consecutive pair's link bundle, and each payment report's purchase evidence against the links.",
        lambda args: _cmd_verify_series(args, policy_of(args)),
    )
    series.add_argument("folder")
    witness_options(series)


def _key(args: argparse.Namespace) -> Any:
    try:
        return load_public_key(args.key)
    except (OSError, ValueError, EncodingError) as exc:
        raise EncodingError(f"gateway key {args.key}: {exc}") from None


def _read(path: str | Path) -> str:
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            raise EncodingError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB")
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise EncodingError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EncodingError(f"{path}: not UTF-8 text") from None


def _load_link(path: str | Path) -> dict[str, Any]:
    try:
        doc = parse_json(_read(path))
    except RecursionError:
        raise EncodingError(f"{path}: JSON nested too deeply") from None
    except EncodingError as exc:
        raise EncodingError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise EncodingError(f"{path}: expected a link bundle (a JSON object)")
    return doc


def _lane_sets(args: argparse.Namespace) -> frozenset[str]:
    return DEFAULT_ACCEPTED_LANE_SETS | frozenset(args.accept_lane_set or ())


def _matrix_lines(result: LinkResult) -> list[str]:
    lines = []
    for i, row in enumerate(result.roll.counts):
        if not sum(row):
            continue
        cells = ", ".join(f"{STATES[j]} {v}" for j, v in enumerate(row) if v)
        balance = ""
        if i < len(OUTSTANDING_STATES):
            balance = f" (t-1 balance {sum(result.roll.balances[i])})"
        lines.append(f"from {STATES[i]}: {cells}{balance}")
    return lines


def _summary(result: LinkResult) -> dict[str, Any]:
    return {
        "previous": result.previous.context.snapshot_id,
        "current": result.current.context.snapshot_id,
        "kept": sum(map(sum, result.roll.counts)),
        "exits": len(result.exits),
        "entries": len(result.entries),
        "roll_counts": [list(r) for r in result.roll.counts],
        "roll_balances": [list(r) for r in result.roll.balances],
    }


def _cmd_verify_link(args: argparse.Namespace) -> dict[str, Any]:
    key = _key(args)
    lane_sets = _lane_sets(args)
    start = time.monotonic()
    purchases = None
    if args.purchases:
        listed = parse_json(_read(args.purchases))
        if not isinstance(listed, list) or not all(isinstance(e, str) for e in listed):
            raise EncodingError(f"{args.purchases}: expected a JSON list of exposure ids")
        purchases = listed
    result = verify_link(
        _read(args.previous),
        _read(args.current),
        _load_link(args.link),
        key,
        purchases=purchases,
        lane_sets=lane_sets,
    )
    return {
        "verified": "link",
        "pool_id": result.current.context.pool_id,
        **_summary(result),
        "matrix": _matrix_lines(result),
        "seconds": round(time.monotonic() - start, 3),
        "checks": _LINK_CHECKS,
    }


_LINK_CHECKS: Final = [
    "both snapshots audited in full (as verify-snapshot)",
    "the current header chains to the previous one; one pool, one pool-v4 lane set",
    "link bundle signature; it names exactly these two snapshots",
    "every kept exposure's t-1 state, t-1 balance and t state proven from its own leaves (link circuit)",
    "the roll matrix opens the sum of the pieces' row commitments, counting every kept exposure once",
    "every exit left from a terminal state (opened sum of the exits' t-1 count commitments)",
    "the entries are exactly the exposures new in the current snapshot",
]


def _cmd_verify_series(args: argparse.Namespace, policy: WitnessPolicy | None) -> dict[str, Any]:
    key = _key(args)
    lane_sets = _lane_sets(args)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise EncodingError(f"{folder}: not a folder")
    start = time.monotonic()
    snapshots: list[tuple[Path, str]] = []
    links: list[tuple[Path, dict[str, Any]]] = []
    reports: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.name.endswith(_IGNORED_SUFFIXES):
            continue
        text = _read(path)
        if text.startswith('{"format":"poolproof/snapshot/'):
            snapshots.append((path, text))
            continue
        doc = _load_link(path)
        if str(doc.get("format", "")).startswith(_REPORT_PREFIX):
            reports.append((path, doc))
            continue
        if doc.get("format") != LINK_FORMAT:
            raise EncodingError(f"{path}: neither a snapshot bundle, a link bundle nor a payment report")
        links.append((path, doc))
    if not snapshots:
        raise EncodingError(f"{folder}: no snapshot bundle")
    audited: list[SnapshotLeaves] = []
    witnessed = 0
    for path, text in snapshots:
        snap = audited_leaves(text, key, lane_sets=lane_sets)
        if policy is not None:
            witnessed += bool(check_witnesses(snap.header, _cosignatures(path), policy))
        audited.append(snap)
    audited.sort(key=lambda s: s.header.doc["sequence"])
    pool = audited[0].header.context.pool_id
    for snap in audited[1:]:
        if snap.header.context.pool_id != pool:
            raise VerificationError("series.pool", f"{snap.header.context.snapshot_id} is of another pool")
    by_pair = {
        (d["previous"]["header_hash"], d["current"]["header_hash"]): (p, d)
        for p, d in links
        if isinstance(d.get("previous"), dict) and isinstance(d.get("current"), dict)
    }
    results = []
    linked: dict[str, LinkResult] = {}
    for prev, cur in itertools.pairwise(audited):
        if cur.header.doc.get("previous_header_hash") != header_hash(prev.header.doc).hex():
            raise VerificationError(
                "series.chain",
                f"{cur.header.context.snapshot_id} does not chain to {prev.header.context.snapshot_id}",
            )
        found = by_pair.get((prev.header.hash.hex(), cur.header.hash.hex()))
        if found is None:
            raise VerificationError(
                "series.link_missing",
                f"no link bundle from {prev.header.context.snapshot_id} to {cur.header.context.snapshot_id}",
            )
        result = verify_link(prev, cur, found[1], key, verify_snapshots=False, lane_sets=lane_sets)
        linked[cur.header.hash.hex()] = result
        results.append(
            f"{result.previous.context.snapshot_id} -> {result.current.context.snapshot_id}: "
            f"{sum(map(sum, result.roll.counts))} kept, {len(result.exits)} exits, "
            f"{len(result.entries)} entries"
        )
    checked = [line for path, doc in reports for line in _check_report_purchases(path, doc, linked)]
    return {
        "verified": "series",
        "pool_id": pool,
        "snapshots": [s.header.context.snapshot_id for s in audited],
        "links": results,
        "purchases": checked,
        "witnesses": "not required"
        if policy is None
        else f"{witnessed} of {len(audited)} headers cosigned as required",
        "seconds": round(time.monotonic() - start, 3),
    }


def _check_report_purchases(path: Path, doc: dict[str, Any], linked: dict[str, LinkResult]) -> list[str]:
    """The auditor's row check of a payment report's purchase evidence: each period's row must be
    the entries row the verified link of that month recomputed from the snapshots' leaves."""
    entries = doc.get("purchases_proven")
    headers = doc.get("headers")
    if entries is None:
        return [f"{path.name}: declared purchases (no evidence to check)"]
    if not isinstance(entries, list) or not isinstance(headers, list) or len(headers) != len(entries) + 1:
        raise EncodingError(f"{path}: purchases_proven must give one entry per period of its headers")
    group = get_group()
    out = []
    for period, (entry, header_doc) in enumerate(zip(entries, headers[1:], strict=True), start=1):
        if not isinstance(entry, dict) or not isinstance(header_doc, dict):
            raise EncodingError(f"{path}: purchases_proven[{period - 1}]: expected an object")
        result = linked.get(header_hash(header_doc).hex())
        if result is None:
            raise VerificationError(
                "series.purchases", f"{path.name}: period {period}'s snapshot is not linked in this folder"
            )
        where = f"{path.name}: period {period}"
        purchases = verify_purchases(group, result.current, entry.get("evidence"), where)
        check_entries_row(purchases, len(result.entries), result.entries_sums, where)
        cutoff = result.current.context.cutoff_date
        out.append(f"{where} ({cutoff}): {purchases.count} purchases, the row of the link")
    return out


def _cosignatures(path: Path) -> list[object]:
    cos = path.with_name(path.name + _COSIGNATURE_SUFFIX)
    if not cos.exists():
        return []
    try:
        doc = json.loads(_read(cos))
    except json.JSONDecodeError as exc:
        raise EncodingError(f"{cos}: {exc}") from None
    return doc if isinstance(doc, list) else [doc]
