"""The deal's figures in the report: each period's payment report, verified, as trigger and waterfall rows.

A folder may hold payment-report bundles (``poolproof/payment-report/v1``) beside the claim bundles,
and the deal file they follow (``deal.toml`` in the folder, or the path the investor gives). Each
report is checked before anything of it is used, by the same code as ``poolproof-audit
verify-distribution`` (:func:`proofs.payment_report.verify_payment_report`, with the report of the
period before as ``previous``):

* a **whole report** (what a trustee gets) gives every trigger's proven status, the cure state the
  waterfall leaves, the cumulative default rate (proven defaulted principal since closing over the
  deal's initial balance plus the purchases since closing, each period's price disclosed against its
  purchase evidence, :mod:`proofs.purchases`, or declared by the gateway for a chain that cannot
  carry evidence) and every line of the recomputed waterfall;
* a **trigger-status view** (``"view": "trigger-status"``, what an aggregate-only party such as an
  investor gets: the signed headers and each trigger's proof, no exact pool figure) gives each
  trigger's status proven against the chain's commitments, where the view carries everything the
  trigger's form needs (:func:`proofs.triggers.trigger_form`): the 31+ delinquency form needs only
  the chain; the cumulative default form needs each period's purchase commitment, which the view
  carries as the purchase evidence without the prices (a chain with declared purchases cannot rebuild
  it); the excess-spread form needs the period's expenses (senior fees and note interest), which
  follow from the notes' outstanding principal at the start of the period: the view carries it
  (``note_balances``) when the policy gives the party that figure, and the status is then proven
  against the committed interest, fees and recoveries given those published balances. A status whose
  form cannot be rebuilt is shown as *served, not proven* and never drawn as proven. The cure state
  follows from the deal's cure rule (:func:`proofs.triggers.next_trigger_state`) when every period
  from the first is proven.

A report that fails becomes an :class:`~proofs.report.figures.Unverified` naming the check (the
report's rows say UNVERIFIED, nothing of it is drawn, and the command exits 1).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle
from proofs.cumulative import Chain, verify_chain
from proofs.deal import Deal, DealFileError, Trigger, check_deal_binding, load_deal
from proofs.errors import EncodingError, VerificationError
from proofs.group import get_group
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.payment_report import chain_with_purchases, verify_payment_report
from proofs.report.figures import Figure, Unverified
from proofs.triggers import BPS, TriggerState, next_trigger_state, trigger_form, verify_trigger
from proofs.waterfall import expenses_on_notes

PAYMENT_REPORT_FORMAT: Final = "poolproof/payment-report/"
#: The deal file's name when it lies in the bundle folder.
DEAL_FILE: Final = "deal.toml"
TRIGGER_VIEW: Final = "trigger-status"

#: How a trigger row is known: proven by the whole report (status, cure state and waterfall
#: recomputed), proven from the trigger-status view, or served by the gateway without a checkable proof.
TriggerBasis = Literal["proven_full", "proven_view", "served"]
ViewKind = Literal["full", "trigger-status"]


@dataclass(frozen=True)
class TriggerRow:
    """One trigger at one period."""

    trigger_id: str
    kind: str
    level_bps: int | None
    effect: str
    cure_periods: int | None
    breached: bool
    basis: TriggerBasis
    #: Why a ``served`` status is not proven, or what a ``proven_view`` one rests on beyond the
    #: chain's commitments (empty otherwise).
    reason: str = ""
    in_effect: bool | None = None
    clear_periods: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The machine-readable form embedded in the report."""
        return {
            "id": self.trigger_id,
            "kind": self.kind,
            "level_bps": self.level_bps,
            "effect": self.effect,
            "breached": self.breached,
            "basis": self.basis,
            "reason": self.reason,
            "in_effect": self.in_effect,
            "clear_periods": self.clear_periods,
        }


@dataclass(frozen=True)
class TrancheRow:
    """One tranche's payments in one period (a whole report only)."""

    tranche_id: str
    interest_due: int
    interest_paid: int
    principal_paid: int
    balance_after: int


@dataclass(frozen=True)
class PeriodDeal:
    """What one verified payment report (or view) establishes about its period."""

    period: int
    cutoff: str
    bundle: str
    view: ViewKind
    header_hash: str
    triggers: tuple[TriggerRow, ...]
    #: The cumulative default rate's parts (whole report only): proven numerator, declared denominator.
    cdr_numerator: int | None = None
    cdr_denominator: int | None = None
    lines: tuple[tuple[str, int], ...] = ()
    tranches: tuple[TrancheRow, ...] = ()
    revolving: bool | None = None
    principal_mode: str | None = None

    @property
    def cumulative_default_rate(self) -> Fraction | None:
        """Defaulted principal since closing over initial balance plus purchases (exact)."""
        if self.cdr_numerator is None or not self.cdr_denominator:
            return None
        return Fraction(self.cdr_numerator, self.cdr_denominator)

    def line(self, name: str) -> int | None:
        """The amount of one waterfall line, if the report has it."""
        return dict(self.lines).get(name)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable form embedded in the report."""
        cdr = self.cumulative_default_rate
        return {
            "period": self.period,
            "cutoff": self.cutoff,
            "bundle": self.bundle,
            "view": self.view,
            "triggers": [t.to_json() for t in self.triggers],
            "cumulative_default_rate": None if cdr is None else f"{cdr.numerator}/{cdr.denominator}",
            "cdr_numerator": self.cdr_numerator,
            "cdr_denominator": self.cdr_denominator,
            "lines": [[n, a] for n, a in self.lines],
            "revolving": self.revolving,
            "principal_mode": self.principal_mode,
        }


@dataclass
class DealEvidence:
    """The deal and its verified periods, oldest first, plus the reports that failed."""

    deal: Deal | None
    deal_source: str
    periods: list[PeriodDeal] = field(default_factory=list)
    failures: list[Unverified] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def cdr_levels(self) -> tuple[Fraction, ...]:
        """The deal's cumulative default trigger levels, as fractions."""
        if self.deal is None:
            return ()
        return tuple(
            Fraction(t.level_bps, BPS) for t in self.deal.triggers if t.kind == "cumulative_default_rate"
        )

    def cdr_figures(self, currency: str) -> list[Figure]:
        """The cumulative default rate of every verified whole report, as figures to chart."""
        out = []
        for p in self.periods:
            rate = p.cumulative_default_rate
            if rate is None or self.deal is None:
                continue
            out.append(
                Figure(
                    metric="cumulative_default_rate",
                    cutoff=p.cutoff,
                    pool_id=self.deal.pool_id,
                    unit="fraction",
                    basis="derived",
                    bundles=(p.bundle,),
                    header_hash=p.header_hash,
                    currency=currency,
                    value=rate,
                    inputs=("cumulative_defaulted_principal", "initial_pool_balance", "purchases"),
                )
            )
        return out


def is_payment_report(fmt: str) -> bool:
    """True for a payment-report format string (a whole report or its trigger-status view)."""
    return fmt.startswith(PAYMENT_REPORT_FORMAT)


def _period_of(doc: object) -> int:
    if isinstance(doc, Mapping) and isinstance(doc.get("period"), int):
        return int(doc["period"])
    return 0


def _fail(name: str, check: str, message: str, doc: object) -> Unverified:
    period = _period_of(doc)
    cutoff = doc.get("cutoff_date") if isinstance(doc, Mapping) else None
    return Unverified(
        name, check, message, (f"deal.period.{period}",), cutoff if isinstance(cutoff, str) else None
    )


#: What an excess-spread status proven from a view rests on beyond the chain's commitments.
NOTES_BASIS: Final = "expenses from the notes' outstanding principal the view publishes"


def _form_gap(trigger: Trigger, chain: Chain, notes: Sequence[int] | None) -> str:
    """Why the trigger-status view cannot rebuild ``trigger``'s form ("" if it can)."""
    if trigger.kind == "delinquency_31plus_3m":
        return ""
    if trigger.kind == "cumulative_default_rate":
        if chain.purchases_committed:
            return ""
        return "the form needs the declared purchases (this chain carries no purchase evidence)"
    if notes is not None:
        return ""
    return (
        "the form needs the period's senior fees and note interest due, which follow from the notes' "
        "outstanding principal (not in this view: the policy does not give it to this party)"
    )


def _note_balances(doc: Mapping[str, Any], deal: Deal) -> list[int] | None:
    """The view's ``note_balances`` (tranche id → outstanding principal at the start of the period),
    in deal order, or ``None`` when the view carries none."""
    notes = doc.get("note_balances")
    if notes is None:
        return None
    ids = [t.id for t in deal.tranches]
    if not isinstance(notes, Mapping) or sorted(notes) != sorted(ids):
        raise EncodingError(f"note_balances: expected an object with exactly {', '.join(ids)}")
    out = []
    for tid in ids:
        value = notes[tid]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
            raise EncodingError(f"note_balances.{tid}: expected a non-negative integer")
        out.append(value)
    return out


def verify_trigger_view(
    doc: Mapping[str, Any],
    deal: Deal,
    key: Ed25519PublicKey,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> tuple[Chain, list[tuple[Trigger, bool, TriggerBasis, str]]]:
    """Check a trigger-status view: the deal binding, the signed chain, the purchase evidence and
    each rebuildable trigger proof. Returns the chain and, per trigger, its status, how it is known
    (``proven_view`` or ``served``) and, when served, why the view cannot rebuild its form."""
    group = get_group()
    check_deal_binding(doc, deal)
    headers = doc.get("headers")
    if not isinstance(headers, list):
        raise EncodingError("headers: expected a list of signed headers")
    chain = verify_chain(headers, key, deal, group=group, lane_sets=lane_sets)
    proven = doc.get("purchases_proven")
    if proven is not None:
        if not isinstance(proven, list) or not all(isinstance(e, Mapping) for e in proven):
            raise EncodingError("purchases_proven: expected a list of objects with the period's evidence")
        chain = chain_with_purchases(group, chain, [e.get("evidence") for e in proven])
    if doc.get("period") != chain.periods or doc.get("cutoff_date") != chain.headers[-1].context.cutoff_date:
        raise VerificationError(
            "distribution.period", "period or cut-off does not match the chain of headers"
        )
    if doc.get("pool_id") != deal.pool_id:
        raise VerificationError("distribution.period", "the view is of another pool than the deal")
    entries = doc.get("triggers")
    if not isinstance(entries, list) or [
        e.get("id") if isinstance(e, Mapping) else None for e in entries
    ] != [t.id for t in deal.triggers]:
        raise VerificationError(
            "distribution.triggers", "expected one status per trigger of the deal, in deal order"
        )
    notes = _note_balances(doc, deal)
    out: list[tuple[Trigger, bool, TriggerBasis, str]] = []
    for t, entry in zip(deal.triggers, entries, strict=True):
        gap = _form_gap(t, chain, notes)
        if gap:
            served = entry.get("breached")
            if not isinstance(served, bool):
                raise EncodingError(f"triggers.{t.id}.breached: expected true or false")
            out.append((t, served, "served", gap))
            continue
        if t.kind == "excess_spread":
            assert notes is not None
            form = trigger_form(chain, t, expenses=expenses_on_notes(deal, notes))
            out.append((t, verify_trigger(group, chain, form, entry), "proven_view", NOTES_BASIS))
            continue
        form = trigger_form(chain, t, expenses=0)
        out.append((t, verify_trigger(group, chain, form, entry), "proven_view", ""))
    return chain, out


def _tranche_rows(deal: Deal, lines: Mapping[str, int], balances: Sequence[int]) -> tuple[TrancheRow, ...]:
    return tuple(
        TrancheRow(
            t.id,
            lines.get(f"interest:{t.id}.due", 0),
            lines.get(f"interest:{t.id}.paid", 0),
            lines.get(f"principal:{t.id}.paid", 0),
            balances[i],
        )
        for i, t in enumerate(deal.tranches)
    )


def load_report_deal(folder: Path, deal_path: Path | None) -> tuple[Deal | None, str, Unverified | None]:
    """The deal the reports must follow: ``deal_path``, else ``deal.toml`` in the folder.

    Returns the deal (or ``None``), where it came from, and the failure to report if a deal file is
    there but unusable.
    """
    path = deal_path if deal_path is not None else folder / DEAL_FILE
    if deal_path is None and not path.is_file():
        return None, "", None
    try:
        return load_deal(path), str(path.name if deal_path is None else path), None
    except DealFileError as exc:
        return None, str(path), Unverified(path.name, "deal.file", str(exc))
    except (OSError, EncodingError) as exc:
        return None, str(path), Unverified(path.name, "deal.file", str(exc))


def verify_payment_reports(
    folder: Path,
    names: Sequence[str],
    gateway_key: Ed25519PublicKey,
    *,
    deal_path: Path | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> DealEvidence:
    """Verify the payment reports ``names`` of ``folder`` against the deal (see the module docstring)."""
    deal, source, deal_failure = load_report_deal(folder, deal_path)
    evidence = DealEvidence(deal, source)
    if deal_failure is not None:
        evidence.failures.append(deal_failure)
    docs: list[tuple[str, object]] = []
    for name in names:
        try:
            docs.append((name, bundle.load_bundle(folder / name)))
        except (EncodingError, OSError, UnicodeDecodeError, RecursionError) as exc:
            evidence.failures.append(_fail(name, "bundle.encoding", str(exc), None))
    docs.sort(key=lambda nd: (_period_of(nd[1]), nd[0]))
    if deal is None:
        for name, doc in docs:
            message = "no usable deal file: give --deal or put deal.toml beside the reports"
            evidence.failures.append(_fail(name, "deal.file", message, doc))
        return evidence
    verified_full: dict[int, dict[str, Any]] = {}
    view_states: dict[str, TriggerState] = {t.id: TriggerState() for t in deal.triggers}
    view_chain_ok = True
    unknown: set[str] = set()
    seen: set[tuple[int, str]] = set()
    for name, doc in docs:
        try:
            if not isinstance(doc, dict):
                raise EncodingError("report: expected an object")
            view = doc.get("view")
            kind: ViewKind = "trigger-status" if view == TRIGGER_VIEW else "full"
            period = _period_of(doc)
            if (period, kind) in seen:
                raise VerificationError(
                    "distribution.period", f"a second {kind} report for period {period} in the folder"
                )
            if kind == "full":
                previous = verified_full.get(period - 1)
                result = verify_payment_report(doc, deal, gateway_key, previous=previous, lane_sets=lane_sets)
                verified_full[period] = doc
                dist = result.distribution
                rows = tuple(
                    TriggerRow(
                        t.id,
                        t.kind,
                        None if t.kind == "excess_spread" else t.level_bps,
                        t.effect,
                        t.cure_periods,
                        result.breached[t.id],
                        "proven_full",
                        "",
                        state.in_effect,
                        state.clear_periods,
                    )
                    for t, state in zip(deal.triggers, dist.state.triggers, strict=True)
                )
                cdr = doc["cumulative_default_rate"]
                lines = dist.lines_dict()
                evidence.periods.append(
                    PeriodDeal(
                        period,
                        str(doc["cutoff_date"]),
                        name,
                        "full",
                        result.chain.headers[-1].hash.hex(),
                        rows,
                        int(cdr["numerator"]),
                        int(cdr["denominator"]),
                        dist.lines,
                        _tranche_rows(deal, lines, dist.state.tranche_balances),
                        dist.revolving,
                        dist.principal_mode,
                    )
                )
            else:
                chain, statuses = verify_trigger_view(doc, deal, gateway_key, lane_sets)
                contiguous = view_chain_ok and period == 1 + max(
                    (p.period for p in evidence.periods if p.view == "trigger-status"), default=0
                )
                view_rows = []
                for t, breached, basis, reason in statuses:
                    if basis == "served" or not contiguous:
                        unknown.add(t.id)
                    state: TriggerState | None = None
                    if t.id not in unknown:
                        view_states[t.id] = next_trigger_state(t, view_states[t.id], breached)
                        state = view_states[t.id]
                    view_rows.append(
                        TriggerRow(
                            t.id,
                            t.kind,
                            None if t.kind == "excess_spread" else t.level_bps,
                            t.effect,
                            t.cure_periods,
                            breached,
                            basis,
                            reason,
                            None if state is None else state.in_effect,
                            None if state is None else state.clear_periods,
                        )
                    )
                evidence.periods.append(
                    PeriodDeal(
                        period,
                        str(doc["cutoff_date"]),
                        name,
                        "trigger-status",
                        chain.headers[-1].hash.hex(),
                        tuple(view_rows),
                    )
                )
            seen.add((period, kind))
            evidence.files.append(name)
        except VerificationError as exc:
            if isinstance(doc, dict) and doc.get("view") == TRIGGER_VIEW:
                view_chain_ok = False
            message = str(exc).removeprefix(f"{exc.check}: ")
            evidence.failures.append(_fail(name, exc.check, message, doc))
        except (EncodingError, KeyError, TypeError, ValueError) as exc:
            if isinstance(doc, dict) and doc.get("view") == TRIGGER_VIEW:
                view_chain_ok = False
            evidence.failures.append(_fail(name, "bundle.encoding", str(exc)[:300], doc))
    evidence.periods.sort(key=lambda p: (p.period, p.view))
    return evidence
