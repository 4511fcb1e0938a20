"""Views of stored loans and pool statistics for a calling party, through :class:`policies.Policy`.

Every answer goes through the policy (deny by default; row scope; masking, generalisation,
per-recipient pseudonyms) and its decisions are appended to the persisted decision log in the same
request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from policies import DecisionLog, Party, Policy, Transform, derive_pseudonym_key

from .keys.keyring import PoolKeys
from .storage import decisions
from .storage.records import PartyRecord, iter_loans
from .storage.tapes import TapeRecord

DEFAULT_PURPOSE = {
    "platform": "servicing",
    "trustee": "waterfall",
    "rating_agency": "rating",
    "investor": "investment_monitoring",
    "auditor": "audit",
    "regulator": "supervision",
    "borrower": "self_service",
}

# Which catalogue fields each pool statistic is computed from: a statistic is released only if no
# underlying field is denied to the party (aggregate-only, masked, generalised, pseudonymised and raw
# all permit a whole-pool aggregate; the whole pool always passes the minimum-cohort rule).
STAT_FIELDS: dict[str, tuple[str, ...]] = {
    "loans": ("loan_status",),  # the status breakdown discloses the count anyway
    "distinct_obligors": ("obligor_pseudo_id",),
    "original_principal_fen": ("original_principal_fen",),
    "current_principal_fen": ("current_principal_fen",),
    "sum_current_x_nominal_rate_bps": ("current_principal_fen", "nominal_rate_bps"),
    "sum_current_x_apr_bps": ("current_principal_fen", "apr_all_in_bps"),
    "current_principal_with_apr_fen": ("current_principal_fen", "apr_all_in_bps"),
    "dpd_buckets": ("dpd_bucket", "current_principal_fen"),
    "loan_status": ("loan_status",),
}


def policy_party(rec: PartyRecord) -> Party:
    """The :class:`policies.Party` for a stored party (its pool and obligor scope)."""
    return Party(
        id=rec.id, role=rec.role, pools=frozenset(rec.pools), obligor_keys=frozenset(rec.obligor_keys)
    )


@dataclass(frozen=True)
class LoanPage:
    """One keyset page of a loan view."""

    loans: list[dict[str, Any]]
    next_after: int | None


def loan_page(
    db: sqlite_utils.Database,
    log_db: sqlite_utils.Database,
    policy: Policy,
    party: PartyRecord,
    keys: PoolKeys,
    tape: TapeRecord,
    purpose: str,
    *,
    after: int,
    limit: int,
) -> LoanPage:
    """Up to ``limit`` loans after index ``after``, as ``party`` may see them; logs one view decision.

    Each returned row carries ``index`` (its position in the tape, the keyset cursor) besides the fields
    the policy lets through. Raises :class:`policies.PolicyError` for a bad purpose/event set.
    """
    p = policy_party(party)
    pseudo_key = derive_pseudonym_key(keys.recipient_pseudonym_master, party.id, tape.pool_id)
    own = party.role == "borrower"
    stored = list(
        iter_loans(
            db,
            keys,
            tape,
            after=after,
            limit=limit,
            obligor_pseudo_ids=tuple(party.obligor_keys) if own else None,
        )
    )
    log = DecisionLog()
    out: list[dict[str, Any]] = []
    # One policy call for the page (the plan is compiled once and cached); rows keep their tape index.
    plan_rows = policy.view(
        p,
        [s.record for s in stored],
        purpose,
        pool_id=tape.pool_id,
        log=log,
        pseudonym_key=pseudo_key,
        resource=f"pool:{tape.pool_id}/cutoff:{tape.cutoff_date}/loans",
    )
    if plan_rows:
        if len(plan_rows) == len(stored):
            pairs: Iterator[tuple[int, dict[str, Any]]] = (
                (s.index, r) for s, r in zip(stored, plan_rows, strict=True)
            )
        else:
            pairs = _realign(policy, p, stored, purpose, tape, pseudo_key)
        for index, row in pairs:
            out.append({"index": index, **row})
    decisions.persist(log_db, log)
    next_after = stored[-1].index if len(stored) == limit else None
    return LoanPage(out, next_after)


def _realign(
    policy: Policy, party: Party, stored: list[Any], purpose: str, tape: TapeRecord, key: bytes
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Pair rows with indices when the policy dropped some rows (row scope): view each row alone."""
    for s in stored:
        rows = policy.view(party, [s.record], purpose, pool_id=tape.pool_id, pseudonym_key=key)
        if rows:
            yield s.index, rows[0]


def pool_stats(
    log_db: sqlite_utils.Database, policy: Policy, party: PartyRecord, tape: TapeRecord, purpose: str
) -> tuple[dict[str, Any], list[str]]:
    """The tape's statistics that ``party`` may see, and the names withheld; logs the decisions."""
    p = policy_party(party)
    fields = sorted({f for fs in STAT_FIELDS.values() for f in fs})
    decided = {f: policy.decide(p, f, purpose, pool_id=tape.pool_id) for f in fields}
    released: dict[str, Any] = {}
    withheld: list[str] = []
    for stat, fs in STAT_FIELDS.items():
        if all(decided[f].transform is not Transform.DENY for f in fs):
            released[stat] = tape.stats[stat]
        else:
            withheld.append(stat)
    log = DecisionLog()
    log.append(
        list(decided.values()),
        resource=f"pool:{tape.pool_id}/cutoff:{tape.cutoff_date}/stats",
        record_count=1 if released else 0,
    )
    decisions.persist(log_db, log)
    return released, withheld
