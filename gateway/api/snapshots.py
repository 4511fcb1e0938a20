"""Snapshot routes of every audience: headers and bundles, metrics, claims, borrower inclusion, sampling.

One blueprint per audience (:data:`AUDIENCE_BLUEPRINTS`), mounted beside the audience's view blueprint
(same URL prefix); which resources each mounts is decided by its role:

* everyone in scope: ``GET .../pools/<pool>/snapshots`` and ``.../snapshots/<cutoff>/header``;
* platform, trustee, auditor, regulator: the whole snapshot bundle, streamed (``.../bundle``);
* platform, trustee, regulator: the plaintext metrics report (``.../metrics``), per the policy's
  exact-value claim rules;
* every role but borrowers: ``POST .../snapshots/<cutoff>/claims`` (policy + aggregate guard decide;
  an exact claim of an aggregate-only party also through the exact release table) and
  ``POST .../snapshots/<cutoff>/figures`` (exact figures with their definitions, units and proofs);
* borrowers: ``GET .../snapshots/<cutoff>/inclusion?platform_loan_id=...`` for their own loans;
* trustee, auditor, regulator: ``GET .../snapshots/<cutoff>/leaves/<i>/inclusion`` (sampling).

Seal jobs are :mod:`.seal_jobs`; the gateway's public key is :mod:`.public`.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Response, current_app, stream_with_context
from flask_smorest import Blueprint

from policies import DecisionLog, Party, derive_pseudonym_key
from policies.aggregates import REFUSED
from policies.decision import Decision
from policies.figures import figure_definition
from proofs.cell_claims import parse_cell_metric
from proofs.claims import Disclosure, statement_from_dict
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.snapshot import verify_header

from ..ingest.rules import same_loan_id
from ..policy_views import DEFAULT_PURPOSE, policy_party
from ..snapshots.disclosure import (
    ClaimRefused,
    claim_kind,
    exact_figure_decisions,
    is_aggregate_only,
    metrics_release,
    parse_roll_figure,
    spend_claim_budget,
    suppressed_figure,
)
from ..snapshots.links import roll_figure, stored_link
from ..snapshots.sealed import (
    SnapshotRecord,
    check_claim_fits,
    get_snapshot,
    inclusion_bundle,
    list_snapshots,
    prove_claim,
    snapshot_tape_id,
    stream_snapshot_bundle,
)
from ..storage import decisions
from ..storage import links as link_rows
from ..storage.db import connect
from ..storage.records import get_pool, get_tape, iter_loans
from .audiences import ROLE_PLURALS, ROLE_PREFIXES
from .common import (
    AudienceResource,
    fail,
    gateway_signing_key,
    get_db,
    get_log_db,
    header_signer,
    keys_for,
    mount,
    policy,
    shared_docs,
)
from .schemas import (
    ClaimRequestSchema,
    ExactFiguresRequestSchema,
    ExactFiguresSchema,
    InclusionQuerySchema,
    InclusionSchema,
    MetricsSchema,
    SnapshotSummarySchema,
)

#: What a false claim gets: the same fixed answer whatever the hidden value is.
CANNOT_PROVE = "cannot prove this claim on this snapshot"
BUNDLE_ROLES = ("platform", "trustee", "auditor", "regulator")
SAMPLING_ROLES = ("trustee", "auditor", "regulator")
METRICS_ROLES = ("platform", "trustee", "regulator")


def _snapshot_or_404(pool_id: str, cutoff: str) -> SnapshotRecord:
    return get_snapshot(get_db(), pool_id, cutoff)


def _log(p: Party, decided: list[Decision], resource: str, count: int) -> None:
    log = DecisionLog()
    log.append(decided, resource=resource, record_count=count)
    decisions.persist(get_log_db(), log)


def _unprocessable(message: str) -> NoReturn:
    fail(422, message)


# --- resources ------------------------------------------------------------------------------------------
class Snapshots(AudienceResource):
    @shared_docs.response(200, SnapshotSummarySchema(many=True))
    @shared_docs.alt_response(403, description="pool outside the party's scope")
    def get(self, pool_id: str) -> list[dict[str, Any]]:
        """The pool's sealed snapshots, oldest first (hash-chained by previous_header_hash)."""
        self.caller(pool_id)
        return [s.summary() for s in list_snapshots(get_db(), pool_id)]


class SnapshotHeader(AudienceResource):
    @shared_docs.response(200, description="the signed snapshot header (poolproof/snapshot-header/v1)")
    @shared_docs.alt_response(404, description="no sealed snapshot for the cut-off")
    def get(self, pool_id: str, cutoff: str) -> dict[str, Any]:
        """The signed snapshot header: pool, cut-off, leaf count, Merkle root, lane aggregates."""
        self.caller(pool_id)
        return _snapshot_or_404(pool_id, cutoff).header


class SnapshotBundle(AudienceResource):
    @shared_docs.response(200, description="poolproof/snapshot/v1 bundle, one chunk per line (streamed)")
    @shared_docs.alt_response(404, description="no sealed snapshot for the cut-off")
    def get(self, pool_id: str, cutoff: str) -> Response:
        """The whole snapshot (every leaf and range proof) for ``poolproof-audit verify-snapshot``."""
        self.caller(pool_id)
        snap = _snapshot_or_404(pool_id, cutoff)
        db_path = current_app.config["DATABASE"]

        def generate() -> Any:
            db = connect(db_path)
            try:
                yield from stream_snapshot_bundle(db, snap)
            finally:
                db.conn.close()

        headers = {"Content-Disposition": f'attachment; filename="snapshot-{pool_id}-{cutoff}.json"'}
        return Response(stream_with_context(generate()), mimetype="application/json", headers=headers)


class SnapshotMetrics(AudienceResource):
    @shared_docs.response(200, MetricsSchema)
    @shared_docs.alt_response(404, description="no sealed snapshot for the cut-off")
    def get(self, pool_id: str, cutoff: str) -> dict[str, Any]:
        """Plaintext pool metrics from the snapshot's lane totals (metrics the policy withholds are
        listed, not shown)."""
        party = self.caller(pool_id)
        snap = _snapshot_or_404(pool_id, cutoff)
        p = policy_party(party)
        metrics, ratios, withheld, decided = metrics_release(policy(), p, keys_for(pool_id), snap)
        _log(p, decided, f"pool:{pool_id}/snapshot:{snap.snapshot_id}/metrics", 1)
        return {
            "pool_id": pool_id,
            "cutoff_date": cutoff,
            "snapshot_id": snap.snapshot_id,
            "metrics": metrics,
            "ratios_bps": ratios,
            "withheld": withheld,
        }


class Claims(AudienceResource):
    @shared_docs.arguments(ClaimRequestSchema)
    @shared_docs.response(200, description="poolproof/claim/v1 bundle: header, statement, nonce, proof")
    @shared_docs.alt_response(403, description="the policy or the aggregate guard refuses this claim")
    @shared_docs.alt_response(404, description="no sealed snapshot for the cut-off")
    @shared_docs.alt_response(422, description=f"malformed statement, or '{CANNOT_PROVE}' for a false claim")
    def post(self, body: dict[str, Any], pool_id: str, cutoff: str) -> dict[str, Any]:
        """Prove a claim about pool metrics on a sealed snapshot, bound to the requester's nonce.

        A false claim gets 422 with a fixed message; its threshold still counts against the
        requester's budget (the answer is one bit either way)."""
        party = self.caller(pool_id)
        snap = _snapshot_or_404(pool_id, cutoff)
        try:
            statement = statement_from_dict(body["statement"])
        except EncodingError as exc:
            _unprocessable(f"invalid claim statement: {exc}")
        header = verify_header(snap.header, header_signer(snap), lane_sets={snap.lanes.name})
        try:
            check_claim_fits(header, snap, statement)  # public checks: known metrics and cells, value_bits
        except VerificationError as exc:
            _unprocessable(f"claim does not fit this snapshot ({exc.check}): {exc}")
        p = policy_party(party)
        kind = claim_kind(statement)
        decided = [policy().may_request_claim(p, kind, m, pool_id=pool_id) for m in statement.metrics]
        resource = f"pool:{pool_id}/snapshot:{snap.snapshot_id}/claims"
        refused = [d for d in decided if not d.allowed]
        if refused:
            _log(p, decided, resource, 0)
            fail(
                403,
                f"the policy refuses this claim to role {party.role!r}: {refused[0].reason}",
            )
        if kind == "exact" and is_aggregate_only(policy(), p, DEFAULT_PURPOSE[p.role], pool_id):
            released = exact_figure_decisions(
                get_db(), policy(), p, keys_for(pool_id), snap, list(statement.metrics)
            )
            decided += released
            if not all(d.allowed for d in released):
                _log(p, decided, resource, 0)
                fail(403, REFUSED)
        try:
            decided += spend_claim_budget(get_db(), policy(), p, snap, statement)
        except ClaimRefused as refused_claim:
            _log(p, [refused_claim.decision], resource, 0)
            fail(403, REFUSED)
        try:
            answer = prove_claim(
                header, keys_for(pool_id), snap, statement, bytes.fromhex(body["nonce"]), get_db()
            )
        except ProvingError:
            _log(p, decided, resource, 0)
            _unprocessable(CANNOT_PROVE)
        _log(p, decided, resource, 1)
        return answer


class ExactFigures(AudienceResource):
    @shared_docs.arguments(ExactFiguresRequestSchema)
    @shared_docs.response(200, ExactFiguresSchema)
    @shared_docs.alt_response(403, description="the policy's disclosure modes refuse an exact figure")
    @shared_docs.alt_response(404, description="no sealed snapshot for the cut-off")
    @shared_docs.alt_response(422, description="a figure id the snapshot's statement does not define")
    def post(self, body: dict[str, Any], pool_id: str, cutoff: str) -> dict[str, Any]:
        """Exact figures of a sealed snapshot, each with its definition's name, its unit and the claim
        bundle that proves it, bound to the requester's nonce.

        Each figure must be one the policy lets the party open exactly (else 403 naming the rule).
        For an aggregate-only party every figure leaves through the disclosure-control point: one over
        fewer than the minimum cohort, or one that would difference a small cohort out of what was
        released before, is the fixed suppression object instead."""
        party = self.caller(pool_id)
        snap = _snapshot_or_404(pool_id, cutoff)
        header = verify_header(snap.header, header_signer(snap), lane_sets={snap.lanes.name})
        p = policy_party(party)
        ids = list(dict.fromkeys(body["figures"]))
        statements = {}
        rolls = {fid: r for fid in ids if (r := parse_roll_figure(fid)) is not None}
        for fid in ids:
            if fid in rolls:
                if rolls[fid][0] == "row":
                    _unprocessable(
                        f"figure {fid!r}: a row total comes with each roll/count/<from>/<to> figure"
                    )
                stored_link(get_db(), snap)  # 422 when the month is not linked
                continue
            try:
                statements[fid] = Disclosure(fid)
                check_claim_fits(header, snap, statements[fid])
            except (EncodingError, VerificationError, ValueError, KeyError) as exc:
                _unprocessable(f"figure {fid!r}: not a figure of this snapshot's statement ({exc})")
        resource = f"pool:{pool_id}/snapshot:{snap.snapshot_id}/figures"
        decided = [policy().may_request_claim(p, "exact", fid, pool_id=pool_id) for fid in ids]
        refused = [d for d in decided if not d.allowed]
        if refused:
            _log(p, decided, resource, 0)
            fail(
                403,
                f"the policy refuses an exact {refused[0].field.split(':', 2)[2]!r} to role "
                f"{party.role!r} [{refused[0].rule_ids[0]}]: {refused[0].reason}",
            )
        keys = keys_for(pool_id)
        released = {fid: True for fid in ids}
        if is_aggregate_only(policy(), p, DEFAULT_PURPOSE[p.role], pool_id):
            # A count figure also shows its from-state's row total: both cohorts must be released.
            rows = [f"roll/row/{rolls[f][1]}" for f in ids if f in rolls and rolls[f][0] == "count"]
            asked = ids + [r for r in dict.fromkeys(rows) if r not in ids]
            gate = exact_figure_decisions(get_db(), policy(), p, keys, snap, asked)
            decided += gate
            allowed = {fid: d.allowed for fid, d in zip(asked, gate, strict=True)}
            released = {
                fid: allowed[fid]
                and (fid not in rolls or rolls[fid][0] != "count" or allowed[f"roll/row/{rolls[fid][1]}"])
                for fid in ids
            }
        cfg = get_pool(get_db(), pool_id).config
        nonce = bytes.fromhex(body["nonce"])
        out = []
        for fid in ids:
            if fid in rolls:
                out.append(_roll_entry(fid, rolls[fid], released[fid], snap, cfg))
                continue
            definition = figure_definition(fid)
            cell = parse_cell_metric(fid)
            loans = snap.lanes.metric_unit(fid if cell is None else cell[2]) == "loans"
            entry: dict[str, Any] = {
                "figure_id": fid,
                "definition": definition.name if definition is not None else fid,
                "unit": "loans" if loans else cfg.minor_unit,
            }
            if not loans:
                entry["currency"] = cfg.currency
            if not released[fid]:
                entry.update(suppressed_figure(policy()))
            else:
                try:
                    bundle = prove_claim(header, keys, snap, statements[fid], nonce, get_db())
                except ProvingError:  # pragma: no cover - a disclosure always holds
                    _unprocessable(CANNOT_PROVE)
                entry["value"] = int(bundle["proof"]["value"])
                entry["bundle"] = bundle
            out.append(entry)
        _log(p, decided, resource, sum(1 for e in out if "value" in e))
        return {
            "pool_id": pool_id,
            "cutoff_date": cutoff,
            "snapshot_id": snap.snapshot_id,
            "currency": cfg.currency,
            "minor_unit": cfg.minor_unit,
            "min_cohort": policy().aggregates.min_cohort,
            "figures": out,
        }


def _roll_entry(
    fid: str, roll: tuple[str, str, str | None], released: bool, snap: SnapshotRecord, cfg: Any
) -> dict[str, Any]:
    """One roll-rate figure of ``POST .../figures``: its compact proof against the signed link header
    (``poolproof/roll-figure/v1``, checked by :func:`proofs.link.verify_roll_figure`), or suppressed."""
    by, i, j = roll
    assert j is not None
    entry: dict[str, Any] = {
        "figure_id": fid,
        "definition": "roll rate (docs/metrics.md, Roll rates)",
        "unit": "loans" if by == "count" else cfg.minor_unit,
    }
    if by == "balance":
        entry["currency"] = cfg.currency
    if not released:
        entry.update(suppressed_figure(policy()))
        return entry
    figure = roll_figure(get_db(), snap, by, i, j, gateway_signing_key())
    entry["value"] = figure["cell"]
    if figure["row_total"] is not None:
        entry["row_total"] = figure["row_total"]
    entry["bundle"] = figure
    return entry


class SnapshotLink(AudienceResource):
    @shared_docs.response(200, description="poolproof/link/v1 bundle to the month before")
    @shared_docs.alt_response(404, description="no sealed snapshot for the cut-off")
    @shared_docs.alt_response(422, description="the snapshot is not linked to the month before, and why")
    def get(self, pool_id: str, cutoff: str) -> dict[str, Any]:
        """The signed link between this snapshot and the pool's one before it, for
        ``poolproof-audit verify-link`` and ``verify-series``: the roll matrix opened, every exit and
        entry by exposure id. A month that could not be linked answers 422 with the reason."""
        self.caller(pool_id)
        snap = _snapshot_or_404(pool_id, cutoff)
        link = link_rows.get_link(get_db(), pool_id, cutoff)
        if link is not None and link.status == "refused":
            fail(422, f"the snapshot of {cutoff} could not be linked to the month before: {link.reason}")
        return dict(stored_link(get_db(), snap).bundle or {})


class SampledInclusion(AudienceResource):
    @shared_docs.response(200, description="poolproof/inclusion bundle of one leaf")
    @shared_docs.alt_response(403, description="the policy does not allow sampled inclusion checks")
    @shared_docs.alt_response(404, description="no such leaf, or no sealed snapshot for the cut-off")
    def get(self, pool_id: str, cutoff: str, leaf_index: int) -> dict[str, Any]:
        """A sampled leaf's opening and inclusion proof (auditor sampling: compare the committed
        principal and DPD bucket with the loan file of the same exposure id)."""
        party = self.caller(pool_id)
        snap = _snapshot_or_404(pool_id, cutoff)
        p = policy_party(party)
        decision = policy().may_request_claim(p, "inclusion", "sampled_leaf", pool_id=pool_id)
        resource = f"pool:{pool_id}/snapshot:{snap.snapshot_id}/leaves/{leaf_index}"
        _log(p, [decision], resource, 1 if decision.allowed else 0)
        if not decision.allowed:
            fail(403, decision.reason)
        if not 0 <= leaf_index < int(snap.header["leaf_count"]):
            fail(404, f"snapshot has no leaf {leaf_index}")
        db = get_db()
        keys = keys_for(pool_id)
        tape = get_tape(db, snapshot_tape_id(db, snap))
        stored = next(iter_loans(db, keys, tape, after=leaf_index, limit=1), None)
        if stored is None:  # pragma: no cover - the tape has leaf_count loans
            fail(404, f"snapshot has no leaf {leaf_index}")
        return inclusion_bundle(db, keys, snap, stored.record, stored.index)


class Inclusion(AudienceResource):
    @shared_docs.arguments(InclusionQuerySchema, location="query")
    @shared_docs.response(200, InclusionSchema)
    @shared_docs.alt_response(404, description="no such loan among the borrower's loans, or no snapshot")
    def get(self, query: dict[str, Any], pool_id: str, cutoff: str) -> dict[str, Any]:
        """The borrower's own loan as the policy shows it, with its leaf opening and inclusion
        proof under the signed header (``poolproof-audit verify-inclusion``)."""
        party = self.caller(pool_id)
        snap = _snapshot_or_404(pool_id, cutoff)
        p = policy_party(party)
        decision = policy().may_request_claim(p, "inclusion", "own_loan", pool_id=pool_id)
        resource = f"pool:{pool_id}/snapshot:{snap.snapshot_id}/inclusion"
        if not decision.allowed:
            _log(p, [decision], resource, 0)
            fail(403, decision.reason)
        db = get_db()
        keys = keys_for(pool_id)
        tape = get_tape(db, snapshot_tape_id(db, snap))
        found = None
        for stored in iter_loans(db, keys, tape, obligor_pseudo_ids=tuple(party.obligor_keys)):
            if same_loan_id(stored.record.get("platform_loan_id", ""), query["platform_loan_id"]):
                found = stored
                break
        if found is None:
            _log(p, [decision], resource, 0)
            fail(404, "no loan with this platform_loan_id among your loans in this snapshot")
        log = DecisionLog()
        rows = policy().view(
            p,
            [found.record],
            DEFAULT_PURPOSE["borrower"],
            pool_id=pool_id,
            log=log,
            pseudonym_key=derive_pseudonym_key(keys.recipient_pseudonym_master, party.id, pool_id),
            resource=resource,
        )
        log.append([decision], resource=resource, record_count=1)
        decisions.persist(get_log_db(), log)
        if not rows:
            fail(404, "no loan with this platform_loan_id among your loans in this snapshot")
        return {
            "record": rows[0],
            "inclusion": inclusion_bundle(db, keys, snap, found.record, found.index),
        }


# --- blueprints -----------------------------------------------------------------------------------------
def _audience_blueprint(role: str) -> Blueprint:
    """The snapshot blueprint of one audience, with the resources its role may use."""
    blp = Blueprint(
        f"{role}_snapshots",
        __name__,
        url_prefix=ROLE_PREFIXES[role],
        description=f"Sealed snapshots for {ROLE_PLURALS[role]}: headers"
        + (", bundles" if role in BUNDLE_ROLES else "")
        + (", metrics" if role in METRICS_ROLES else "")
        + (", inclusion proofs" if role == "borrower" else ", claims, exact figures"),
    )
    snapshot = "/pools/<pool_id>/snapshots/<cutoff>"
    mount(blp, "/pools/<pool_id>/snapshots", Snapshots, role)
    mount(blp, f"{snapshot}/header", SnapshotHeader, role)
    if role in BUNDLE_ROLES:
        mount(blp, f"{snapshot}/bundle", SnapshotBundle, role)
        mount(blp, f"{snapshot}/link", SnapshotLink, role)
    if role in METRICS_ROLES:
        mount(blp, f"{snapshot}/metrics", SnapshotMetrics, role)
    if role != "borrower":
        mount(blp, f"{snapshot}/claims", Claims, role)
        mount(blp, f"{snapshot}/figures", ExactFigures, role)
    if role in SAMPLING_ROLES:
        mount(blp, f"{snapshot}/leaves/<int:leaf_index>/inclusion", SampledInclusion, role)
    if role == "borrower":
        mount(blp, f"{snapshot}/inclusion", Inclusion, role)
    return blp


#: One snapshot blueprint per audience, in the order of the audience table.
AUDIENCE_BLUEPRINTS = [_audience_blueprint(role) for role in ROLE_PREFIXES]
