"""``poolproof-audit report``: the investor's own monthly report, drawn only from bundles it verified.

Given a folder of bundles (or a gateway URL and an API key to fetch them, :mod:`proofs.report.fetch`),
:func:`render_report` verifies every bundle under the investor's gateway key and witness policy
(:mod:`proofs.report.evidence`), places the verified figures into the report's sections
(:mod:`proofs.report.sections`: pool summary, delinquency by bucket, defaults / prepayments / losses,
stratification and concentration, trends over the snapshot chain, triggers, roll rates and waterfall
where the bundles carry them) and renders one self-contained HTML file and, if asked, a PDF. Every
figure says how it is known (exact proven disclosure, proven threshold, witness-cosigned, or computed
exactly from proven disclosures) and links to its bundle; a bundle that fails is never drawn, the
report names the failed check, and :attr:`ReportResult.exit_code` is 1.

This package imports only ``proofs`` and rendering libraries (the ``[report]`` extra); the rest of
``proofs`` does not import it, so an auditor without the extra still verifies bundles.

Libraries, and why:

* **Jinja2** renders the HTML with autoescaping: every label and value from a bundle is escaped,
  and the template stays readable markup rather than string concatenation.
* **matplotlib** draws the charts, once as SVG inlined into the page (vector, no script, no network:
  the page opens offline and prints sharply) and once as PNG for the PDF, from the same code. A
  JavaScript chart library (e.g. ECharts) would have to be vendored and inlined (about a megabyte)
  and would still need a second renderer for the PDF.
* **ReportLab** lays out the PDF (platypus tables and images) and brings the CID font
  ``STSong-Light``, which every PDF reader provides, so Chinese labels need no font file.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs.claim_bundle import ExpectedClaim
from proofs.exit_codes import ExitCode
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.report.deal import DealEvidence, is_payment_report, verify_payment_reports
from proofs.report.evidence import Evidence, ReportInputError, VerifiedFile, verify_folder
from proofs.report.figures import Figure, Unverified
from proofs.report.messages import LANGS, Lang
from proofs.report.months import FORMATS as MONTH_FORMATS
from proofs.report.months import verify_months
from proofs.report.sections import CurveFamily, ReportModel, TransitionMatrix, build_model
from proofs.signing import key_id
from proofs.witness import WitnessPolicy

__all__ = [
    "LANGS",
    "CurveFamily",
    "DealEvidence",
    "Figure",
    "Lang",
    "ReportInputError",
    "ReportResult",
    "TransitionMatrix",
    "Unverified",
    "render_report",
]


@dataclass(frozen=True)
class ReportResult:
    """What :func:`render_report` wrote and found."""

    html: Path
    pdf: Path | None
    model: ReportModel

    @property
    def evidence(self) -> Evidence:
        """The verified folder."""
        return self.model.evidence

    @property
    def failures(self) -> list[Unverified]:
        """The bundles that failed verification (none of their figures is drawn)."""
        return self.model.evidence.failures

    @property
    def exit_code(self) -> ExitCode:
        """``FAILED`` (1) if any bundle failed, else ``OK``."""
        return ExitCode.FAILED if self.failures else ExitCode.OK


def render_report(
    folder: Path,
    gateway_key: Ed25519PublicKey,
    *,
    out: Path,
    witnesses: WitnessPolicy,
    pdf: Path | None = None,
    lang: Lang = "en",
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
    expected: dict[str, ExpectedClaim] | None = None,
    refused: Sequence[tuple[str, str]] = (),
    cumulative_default_triggers: Sequence[Fraction] = (),
    deal: Path | None = None,
    transitions: Sequence[TransitionMatrix] = (),
    curves: Sequence[CurveFamily] = (),
    generated_at: str | None = None,
) -> ReportResult:
    """Verify every bundle of ``folder`` and write the report to ``out`` (HTML) and ``pdf``.

    ``witnesses`` is the investor's witness policy (``WitnessPolicy.unwitnessed()`` to accept headers
    nobody cosigned, which the page then says). ``expected`` pins, per file, what was asked;
    ``refused`` lists questions the gateway refused (shown, never drawn). ``cumulative_default_triggers``
    override the deal file's cumulative default trigger levels (fractions) on the cumulative default
    charts. Payment reports in the folder (``poolproof/payment-report/v1``, whole or trigger-status
    view) are verified against ``deal`` (default: ``deal.toml`` in the folder) as
    ``poolproof-audit verify-distribution`` verifies them (:mod:`proofs.report.deal`); a report that
    fails is a failure like any bundle. ``transitions`` and ``curves`` are already-verified transition
    matrices and curve families (drawn in their own section).

    Raises:
        ReportInputError: the folder has no bundle, or bundles of more than one pool.
        OSError: ``out`` or ``pdf`` cannot be written.
    """
    from proofs.report.html import render_html
    from proofs.report.pdf import render_pdf

    if lang not in LANGS:
        raise ValueError(f"lang: expected one of {', '.join(LANGS)}, got {lang!r}")
    evidence = verify_folder(folder, gateway_key, witnesses, lane_sets=lane_sets, expected=expected)
    reports = [name for name, fmt in evidence.skipped if is_payment_report(fmt)]
    deal_evidence: DealEvidence | None = None
    if reports or deal is not None:
        evidence.skipped[:] = [(n, f) for n, f in evidence.skipped if n not in reports]
        deal_evidence = verify_payment_reports(
            folder, reports, gateway_key, deal_path=deal, lane_sets=lane_sets
        )
        if deal_evidence.deal is not None and evidence.pool_id not in (None, deal_evidence.deal.pool_id):
            raise ReportInputError(
                f"{folder}: the deal is of pool {deal_evidence.deal.pool_id}, "
                f"the bundles of {evidence.pool_id}"
            )
        if evidence.pool_id is None and deal_evidence.deal is not None:
            evidence.pool_id = deal_evidence.deal.pool_id
            evidence.currency = deal_evidence.deal.currency
        evidence.failures.extend(deal_evidence.failures)
        cutoffs = {p.bundle: p.cutoff for p in deal_evidence.periods}
        evidence.verified.extend(
            VerifiedFile(n, "payment-report", cutoffs.get(n)) for n in deal_evidence.files
        )
    monthly = [name for name, fmt in evidence.skipped if fmt in MONTH_FORMATS]
    if monthly:
        evidence.skipped[:] = [(n, f) for n, f in evidence.skipped if n not in monthly]
        months = verify_months(folder, monthly, gateway_key, evidence.pool_id, evidence.currency)
        evidence.failures.extend(months.failures)
        evidence.verified.extend(months.verified)
        transitions = [*transitions, *months.transitions]
        curves = [*curves, *months.curves]
    evidence.skipped.extend(refused)
    model = build_model(
        evidence,
        cumulative_default_triggers=cumulative_default_triggers,
        deal=deal_evidence,
        transitions=transitions,
        curves=curves,
    )
    stamp = generated_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kid = key_id(gateway_key)
    out.write_text(
        render_html(model, lang=lang, folder=folder, out=out, gateway_key_id=kid, generated_at=stamp),
        encoding="utf-8",
    )
    if pdf is not None:
        render_pdf(model, lang=lang, out=pdf, gateway_key_id=kid, generated_at=stamp)
    return ReportResult(out, pdf, model)
