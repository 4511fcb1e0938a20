"""The period's payment report: proven inputs, proven trigger statuses and the waterfall's lines, signed.

A ``poolproof/payment-report/v1`` bundle carries everything an investor's tool needs to recompute a
period's distribution with nothing but ``proofs/``, the deal file and the gateway's public key:

* ``headers``: the signed snapshot headers from the closing snapshot to the period's cut-off (a
  :class:`~proofs.cumulative.Chain`);
* ``inputs``: each period figure the waterfall reads (:data:`~proofs.waterfall.INPUT_FIGURES`), its
  exact value with a disclosure proof against the last header's aggregate commitments;
* ``cumulative``: each figure since closing (:data:`~proofs.cumulative.CUMULATIVE_FIGURES`) with a
  disclosure proof against the sum of the chain's commitments, and the cumulative default rate;
* ``purchases_proven``: per period, the purchase evidence of :mod:`proofs.purchases` (the loans new
  in the period's snapshot, their leaf commitments summed, unpacked to the purchase price's
  commitment) and the price disclosed against it; or, for a chain whose snapshots cannot carry it
  (lane sets without packed inputs), ``purchases_declared``: the price as the gateway declares it,
  named as the one unproven input (docs/deal.md);
* ``triggers``: each trigger's status with its proof (:mod:`proofs.triggers`);
* ``state_before``, ``lines``, ``switches``, ``state_after``: the waterfall's input state and output.

Every proof's context binds the deal hash, the chain's header hashes and the figure's name, so no
proof can be moved to another report, period or deal. :func:`verify_payment_report` checks it all
and raises :class:`~proofs.errors.VerificationError` naming the check (and the line) that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proofs import bundle
from proofs.canonical import canonical_json, document_hash
from proofs.claims import ClaimProof, Disclosure, prove_claim, verify_claim
from proofs.cumulative import CUMULATIVE_FIGURES, PURCHASES_METRIC, Chain, Term, opening_of, verify_chain
from proofs.deal import Deal, bind_deal, check_deal_binding, deal_hash
from proofs.errors import EncodingError, VerificationError
from proofs.group import Group, ScalarSource, get_group
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS
from proofs.pedersen import Opening
from proofs.purchases import verify_purchases
from proofs.triggers import TriggerStatus, prove_trigger, trigger_forms, verify_trigger
from proofs.waterfall import (
    INPUT_FIGURES,
    DealState,
    Distribution,
    PeriodInputs,
    expenses_due,
    initial_state,
    run_waterfall,
)

KIND: Final = "payment-report"
VERSION: Final = 1
REPORT_HASH_DOMAIN: Final = "payment-report/v1"
_FIGURE_CONTEXT_DOMAIN: Final = "payment-report-figure/v1"
_PPM: Final = 1_000_000


def report_hash(doc: Mapping[str, Any]) -> bytes:
    """SHA-256 of the domain-separated canonical JSON of a report without its signatures."""
    return document_hash(REPORT_HASH_DOMAIN, bundle.unsigned_body(doc))


def _figure_context(deal: Deal, chain: Chain, name: str) -> bytes:
    return document_hash(
        _FIGURE_CONTEXT_DOMAIN,
        {"deal_hash": deal_hash(deal).hex(), "headers": chain.hashes(), "figure": name},
    )


def _purchase_context(deal: Deal, chain: Chain, period: int) -> bytes:
    """The disclosure context of one period's purchase price: bound to that period's header only,
    so a later report carries the earlier periods' entries unchanged."""
    return document_hash(
        _FIGURE_CONTEXT_DOMAIN,
        {"deal_hash": deal_hash(deal).hex(), "header": chain.hashes()[period], "figure": PURCHASES_METRIC},
    )


def chain_with_purchases(group: Group, chain: Chain, evidence: Sequence[object]) -> Chain:
    """``chain`` with each period's purchase price committed by its checked evidence (one a period).

    Raises:
        EncodingError: malformed evidence.
        VerificationError: ``distribution.purchases`` (not one evidence a period), ``unpacking.*``,
            ``purchases.lane_set``.
    """
    if len(evidence) != chain.periods:
        raise VerificationError(
            "distribution.purchases", f"expected purchase evidence for each of the {chain.periods} periods"
        )
    checked = [
        verify_purchases(group, chain.headers[i], doc, f"purchases_proven[{i - 1}].evidence")
        for i, doc in enumerate(evidence, start=1)
    ]
    return chain.with_purchases(
        [c.commitment(chain.headers[i]) for i, c in enumerate(checked, start=1)],
        [c.value_bits(chain.headers[i]) for i, c in enumerate(checked, start=1)],
    )


def proven_purchase_entry(
    group: Group, deal: Deal, chain: Chain, period: int, evidence: Mapping[str, Any], opening: Opening,
    rng: ScalarSource | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One period's ``purchases_proven`` entry: the evidence and its price disclosed with a proof.

    ``chain`` must carry the purchase commitments (:func:`chain_with_purchases`).
    """
    disclosed = _disclosed(group, PURCHASES_METRIC, opening, _purchase_context(deal, chain, period), rng)
    return {"evidence": dict(evidence), **disclosed}


def _disclosed(
    group: Group, name: str, opening: Opening, context: bytes, rng: ScalarSource | None
) -> dict[str, Any]:
    """``{"value", "proof"}``: a figure disclosed with the proof that it opens its commitment."""
    proof = prove_claim(group, Disclosure(name), {name: opening}, context=context, rng=rng)
    return {"value": opening.value, "proof": proof.to_dict()}


def _ppm(num: int, den: int) -> int:
    return 0 if den == 0 else (num * _PPM + den // 2) // den


def cumulative_default_rate(
    deal: Deal, cumulative_defaulted: int, purchases: Sequence[int]
) -> dict[str, int]:
    """The cumulative default rate's parts: defaulted since closing over initial balance + purchases."""
    den = deal.initial_pool_balance_fen + sum(purchases)
    return {"numerator": cumulative_defaulted, "denominator": den, "ppm": _ppm(cumulative_defaulted, den)}


def _input_terms(chain: Chain, figure: str) -> list[Term]:
    return [(len(chain.headers) - 1, figure, 1)]


@dataclass(frozen=True)
class VerifiedReport:
    """What :func:`verify_payment_report` established."""

    chain: Chain
    inputs: PeriodInputs
    cumulative: dict[str, int]
    breached: dict[str, bool]
    distribution: Distribution
    hash: bytes


def build_payment_report(
    *,
    deal: Deal,
    chain: Chain,
    openings: Callable[[int, str], Opening],
    state_before: DealState,
    purchases_declared: Sequence[int] | None = None,
    purchase_evidence: Mapping[str, Any] | None = None,
    previous_purchases: Sequence[Mapping[str, Any]] = (),
    purchase_openings: Sequence[Opening] | None = None,
    previous_report_hash: bytes | None,
    group: Group | None = None,
    rng: ScalarSource | None = None,
) -> dict[str, Any]:
    """The unsigned payment report of the chain's last period (sign with :func:`sign_payment_report`).

    ``openings(index, metric)`` opens each header's metric commitment (the gateway keeps the lane
    totals of every sealed snapshot). The purchases are given one of two ways:
    ``purchase_evidence`` — this period's purchase evidence (:func:`proofs.purchases.prove_purchases`),
    after ``previous_purchases`` (the previous report's ``purchases_proven``, carried unchanged), with
    ``purchase_openings`` opening every period's price (:func:`proofs.purchases.price_opening`; a
    trigger form sums them) — or
    ``purchases_declared``, the purchase price of every period since closing, this one last.

    Raises:
        ValueError: the state or the purchases do not fit the chain (wrong period or length).
        ProvingError: an opening does not fit (nothing is produced).
    """
    group = group or get_group()
    period = chain.periods
    if period < 1:
        raise ValueError("a payment report needs a period after closing")
    if state_before.period != period - 1:
        raise ValueError(f"state_before is of period {state_before.period}, the report of period {period}")
    proven: list[dict[str, Any]] | None = None
    if purchase_evidence is not None:
        if (
            purchases_declared is not None
            or purchase_openings is None
            or len(previous_purchases) != period - 1
            or len(purchase_openings) != period
        ):
            raise ValueError("proven purchases need the earlier periods' entries and one opening a period")
        chain = chain_with_purchases(
            group, chain, [*(e["evidence"] for e in previous_purchases), purchase_evidence]
        )
        proven = [dict(e) for e in previous_purchases]
        prices = list(purchase_openings)
        proven.append(proven_purchase_entry(group, deal, chain, period, purchase_evidence, prices[-1], rng))
        amounts = [int(e["value"]) for e in proven]
        if amounts != [o.value for o in prices]:
            raise ValueError("the purchase openings are not the prices the entries disclose")

        def with_prices(index: int, metric: str) -> Opening:
            return prices[index - 1] if metric == PURCHASES_METRIC else openings(index, metric)

        open_figure: Callable[[int, str], Opening] = with_prices

    elif purchases_declared is None or len(purchases_declared) != period:
        raise ValueError(f"purchases_declared needs one amount per period ({period})")
    else:
        amounts = list(purchases_declared)
        open_figure = openings
    last = len(chain.headers) - 1
    inputs: dict[str, Any] = {}
    for figure in INPUT_FIGURES:
        inputs[figure] = _disclosed(
            group, figure, openings(last, figure), _figure_context(deal, chain, figure), rng
        )
    cumulative: dict[str, Any] = {}
    for figure in CUMULATIVE_FIGURES:
        opening = opening_of(chain.cumulative_terms(figure), 0, openings)
        cumulative[figure] = _disclosed(group, figure, opening, _figure_context(deal, chain, figure), rng)
    period_inputs = PeriodInputs(**{f: inputs[f]["value"] for f in INPUT_FIGURES}, purchase_price=amounts[-1])
    statuses: list[TriggerStatus] = []
    forms = trigger_forms(chain, deal.triggers, expenses_due(deal, state_before), sum(amounts))
    for form in forms:
        statuses.append(prove_trigger(group, chain, form, open_figure, rng=rng))
    breached = {s.trigger_id: s.breached for s in statuses}
    dist = run_waterfall(deal, state_before, period_inputs, breached)
    doc: dict[str, Any] = {
        "format": bundle.format_string(KIND, VERSION),
        "pool_id": deal.pool_id,
        "cutoff_date": chain.headers[-1].context.cutoff_date,
        "period": period,
        "previous_report_hash": None if previous_report_hash is None else previous_report_hash.hex(),
        "headers": [h.doc for h in chain.headers],
        "inputs": inputs,
        **({"purchases_proven": proven} if proven is not None else {"purchases_declared": amounts}),
        "cumulative": cumulative,
        "cumulative_default_rate": cumulative_default_rate(
            deal, cumulative["cumulative_defaulted_principal"]["value"], amounts
        ),
        "triggers": [s.to_dict() for s in statuses],
        "state_before": state_before.to_dict(deal),
        "switches": {"revolving": dist.revolving, "principal_mode": dist.principal_mode},
        "lines": [[name, amount] for name, amount in dist.lines],
        "state_after": dist.state.to_dict(deal),
    }
    return bind_deal(doc, deal)


def sign_payment_report(key: Ed25519PrivateKey, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The report signed by the gateway key (Ed25519 over the canonical body, like every bundle)."""
    return bundle.sign_document(key, KIND, doc)


_SCHEMA: Final = bundle.Object(
    {
        "format": bundle.Const(bundle.format_string(KIND, VERSION)),
        "pool_id": bundle.Str(128),
        "cutoff_date": bundle.Date(),
        "period": bundle.Int(1, 10_000),
        "previous_report_hash": bundle.Nullable(bundle.Bytes(32)),
        "headers": bundle.ListOf(bundle.AnyJson(), 2, 10_001),
        "inputs": bundle.AnyJson(),
        "purchases_declared": bundle.ListOf(bundle.Int(0, 2**53 - 1), 1, 10_000),
        "purchases_proven": bundle.ListOf(
            bundle.Object(
                {"evidence": bundle.AnyJson(), "value": bundle.Int(0, 2**62), "proof": bundle.AnyJson()}
            ),
            1,
            10_000,
        ),
        "cumulative": bundle.AnyJson(),
        "cumulative_default_rate": bundle.AnyJson(),
        "triggers": bundle.ListOf(bundle.AnyJson(), 0, 64),
        "state_before": bundle.AnyJson(),
        "switches": bundle.AnyJson(),
        "lines": bundle.ListOf(bundle.AnyJson(), 1, 1_000),
        "state_after": bundle.AnyJson(),
        "extensions": bundle.AnyJson(),
        "signatures": bundle.SIGNATURES_SPEC,
    },
    optional=frozenset({"purchases_declared", "purchases_proven"}),
)


def _purchases_section(doc: Mapping[str, Any]) -> str:
    """Which purchases member the report carries (exactly one of the two)."""
    present = [k for k in ("purchases_proven", "purchases_declared") if k in doc]
    if len(present) != 1:
        raise EncodingError("report: expected exactly one of purchases_proven and purchases_declared")
    return present[0]


def _proven_amounts(
    group: Group, deal: Deal, chain: Chain, entries: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Each period's disclosed purchase price, checked against the chain's purchase commitments."""
    assert chain.purchases is not None
    out = []
    for period, (entry, point) in enumerate(zip(entries, chain.purchases, strict=True), start=1):
        proof = ClaimProof.from_dict(group, entry["proof"])
        check = f"distribution.purchases.{period}"
        if proof.kind != "disclosure" or proof.value != entry["value"]:
            raise VerificationError(check, "the value is not the one the proof discloses")
        try:
            verify_claim(
                group, Disclosure(PURCHASES_METRIC), {PURCHASES_METRIC: point}, proof,
                context=_purchase_context(deal, chain, period),
            )  # fmt: skip
        except VerificationError as exc:
            raise VerificationError(check, f"the price is not the committed one ({exc})") from None
        out.append(int(entry["value"]))
    return out


def purchases_of(group: Group, doc: Mapping[str, Any], deal: Deal, chain: Chain) -> tuple[Chain, list[int]]:
    """The chain with the report's purchase commitments (when proven) and each period's price.

    Raises:
        EncodingError, VerificationError: as :func:`verify_payment_report` for the purchases.
    """
    section = _purchases_section(doc)
    entries = doc[section]
    if len(entries) != chain.periods:
        raise VerificationError(
            "distribution.period", f"expected {section} for each of the {chain.periods} periods"
        )
    if section == "purchases_declared":
        return chain, [int(v) for v in entries]
    chain = chain_with_purchases(group, chain, [e["evidence"] for e in entries])
    return chain, _proven_amounts(group, deal, chain, entries)


def _figure(group: Group, deal: Deal, chain: Chain, section: Mapping[str, Any], name: str, terms: list[Term],
            where: str) -> int:  # fmt: skip
    """Verify one disclosed figure against the verifier's own commitment; return its value."""
    entry = section.get(name) if isinstance(section, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("value"), int):
        raise EncodingError(f"{where}.{name}: expected an object with an integer value and a proof")
    proof = ClaimProof.from_dict(group, entry.get("proof"))
    if proof.kind != "disclosure" or proof.value != entry["value"]:
        raise VerificationError(
            f"distribution.{where}.{name}", "the value is not the one the proof discloses"
        )
    try:
        verify_claim(
            group, Disclosure(name), {name: chain.commitment(group, terms)}, proof,
            context=_figure_context(deal, chain, name),
        )  # fmt: skip
    except VerificationError as exc:
        raise VerificationError(
            f"distribution.{where}.{name}", f"the figure is not the committed one ({exc})"
        ) from None
    return int(entry["value"])


def _check_previous(doc: Mapping[str, Any], deal: Deal, chain: Chain, gateway_key: Ed25519PublicKey,
                    previous: Mapping[str, Any] | None) -> DealState:  # fmt: skip
    """The state the period starts from, checked against the previous report (or closing)."""
    period = doc["period"]
    state = DealState.from_dict(deal, doc["state_before"])
    if period == 1:
        if doc["previous_report_hash"] is not None or state != initial_state(deal):
            raise VerificationError(
                "distribution.previous", "the first period must start from the deal's closing state"
            )
        return state
    if previous is None:
        raise VerificationError(
            "distribution.previous", f"period {period} needs the report of period {period - 1}"
        )
    try:
        bundle.verify_document(previous, KIND, gateway_key)
    except VerificationError as exc:
        raise VerificationError("distribution.previous", f"the previous report's signature: {exc}") from None
    check_deal_binding(previous, deal)
    if doc["previous_report_hash"] != report_hash(previous).hex():
        raise VerificationError(
            "distribution.previous", "previous_report_hash does not name the previous report"
        )
    if previous.get("period") != period - 1:
        raise VerificationError("distribution.previous", "the previous report is not of the period before")
    prev_headers = previous.get("headers")
    if not isinstance(prev_headers, list) or not all(isinstance(h, Mapping) for h in prev_headers):
        raise VerificationError("distribution.previous", "the previous report carries no list of headers")
    if [bundle.unsigned_body(h) for h in prev_headers] != [
        bundle.unsigned_body(h.doc) for h in chain.headers[:-1]
    ]:
        raise VerificationError(
            "distribution.previous", "the chain does not extend the previous report's chain"
        )
    if not _same(previous.get("state_after"), doc["state_before"]):
        raise VerificationError(
            "distribution.previous", "state_before is not the previous report's state_after"
        )
    section = _purchases_section(doc)
    if not _same(previous.get(section), doc[section][:-1]):
        raise VerificationError("distribution.previous", "the earlier periods' purchases were changed")
    return state


def verify_payment_report(
    doc: object,
    deal: Deal,
    gateway_key: Ed25519PublicKey,
    *,
    previous: Mapping[str, Any] | None = None,
    group: Group | None = None,
    lane_sets: Collection[str] = DEFAULT_ACCEPTED_LANE_SETS,
) -> VerifiedReport:
    """Check a payment report and recompute its distribution from its proven inputs and ``deal``.

    ``previous`` is the report of the period before (required from period 2 on): its signature, its
    hash, chain and ``state_after`` must be what this report starts from.

    Raises:
        EncodingError: a malformed report.
        VerificationError: ``distribution.signature``, ``deal.binding`` (the report's, or a header
            naming another deal in ``extensions.deal``), ``chain.*``,
            ``distribution.period``, ``distribution.previous``, ``distribution.inputs.<figure>``,
            ``distribution.cumulative.<figure>``, ``distribution.cumulative_default_rate``,
            ``distribution.triggers``, ``trigger.<id>``, ``distribution.line`` (names the line
            that differs), ``distribution.switches``, ``distribution.state_after``.
    """
    group = group or get_group()
    if not isinstance(doc, dict):
        raise EncodingError("report: expected an object")
    bundle.check_document(doc, KIND, {VERSION}, _SCHEMA)
    try:
        bundle.verify_document(doc, KIND, gateway_key)
    except VerificationError as exc:
        raise VerificationError("distribution.signature", str(exc)) from None
    check_deal_binding(doc, deal)
    chain = verify_chain(doc["headers"], gateway_key, deal, group=group, lane_sets=lane_sets)
    for header in chain.headers:  # a header that names its governing deal must name this one
        if header.deal_binding is not None:
            check_deal_binding(header.doc, deal)
    if doc["period"] != chain.periods or doc["cutoff_date"] != chain.headers[-1].context.cutoff_date:
        raise VerificationError(
            "distribution.period", "period or cut-off does not match the chain of headers"
        )
    if doc["pool_id"] != deal.pool_id:
        raise VerificationError("distribution.period", "the report is of another pool than the deal")
    chain, purchases = purchases_of(group, doc, deal, chain)
    state = _check_previous(doc, deal, chain, gateway_key, previous)
    values = {
        f: _figure(group, deal, chain, doc["inputs"], f, _input_terms(chain, f), "inputs")
        for f in INPUT_FIGURES
    }
    if set(doc["inputs"]) != set(INPUT_FIGURES):
        raise VerificationError(
            "distribution.inputs", f"expected exactly the figures {', '.join(INPUT_FIGURES)}"
        )
    cumulative = {
        f: _figure(group, deal, chain, doc["cumulative"], f, chain.cumulative_terms(f), "cumulative")
        for f in CUMULATIVE_FIGURES
    }
    cdr = cumulative_default_rate(deal, cumulative["cumulative_defaulted_principal"], purchases)
    if not _same(doc["cumulative_default_rate"], cdr):
        raise VerificationError("distribution.cumulative_default_rate", f"expected {cdr}")
    forms = trigger_forms(chain, deal.triggers, expenses_due(deal, state), sum(purchases))
    entries = doc["triggers"]
    if [e.get("id") if isinstance(e, Mapping) else None for e in entries] != [t.id for t in deal.triggers]:
        raise VerificationError(
            "distribution.triggers", "expected one status per trigger of the deal, in deal order"
        )
    breached = {
        form.trigger.id: verify_trigger(group, chain, form, e) for form, e in zip(forms, entries, strict=True)
    }
    inputs = PeriodInputs(**values, purchase_price=purchases[-1])
    dist = run_waterfall(deal, state, inputs, breached)
    _compare_lines(doc["lines"], dist.lines)
    if not _same(doc["switches"], {"revolving": dist.revolving, "principal_mode": dist.principal_mode}):
        raise VerificationError("distribution.switches", f"the deal gives revolving={dist.revolving}, "
                                f"principal_mode={dist.principal_mode}")  # fmt: skip
    if not _same(doc["state_after"], dist.state.to_dict(deal)):
        raise VerificationError("distribution.state_after", "state_after is not what the waterfall leaves")
    return VerifiedReport(chain, inputs, cumulative, breached, dist, report_hash(doc))


def _same(published: object, computed: object) -> bool:
    """Equal as canonical JSON (so ``true`` is not ``1`` and ``1.0`` is refused)."""
    try:
        return canonical_json(published) == canonical_json(computed)
    except (EncodingError, TypeError, ValueError):
        return False


def _compare_lines(published: object, computed: Sequence[tuple[str, int]]) -> None:
    if not isinstance(published, list):
        raise EncodingError("lines: expected a list of [name, amount]")
    for i, (name, amount) in enumerate(computed):
        if i >= len(published):
            raise VerificationError("distribution.line", f"{name}: missing from the report")
        entry = published[i]
        if not isinstance(entry, list) or len(entry) != 2 or entry[0] != name:
            raise VerificationError(
                "distribution.line", f"line {i} should be {name}, the report has {str(entry)[:60]}"
            )
        if not _same(entry[1], amount):
            raise VerificationError(
                "distribution.line",
                f"{name}: the report says {entry[1]}, the deal's waterfall gives {amount}",
            )
    if len(published) != len(computed):
        raise VerificationError(
            "distribution.line", f"the report has {len(published) - len(computed)} extra lines"
        )


def trigger_table(doc: Mapping[str, Any], deal: Deal) -> str:
    """The report's trigger statuses as a text table (for people; the proofs are in the report)."""
    after = doc["state_after"]["triggers"]
    rows = [("trigger", "kind", "level", "status", "in effect", "effect")]
    for entry in doc["triggers"]:
        t = deal.trigger(entry["id"])
        level = "0 (below)" if t.kind == "excess_spread" else f"{t.level_bps} bps"
        status = "BREACHED" if entry["breached"] else "not breached"
        rows.append((t.id, t.kind, level, status, "yes" if after[t.id]["in_effect"] else "no", t.effect))
    cdr = doc["cumulative_default_rate"]
    rate = f"{cdr['ppm'] // 10_000}.{cdr['ppm'] % 10_000:04d} %"
    return _table(rows) + f"\ncumulative default rate: {rate} ({cdr['numerator']} / {cdr['denominator']})\n"


def waterfall_table(doc: Mapping[str, Any]) -> str:
    """The report's payment lines as a text table, with the period's switches."""
    rows = [("line", "amount")] + [(str(name), f"{amount:,}") for name, amount in doc["lines"]]
    s = doc["switches"]
    return _table(rows) + f"\nrevolving: {s['revolving']}, principal: {s['principal_mode']}\n"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
