"""Month-over-month figures in the investor report: roll-rate cells and vintage curves, verified.

An investor's folder may hold, beside its claim and figure bundles, the compact proofs of roll-rate
cells (``poolproof/roll-figure/v1``, from ``POST …/figures`` with ``roll/count|balance/<from>/<to>``
ids) and vintage curves (``poolproof/vintage-curve/v1``, from ``GET …/vintage/<cohort>``). Each file is
checked here with the verifier the command line uses (:func:`proofs.link.verify_roll_figure`,
:func:`proofs.vintage.verify_vintage_curve`); what passes becomes a :class:`TransitionMatrix` per
linked month and a :class:`CurveFamily` per rate, drawn by the report; what fails is an
:class:`Unverified` notice and the report exits 1. A file of these kinds that names another pool fails
too (``report.pool``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle
from proofs.canonical import parse_json
from proofs.errors import EncodingError, VerificationError
from proofs.link import ROLL_FIGURE_KIND, verify_roll_figure
from proofs.loan_facts import STATES
from proofs.report.evidence import VerifiedFile
from proofs.report.figures import Figure, Unverified
from proofs.report.sections import CurveFamily, Series, TransitionMatrix
from proofs.vintage import KIND as VINTAGE_FORMAT
from proofs.vintage import verify_vintage_curve

ROLL_FORMAT: Final = bundle.format_string(ROLL_FIGURE_KIND, 1)
#: The formats this module takes out of the folder's skipped files.
FORMATS: Final = (ROLL_FORMAT, VINTAGE_FORMAT)
_RATES: Final = {
    "cumulative_default_rate": "cumulative default rate by months on book",
    "cumulative_prepayment_rate": "cumulative prepayment rate by months on book",
}


@dataclass
class MonthsEvidence:
    """What the folder's roll figures and vintage curves proved, and which files failed."""

    transitions: list[TransitionMatrix] = field(default_factory=list)
    curves: list[CurveFamily] = field(default_factory=list)
    failures: list[Unverified] = field(default_factory=list)
    verified: list[VerifiedFile] = field(default_factory=list)


def _read(path: Path) -> Any:
    return parse_json(path.read_bytes())


def verify_months(
    folder: Path, names: list[str], gateway_key: Ed25519PublicKey, pool_id: str | None, currency: str
) -> MonthsEvidence:
    """Verify the roll-figure and vintage-curve files ``names`` of ``folder`` (relative names)."""
    out = MonthsEvidence()
    cells: dict[tuple[str, str], dict[tuple[str, str], Figure]] = defaultdict(dict)
    curves: dict[str, list[Series]] = defaultdict(list)
    for name in sorted(names):
        try:
            doc = _read(folder / name)
            fmt = doc.get("format") if isinstance(doc, dict) else None
            if fmt == ROLL_FORMAT:
                _roll(name, doc, gateway_key, pool_id, currency, cells)
            else:
                _vintage(name, doc, gateway_key, pool_id, currency, curves)
        except (EncodingError, VerificationError) as exc:
            check = exc.check if isinstance(exc, VerificationError) else "encoding"
            out.failures.append(Unverified(name, check, str(exc)))
            continue
        kind = "roll-figure" if fmt == ROLL_FORMAT else "vintage-curve"
        out.verified.append(VerifiedFile(name, kind, None))
    for (cutoff, by), matrix in sorted(cells.items()):
        out.transitions.append(
            TransitionMatrix(
                title=f"roll matrix by {by} (kept loans, state a month before × state at the cut-off)",
                cutoff=cutoff,
                from_states=tuple(s for s in STATES if any(k[0] == s for k in matrix)),
                to_states=tuple(s for s in STATES if any(k[1] == s for k in matrix)),
                cells=matrix,
            )
        )
    for rate, series in sorted(curves.items()):
        out.curves.append(CurveFamily(f"vintage-{rate}", _RATES.get(rate, rate), "fraction", tuple(series)))
    return out


def _check_pool(name: str, found: str, pool_id: str | None) -> None:
    if pool_id is not None and found != pool_id:
        raise VerificationError("report.pool", f"{name} is of pool {found}, the folder of {pool_id}")


def _roll(
    name: str,
    doc: Any,
    key: Ed25519PublicKey,
    pool_id: str | None,
    currency: str,
    cells: dict[tuple[str, str], dict[tuple[str, str], Figure]],
) -> None:
    fig = verify_roll_figure(doc, key)
    _check_pool(name, fig.pool_id, pool_id)
    cutoff = str(doc["link_header"]["current"]["cutoff_date"])
    header_hash = str(doc["link_header"]["current"]["header_hash"])
    cells[(cutoff, fig.by)][(fig.from_state, fig.to_state)] = Figure(
        metric=f"roll/{fig.by}/{fig.from_state}/{fig.to_state}",
        cutoff=cutoff,
        pool_id=fig.pool_id,
        unit="loans" if fig.by == "count" else "minor",
        basis="disclosure",
        bundles=(name,),
        header_hash=header_hash,
        currency=currency,
        value=fig.cell,
    )


def _vintage(
    name: str,
    doc: Any,
    key: Ed25519PublicKey,
    pool_id: str | None,
    currency: str,
    curves: dict[str, list[Series]],
) -> None:
    points = verify_vintage_curve(doc, key)
    found = str(doc["pool_id"])
    _check_pool(name, found, pool_id)
    cohort = str(doc["cohort"])
    by_rate: dict[str, list[Figure]] = defaultdict(list)
    for p in points:
        if p.mode != "exact" or p.numerator is None or not p.denominator:
            continue  # only exact points are plotted (a threshold or suppressed point is not a value)
        value = Fraction(p.numerator, p.denominator)
        by_rate[p.rate].append(
            Figure(
                metric=f"vintage/{cohort}/{p.rate}",
                cutoff=f"m{p.months_on_book:02d}",
                pool_id=found,
                unit="fraction",
                basis="disclosure",
                bundles=(name,),
                header_hash="",
                currency=currency,
                value=value,
            )
        )
    for rate, figures in by_rate.items():
        curves[rate].append(Series(cohort, tuple(figures)))
