"""Data-quality indicators of one stored tape, and its consistency with the previous month's tape.

The platform's dashboard shows them per tape; they are what a servicer report's data checks look at
before anyone relies on the figures (DESIGN.md, trust model: cross-month consistency is one of the
checks on whether the raw data is true, which no proof can give).

* **Completeness by field**: for each field of the tape's schema, the share of rows that carry a value
  (neither absent, ``None`` nor an empty string).
* **Validity**: every row is checked again against the row rules that relate fields of one row
  (:func:`gateway.ingest.rules.cross_field_errors`), counted by rule, plus the rows above the pool's
  APR flag (accepted, but flagged at submission).
* **Consistency with the previous month** (loans matched by ``platform_loan_id``, the same matching as
  exposures):

  - ``balance_growth``: an amortising loan (``EQUAL_INSTALMENT``, ``EQUAL_PRINCIPAL``) whose outstanding
    principal grew since the previous cut-off;
  - ``status_jump``: a loan that left the pool's life in the previous month (a terminal status) and is
    back with another status, or whose days past due grew by more than the days between the two
    cut-offs (delinquency cannot age faster than the calendar);
  - ``vanished``: a loan of the previous tape, not in a terminal status there, that is missing from this
    tape (a loan leaves a tape only after a terminal status is reported).

Every function is pure (records in, figures out) and streams: records are read once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .ingest.pool_settings import PoolConfig
from .ingest.rules import TERMINAL_STATUSES, cross_field_errors, loan_id_key

#: Repayment methods that pay principal down every instalment: their balance never grows.
AMORTISING_METHODS = frozenset({"EQUAL_INSTALMENT", "EQUAL_PRINCIPAL"})
#: Fields the gateway adds to a stored record; they are not part of the submitted tape.
_STORED_ONLY = frozenset({"exposure_id", "obligor_pseudo_id", "pool_id", "cutoff_date", "dpd_bucket"})
#: How many example loan ids each finding lists.
MAX_EXAMPLES = 10


@dataclass(frozen=True)
class PriorLoan:
    """What the consistency checks keep of a loan of the previous tape."""

    status: str | None
    balance: int | None
    days_past_due: int | None


@dataclass
class Finding:
    """One consistency rule: how many loans break it, and the first few of their ids."""

    rule: str
    description: str
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, loan_id: str) -> None:
        """Count one more loan breaking the rule."""
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(loan_id)


@dataclass
class TapeQuality:
    """The indicators of one tape (see the module text)."""

    rows: int
    completeness: dict[str, float]
    invalid_rows: int
    invalid_by_rule: dict[str, int]
    flagged_rows: int
    previous_cutoff: str | None
    consistency: dict[str, Finding]

    @property
    def validity(self) -> float:
        """The share of rows that break no cross-field rule (1.0 for an empty tape)."""
        return 1.0 if self.rows == 0 else (self.rows - self.invalid_rows) / self.rows

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (shares as fractions in [0, 1])."""
        return {
            "rows": self.rows,
            "completeness": dict(self.completeness),
            "validity": self.validity,
            "invalid_rows": self.invalid_rows,
            "invalid_by_rule": dict(self.invalid_by_rule),
            "flagged_rows": self.flagged_rows,
            "previous_cutoff": self.previous_cutoff,
            "consistency": {
                name: {"description": f.description, "count": f.count, "examples": list(f.examples)}
                for name, f in self.consistency.items()
            },
        }


def _filled(value: Any) -> bool:
    return value is not None and value != ""


def _new_findings() -> dict[str, Finding]:
    return {
        "balance_growth": Finding(
            "balance_growth", "amortising loans whose outstanding principal grew since the previous cut-off"
        ),
        "status_jump": Finding(
            "status_jump",
            "loans back from a terminal status, or more days past due than days have passed",
        ),
        "vanished": Finding(
            "vanished", "loans of the previous tape missing from this one without a terminal status"
        ),
    }


def prior_loans(records: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, PriorLoan]]:
    """The previous tape's loans by matching key: (loan id as submitted, what the checks need)."""
    out: dict[str, tuple[str, PriorLoan]] = {}
    for r in records:
        loan_id = str(r.get("platform_loan_id", ""))
        out[loan_id_key(loan_id)] = (
            loan_id,
            PriorLoan(r.get("loan_status"), r.get("current_principal_fen"), r.get("days_past_due")),
        )
    return out


def tape_quality(
    records: Iterable[Mapping[str, Any]],
    cfg: PoolConfig,
    cutoff: str,
    schema_fields: Sequence[str],
    *,
    previous: Mapping[str, tuple[str, PriorLoan]] | None = None,
    previous_cutoff: str | None = None,
) -> TapeQuality:
    """The indicators of the tape whose ``records`` (decrypted stored loans) are given, for ``cutoff``.

    ``schema_fields`` are the tape schema's fields (completeness is reported for each, and for any other
    field a record carries). ``previous`` (from :func:`prior_loans`) is the previous cut-off's current
    tape; without it the consistency findings are empty. Raises ``ValueError`` when ``previous_cutoff``
    is not before ``cutoff``.
    """
    days = None
    if previous is not None:
        if previous_cutoff is None or previous_cutoff >= cutoff:
            raise ValueError(f"previous cut-off {previous_cutoff!r} must be before {cutoff!r}")
        days = (date.fromisoformat(cutoff) - date.fromisoformat(previous_cutoff)).days
    filled: Counter[str] = Counter({name: 0 for name in schema_fields})
    by_rule: Counter[str] = Counter()
    invalid = flagged = rows = 0
    findings = _new_findings()
    seen: set[str] = set()
    for r in records:
        rows += 1
        for name, value in r.items():
            if name in _STORED_ONLY:
                continue
            filled[name] += 1 if _filled(value) else 0
        errors = cross_field_errors(r, cfg, cutoff)
        if errors:
            invalid += 1
            by_rule.update({rule for _, rule, _ in errors})
        apr = r.get("apr_all_in_bps")
        if apr is not None and apr > cfg.apr_flag_bps:
            flagged += 1
        if previous is None or days is None:
            continue
        loan_id = str(r.get("platform_loan_id", ""))
        key = loan_id_key(loan_id)
        seen.add(key)
        before = previous.get(key)
        if before is None:
            continue  # a new loan: nothing to compare
        prior = before[1]
        balance, status, dpd = r.get("current_principal_fen"), r.get("loan_status"), r.get("days_past_due")
        if (
            r.get("repayment_method") in AMORTISING_METHODS
            and balance is not None
            and prior.balance is not None
            and balance > prior.balance
        ):
            findings["balance_growth"].add(loan_id)
        back_from_terminal = prior.status in TERMINAL_STATUSES and status != prior.status
        too_fast = dpd is not None and prior.days_past_due is not None and dpd - prior.days_past_due > days
        if back_from_terminal or too_fast:
            findings["status_jump"].add(loan_id)
    if previous is not None:
        for key, (loan_id, prior) in sorted(previous.items()):
            if key not in seen and prior.status not in TERMINAL_STATUSES:
                findings["vanished"].add(loan_id)
    completeness = {name: (n / rows if rows else 1.0) for name, n in sorted(filled.items())}
    return TapeQuality(
        rows=rows,
        completeness=completeness,
        invalid_rows=invalid,
        invalid_by_rule=dict(sorted(by_rule.items())),
        flagged_rows=flagged,
        previous_cutoff=previous_cutoff if previous is not None else None,
        consistency=findings if previous is not None else {},
    )
