"""``poolproof-audit verify-distribution``: recompute a period's payment report from its proven inputs.

The command reads the payment report, the deal file and (from period 2 on) the previous period's
report, checks every proof with the gateway key the caller trusts, reruns the deal's waterfall
(:mod:`proofs.waterfall`) and compares every line; the first line that differs is named. A thin
shell over :func:`proofs.payment_report.verify_payment_report`, mounted by :mod:`proofs.audit_cli`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Final

from proofs import bundle
from proofs.deal import deal_hash, load_deal
from proofs.errors import EncodingError
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.payment_report import verify_payment_report
from proofs.signing import load_public_key

#: A report carries every header since closing: allow a few hundred of them.
MAX_REPORT_BYTES: Final = 64 << 20


def _load(path: str, what: str) -> dict[str, Any]:
    try:
        if os.path.getsize(path) > MAX_REPORT_BYTES:
            raise EncodingError(f"{what} {path}: larger than {MAX_REPORT_BYTES >> 20} MiB")
        return bundle.load_bundle(Path(path))
    except OSError as exc:
        raise EncodingError(f"{what} {path}: {exc.strerror or exc}") from None
    except RecursionError:
        raise EncodingError(f"{what} {path}: JSON nested too deeply") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's own arguments (``--key``, ``--json`` and ``--accept-lane-set`` are shared)."""
    p.add_argument("report", help="the period's payment report (JSON)")
    p.add_argument(
        "--deal", required=True, metavar="DEAL", help="the deal file (TOML) the report must follow"
    )
    p.add_argument(
        "--previous",
        metavar="REPORT",
        help="the previous period's payment report (required from period 2 on)",
    )


def verify_distribution(args: argparse.Namespace) -> dict[str, Any]:
    """Run the check; return what was verified (raises on failure, see ``verify_payment_report``)."""
    try:
        key = load_public_key(args.key)
    except (OSError, ValueError) as exc:
        raise EncodingError(f"gateway key {args.key}: {exc}") from None
    deal = load_deal(args.deal)
    doc = _load(args.report, "report")
    previous = _load(args.previous, "previous report") if args.previous else None
    lane_sets = DEFAULT_ACCEPTED_LANE_SETS | frozenset(args.accept_lane_set or ())
    result = verify_payment_report(doc, deal, key, previous=previous, lane_sets=lane_sets)
    dist = result.distribution
    return {
        "verified": f"payment report of {deal.deal_id} period {dist.state.period} ({doc['cutoff_date']})",
        "deal_hash": deal_hash(deal).hex(),
        "report_hash": result.hash.hex(),
        "triggers": [f"{t}: {'BREACHED' if b else 'not breached'}" for t, b in result.breached.items()],
        "switches": {"revolving": dist.revolving, "principal_mode": dist.principal_mode},
        "lines": [f"{name} = {amount}" for name, amount in dist.lines],
    }
