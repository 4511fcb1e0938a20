"""The ``poolproof-audit report`` command: arguments in, report files out, exit code from what verified.

``proofs.audit_cli`` registers the subcommand and resolves the keys, the witness policy and the
accepted lane sets as for every other ``verify-*`` command, then calls :func:`run`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Collection
from fractions import Fraction
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs.errors import VerificationError
from proofs.exit_codes import ExitCode
from proofs.report.evidence import ReportInputError
from proofs.report.fetch import FetchError, fetch_bundles
from proofs.witness import WitnessPolicy


class ReportCommandError(Exception):
    """The report could not be made at all; ``exit_code`` is the exit-code table's reason."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.UNUSABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The report's own options (``--key``, ``--json``, ``--accept-lane-set`` and the witness options
    are the ones every ``poolproof-audit`` command has)."""
    p.add_argument("folder", nargs="?", help="the folder of bundles (or --url and --api-key to fetch them)")
    p.add_argument("--url", help="the gateway's base URL, to fetch the investor's bundles over HTTP(S)")
    p.add_argument("--api-key", help="the investor's API key (with --url)")
    p.add_argument("--pool", help="with --url: the pool, when the key has several in scope")
    p.add_argument(
        "--save-to", metavar="DIR", help="with --url: keep the fetched bundles in DIR (default: beside --out)"
    )
    p.add_argument("--out", required=True, metavar="report.html", help="where to write the HTML report")
    p.add_argument("--pdf", metavar="report.pdf", help="also write the report as PDF")
    p.add_argument(
        "--lang", choices=("zh", "en"), default="en", help="labels in Chinese or English (default en)"
    )
    p.add_argument(
        "--deal",
        metavar="DEAL",
        help="the deal file (TOML) the folder's payment reports follow (default: deal.toml in the folder)",
    )
    p.add_argument(
        "--cumulative-default-trigger",
        action="append",
        metavar="BPS",
        type=int,
        help="a cumulative default trigger level in basis points, drawn on the trend instead of the deal "
        "file's levels (repeatable)",
    )


def _bps(values: list[int] | None) -> tuple[Fraction, ...]:
    out = []
    for v in values or ():
        if not 0 <= v <= 10_000:
            raise ReportCommandError(
                f"--cumulative-default-trigger: {v} is not a level in basis points (0 to 10000)"
            )
        out.append(Fraction(v, 10_000))
    return tuple(out)


def run(
    args: argparse.Namespace,
    gateway_key: Ed25519PublicKey,
    witnesses: WitnessPolicy | None,
    lane_sets: Collection[str],
) -> dict[str, Any]:
    """Fetch (with ``--url``), verify and render; the summary printed by ``poolproof-audit``.

    Raises:
        ReportCommandError: bad arguments, an unusable folder, or a gateway that could not be asked.
        VerificationError: ``report.unverified``, after the report was written, when any bundle failed.
    """
    from proofs.report import render_report

    if witnesses is None:
        raise ReportCommandError(
            "name the witnesses you require (--require-witness KEY), or accept headers no witness cosigned "
            "explicitly (--no-witness)"
        )
    if (args.folder is None) == (args.url is None):
        raise ReportCommandError("give a folder of bundles, or --url and --api-key to fetch them (not both)")
    triggers = _bps(args.cumulative_default_trigger)
    out = Path(args.out)
    expected = None
    refused: list[tuple[str, str]] = []
    if args.url is not None:
        if not args.api_key:
            raise ReportCommandError("--url needs --api-key")
        folder = (
            Path(args.save_to) if args.save_to else Path(tempfile.mkdtemp(prefix="bundles-", dir=out.parent))
        )
        try:
            fetched = fetch_bundles(args.url, args.api_key, folder, pool_id=args.pool)
        except FetchError as exc:
            raise ReportCommandError(str(exc), exc.exit_code) from None
        expected, refused = fetched.expected, fetched.refused
    else:
        folder = Path(args.folder)
    try:
        result = render_report(
            folder,
            gateway_key,
            out=out,
            pdf=Path(args.pdf) if args.pdf else None,
            lang=args.lang,
            witnesses=witnesses,
            lane_sets=lane_sets,
            expected=expected,
            refused=refused,
            cumulative_default_triggers=triggers,
            deal=Path(args.deal) if getattr(args, "deal", None) else None,
        )
    except ReportInputError as exc:
        raise ReportCommandError(str(exc)) from None
    except OSError as exc:
        raise ReportCommandError(f"cannot write the report: {exc.strerror or exc}") from None
    ev = result.evidence
    if result.failures:
        listed = "; ".join(f"{u.bundle}: {u.check}" for u in result.failures)
        raise VerificationError(
            "report.unverified",
            f"{len(result.failures)} of {ev.bundle_count} bundles failed ({listed}); their figures are "
            f"not drawn and the report written to {out} says why",
        )
    return {
        "verified": "report",
        "pool_id": ev.pool_id,
        "cutoffs": [s.cutoff for s in ev.snapshots],
        "bundles": ev.bundle_count,
        "figures": len(result.model.figures),
        "html": str(out),
        **({"pdf": str(result.pdf)} if result.pdf else {}),
        **({"bundles_folder": str(folder)} if args.url else {}),
    }
