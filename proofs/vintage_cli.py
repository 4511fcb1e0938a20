"""``poolproof-audit verify-vintage``: check a cohort's vintage curve bundle and print its proven points.

The command reads a ``poolproof/vintage-curve/v1`` bundle (what ``GET .../pools/<pool>/vintage/<cohort>``
answers under ``bundle``), checks every header, row, unpacking proof and point with the gateway key the
caller trusts (:func:`proofs.vintage.verify_vintage_curve`) and prints each point's rates, exact parts
or proven bounds; the first failed check is named. A thin shell, mounted like
:mod:`proofs.distribution_cli`: ``add_arguments`` for the sub-parser, ``verify_vintage`` as its action.
"""

from __future__ import annotations

import argparse
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from proofs import bundle
from proofs.errors import EncodingError
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.signing import load_public_key
from proofs.vintage import VerifiedPoint, verify_vintage_curve

#: A curve carries every header since the pool's first snapshot.
MAX_BUNDLE_BYTES: Final = 64 << 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's own arguments (``--key``, ``--json`` and ``--accept-lane-set`` are shared)."""
    p.add_argument("bundle", help="the vintage curve bundle (JSON)")
    p.add_argument("--expect-pool", metavar="POOL", help="the pool you asked about")
    p.add_argument("--expect-cohort", metavar="YYYY-Qn", help="the cohort you asked about")
    p.add_argument("--expect-nonce", metavar="HEX", help="the nonce you sent")


def _describe(v: VerifiedPoint) -> str:
    head = f"{v.cutoff_date} (m={v.months_on_book}) {v.rate}"
    if v.mode == "exact":
        assert v.numerator is not None
        assert v.denominator is not None
        share = "" if v.denominator == 0 else f" = {float(Fraction(v.numerator, v.denominator)):.6f}"
        return f"{head}: {v.numerator} / {v.denominator}{share}"
    if v.mode == "threshold":
        return f"{head} {v.op} {v.p}/{v.q}"
    return f"{head}: suppressed"


def verify_vintage(args: argparse.Namespace) -> dict[str, Any]:
    """Run the check; return what was verified (raises on failure, see ``verify_vintage_curve``)."""
    try:
        key = load_public_key(args.key)
    except (OSError, ValueError) as exc:
        raise EncodingError(f"gateway key {args.key}: {exc}") from None
    try:
        if os.path.getsize(args.bundle) > MAX_BUNDLE_BYTES:
            raise EncodingError(f"bundle {args.bundle}: larger than {MAX_BUNDLE_BYTES >> 20} MiB")
        doc = bundle.load_bundle(Path(args.bundle))
    except OSError as exc:
        raise EncodingError(f"bundle {args.bundle}: {exc.strerror or exc}") from None
    try:
        nonce = None if args.expect_nonce is None else bytes.fromhex(args.expect_nonce)
    except ValueError:
        raise EncodingError("--expect-nonce: expected hex") from None
    lane_sets = DEFAULT_ACCEPTED_LANE_SETS | frozenset(getattr(args, "accept_lane_set", None) or ())
    points = verify_vintage_curve(
        doc, key, pool_id=args.expect_pool, cohort=args.expect_cohort, nonce=nonce, lane_sets=lane_sets
    )
    return {
        "verified": f"vintage curve of cohort {doc['cohort']} in pool {doc['pool_id']}",
        "points": [_describe(v) for v in points],
    }
