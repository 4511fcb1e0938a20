"""Read views shared by every audience blueprint: pools in scope, loans (keyset pages), statistics."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from policies import Party, PolicyError

from ..policy_views import DEFAULT_PURPOSE, loan_page, policy_party, pool_stats
from ..snapshots.disclosure import (
    controlled_report,
    controlled_stats,
    exact_report,
    is_aggregate_only,
    log_unsealed_refusal,
    report_denied_fields,
)
from ..snapshots.sealed import SnapshotRecord, get_snapshot, snapshot_tape_id
from ..storage.records import (
    NotFound,
    PartyRecord,
    current_tape,
    get_pool,
    get_tape,
    pool_ids,
)
from ..storage.tapes import TapeRecord
from .audiences import ROLE_PREFIXES
from .common import (
    AudienceResource,
    fail,
    get_db,
    get_log_db,
    keys_for,
    mount,
    policy,
    require_role,
    scoped_pool,
    shared_docs,
)
from .schemas import (
    DisclosedStatsSchema,
    LoanPageQuerySchema,
    LoanPageSchema,
    PoolSchema,
    ReportSchema,
    StatsQuerySchema,
)


def _sealed_or_404(p: Party, pool_id: str, cutoff: str, what: str) -> SnapshotRecord:
    """The cut-off's sealed snapshot; 404 (and a logged refusal) for an aggregate-only party without one."""
    try:
        return get_snapshot(get_db(), pool_id, cutoff)
    except NotFound:
        log_unsealed_refusal(get_log_db(), policy(), p, pool_id, cutoff, what)
        fail(404, f"no sealed snapshot of pool {pool_id!r} for cut-off {cutoff}")


def _purpose(party: PartyRecord, asked: str | None) -> str:
    purpose = asked or DEFAULT_PURPOSE[party.role]
    spec = policy().roles.get(party.role)
    if spec is None or purpose not in spec.purposes:
        fail(403, f"purpose {purpose!r} is not declared for role {party.role!r}")
    return purpose


def _scoped_tape(
    role: str, pool_id: str, cutoff: str, purpose_arg: str | None
) -> tuple[PartyRecord, str, TapeRecord]:
    """The calling party (of ``role``, scoped to the pool), its declared purpose and the cut-off's tape.

    Aborts with 401/403 outside the role or scope and 404 when the cut-off has no tape.
    """
    party = require_role(role)
    scoped_pool(party, pool_id)
    purpose = _purpose(party, purpose_arg)
    tape = current_tape(get_db(), pool_id, cutoff)
    return party, purpose, tape


# --- resources ------------------------------------------------------------------------------------------
class ScopedPools(AudienceResource):
    @shared_docs.response(200, PoolSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """The pools in the calling party's scope."""
        party = require_role(self.role)
        db = get_db()
        ids = pool_ids(db) if self.role == "regulator" else list(party.pools)
        return [get_pool(db, p).to_dict() for p in ids]


class Loans(AudienceResource):
    @shared_docs.arguments(LoanPageQuerySchema, location="query")
    @shared_docs.response(200, LoanPageSchema)
    @shared_docs.alt_response(403, description="pool outside the party's scope, or purpose not declared")
    @shared_docs.alt_response(404, description="no such pool, or no tape for the cut-off")
    def get(self, query: dict[str, Any], pool_id: str, cutoff: str) -> dict[str, Any]:
        """Loans of the cut-off's current tape as the policy lets this party see them (an
        aggregate-only party that is not limited to its own loans: of the sealed snapshot's tape).

        Keyset pagination: pass the previous page's ``next_after`` as ``after``. Every page's
        decisions are appended to the decision log.
        """
        party, purpose, tape = _scoped_tape(self.role, pool_id, cutoff, query["purpose"])
        p = policy_party(party)
        spec = policy().roles.get(party.role)
        row_scoped = spec is not None and spec.row_scope != "pool"  # own loans only: not an aggregate
        if not row_scoped and is_aggregate_only(policy(), p, purpose, pool_id):
            # Even a page of bare rows tells how many loans a tape has: an aggregate-only party
            # reads the sealed snapshot's tape (its loan count is the signed header's).
            snap = _sealed_or_404(p, pool_id, cutoff, "loans")
            tape = get_tape(get_db(), snapshot_tape_id(get_db(), snap))
        try:
            page = loan_page(
                get_db(),
                get_log_db(),
                policy(),
                party,
                keys_for(pool_id),
                tape,
                purpose,
                after=query["after"],
                limit=query["limit"],
            )
        except PolicyError as exc:
            fail(403, str(exc))
        return {
            "pool_id": pool_id,
            "cutoff_date": cutoff,
            "tape_id": tape.id,
            "purpose": purpose,
            "loans": page.loans,
            "next_after": page.next_after,
        }


class Stats(AudienceResource):
    @shared_docs.arguments(StatsQuerySchema, location="query")
    @shared_docs.response(200, DisclosedStatsSchema)
    @shared_docs.alt_response(403, description="pool outside the party's scope, or purpose not declared")
    @shared_docs.alt_response(
        404,
        description="no such pool, no tape for the cut-off, or no sealed snapshot (aggregate-only)",
    )
    def get(self, query: dict[str, Any], pool_id: str, cutoff: str) -> dict[str, Any]:
        """Whole-pool statistics of the cut-off (sums, counts, DPD buckets) the policy releases.

        A party the policy allows aggregates only (investors; borrowers beyond their own loans)
        gets the figures of the cut-off's sealed snapshot through disclosure control: each figure
        with its unit and currency, or ``{"suppressed": true, "reason": ...}`` with one fixed text
        when it rests on too few obligors or would isolate a few from figures released before."""
        party, purpose, tape = _scoped_tape(self.role, pool_id, cutoff, query["purpose"])
        if is_aggregate_only(policy(), policy_party(party), purpose, pool_id):
            snap = _sealed_or_404(policy_party(party), pool_id, cutoff, "stats")
            return stats_body(party, pool_id, cutoff, purpose, tape, snap)
        return stats_body(party, pool_id, cutoff, purpose, tape, None)


def stats_body(
    party: PartyRecord, pool_id: str, cutoff: str, purpose: str, tape: Any, snap: SnapshotRecord | None
) -> dict[str, Any]:
    """The statistics body of a cut-off for ``party``: through disclosure control over the sealed
    ``snap`` (an aggregate-only party), else the policy view of ``tape``. Logs its decisions.
    The API's ``.../stats`` route and the dashboard's pages both answer with it."""
    if snap is not None:
        stats, withheld, table = controlled_stats(
            get_db(), get_log_db(), policy(), party, keys_for(pool_id), snap, purpose
        )
        return {
            "pool_id": pool_id,
            "cutoff_date": cutoff,
            "tape_id": snapshot_tape_id(get_db(), snap),
            "snapshot_id": snap.snapshot_id,
            "purpose": purpose,
            "currency": table["currency"],
            "minor_unit": table["minor_unit"],
            "min_cohort": table["min_cohort"],
            "stats": stats,
            "withheld": withheld,
        }
    stats, withheld = pool_stats(get_log_db(), policy(), party, tape, purpose)
    return {
        "pool_id": pool_id,
        "cutoff_date": cutoff,
        "tape_id": tape.id,
        "purpose": purpose,
        "stats": stats,
        "withheld": withheld,
    }


class Report(AudienceResource):
    @shared_docs.response(200, ReportSchema)
    @shared_docs.alt_response(
        403, description="pool outside the party's scope, or the report is not for this role"
    )
    @shared_docs.alt_response(404, description="no such pool, no registered report, or no sealed snapshot")
    def get(self, pool_id: str, cutoff: str, report_id: str) -> dict[str, Any]:
        """A registered report (fixed dimensions, see the policy's ``[[reports]]``) of the sealed
        snapshot. Aggregate-only parties get it through disclosure control, like the statistics."""
        party = require_role(self.role)
        scoped_pool(party, pool_id)
        report = policy().aggregates.reports.get(report_id)
        if report is None:
            fail(404, f"no registered report {report_id!r}")
        if self.role not in report.roles:
            fail(403, f"report {report_id!r} is not for role {self.role!r}")
        try:
            snap = get_snapshot(get_db(), pool_id, cutoff)
        except NotFound:
            fail(404, f"no sealed snapshot of pool {pool_id!r} for cut-off {cutoff}")
        p = policy_party(party)
        denied = report_denied_fields(policy(), p, report, DEFAULT_PURPOSE[self.role], pool_id)
        if denied:
            fail(
                403,
                f"report {report_id!r} is built from fields denied to role {self.role!r}: "
                f"{', '.join(denied)}",
            )
        if is_aggregate_only(policy(), p, DEFAULT_PURPOSE[self.role], pool_id):
            body = controlled_report(get_db(), get_log_db(), policy(), party, keys_for(pool_id), snap, report)
        else:
            body = exact_report(get_db(), keys_for(pool_id), snap, report)
        return {
            "pool_id": pool_id,
            "cutoff_date": cutoff,
            "snapshot_id": snap.snapshot_id,
            "report_id": report_id,
            "dimensions": list(report.dimensions),
            **body,
        }


def register_view_routes(blp: Blueprint, role: str) -> None:
    """Mount ``/pools`` (but for platforms), ``.../loans``, ``.../stats`` and ``.../reports`` on ``blp``
    for parties of ``role``."""
    if role != "platform":
        mount(blp, "/pools", ScopedPools, role)
    cutoff = "/pools/<pool_id>/cutoffs/<cutoff>"
    mount(blp, f"{cutoff}/loans", Loans, role)
    mount(blp, f"{cutoff}/stats", Stats, role)
    mount(blp, f"{cutoff}/reports/<report_id>", Report, role)


def audience_blueprint(role: str, url: str, description: str) -> Blueprint:
    """A read-only blueprint for one audience (role)."""
    blp = Blueprint(role, __name__, url_prefix=url, description=description)
    register_view_routes(blp, role)
    return blp


#: What each reading audience's blueprint is for (the platform's own is :mod:`.platform`).
_DESCRIPTIONS = {
    "trustee": "Trustee / SPV manager: loan-level economics",
    "rating_agency": "Rating agencies: pseudonymised loan-level data",
    "investor": "Investors: aggregates and proven claims",
    "auditor": "Auditors: masked or generalised fields",
    "regulator": "Regulators: raw on lawful request, every access logged",
    "borrower": "Borrowers: their own loans",
}

#: One read-view blueprint per audience but the platform, in the order of the audience table.
AUDIENCES = [
    audience_blueprint(role, prefix, _DESCRIPTIONS[role])
    for role, prefix in ROLE_PREFIXES.items()
    if role != "platform"
]
