"""The aggregate guard: which aggregates and threshold claims a party may receive.

Rules (reference notes §4; DESIGN.md "Aggregates"):

* **Registered reports only.** A party asks for a cell of a registered report definition (fixed
  dimensions such as province x DPD bucket), never a free predicate: the structural fix for trackers
  (Denning, Denning & Schwartz 1979). The whole pool is the built-in report ``"pool"``.
* **Minimum cohort.** A cell below the whole pool needs at least ``k`` distinct obligors (default 10;
  zero is allowed, cf. CMS cell-size policy), and its complement in the pool also needs ``k`` (else
  ``pool - cell`` discloses the few left out).
* **Differencing.** A cell whose obligor set differs from an already-released cell (any report, same
  pool and snapshot) in fewer than ``k`` obligors (0 < |C Δ A| < k) is refused, and so is a cell whose
  set differs by fewer than ``k`` from the same report cell in an earlier snapshot (temporal
  differencing of consecutive reports). Every release to anyone counts: releases are not per party.
* **Threshold claims.** Each answered threshold claim leaks one bit. A role that may not see the exact
  value gets the deal's registered thresholds (trigger levels) freely and at most ``claim_budget[role]``
  other thresholds per snapshot; asking the same one again is free.

Refusals are decided from cohort membership and the history of releases only, never from the metric
values, and are sticky (the same question gets the same answer), so a refusal tells the asker at most
that a cohort is small or close to a released one, which the answer itself would have disclosed in
full (simulatable auditing, Kenthapadi-Mishra-Nissim 2005). :attr:`AggregateDecision.public_reason` is
identical for every refusal; :attr:`AggregateDecision.check` names the rule for the decision log.

State lives in :class:`GuardState`, which the gateway persists with :meth:`GuardState.to_dict`.
Cohort memberships are stored as 64-bit digests of obligor keys, not the keys.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .parties import Party

DIMENSIONS: tuple[str, ...] = (
    "vintage_month",
    "product_type",
    "term_bucket",
    "province",
    "dpd_bucket",
    "rate_bucket",
    "balance_bucket",
    "loan_status",
)
"""The fixed dimensions a registered report may break down by (reference notes §4.3)."""

WHOLE_POOL_REPORT = "pool"
STATE_FORMAT = "poolproof/aggregate-guard-state/v1"
REFUSED = "suppressed by statistical disclosure control"


@dataclass(frozen=True)
class ReportDefinition:
    """A registered report: fixed dimensions, the metrics it releases and the roles that may ask."""

    id: str
    roles: frozenset[str]
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        bad = [d for d in self.dimensions if d not in DIMENSIONS]
        if bad:
            raise ValueError(f"unknown report dimension(s) {bad}; allowed: {', '.join(DIMENSIONS)}")
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError("report dimensions must be distinct")


@dataclass(frozen=True)
class AggregateConfig:
    """Aggregate-guard settings from the policy's ``[aggregates]`` and ``[[reports]]`` tables."""

    min_cohort: int = 10
    claim_budget: Mapping[str, int] = field(default_factory=dict)
    exact_value_roles: frozenset[str] = frozenset({"platform", "regulator"})
    registered_thresholds: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    reports: Mapping[str, ReportDefinition] = field(default_factory=dict)


@dataclass(frozen=True)
class AggregateDecision:
    """The guard's answer. ``check`` is the deciding rule (for the log); show people ``public_reason``."""

    allowed: bool
    check: str
    detail: str = ""

    @property
    def public_reason(self) -> str:
        """What the requester is told: ``"ok"`` or one uniform refusal text."""
        return "ok" if self.allowed else REFUSED


def _digest(key: str) -> int:
    return int.from_bytes(hashlib.sha256(b"poolproof/cohort/v1\x00" + key.encode()).digest()[:8], "big")


def _pack(members: frozenset[int]) -> str:
    return base64.b64encode(b"".join(struct.pack(">Q", m) for m in sorted(members))).decode("ascii")


def _unpack(text: str) -> frozenset[int]:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) % 8:
        raise ValueError("cohort digest list is not a multiple of 8 bytes")
    return frozenset(struct.unpack(f">{len(raw) // 8}Q", raw))


@dataclass
class _Release:
    pool_id: str
    snapshot_id: str
    report_id: str
    cell: str
    members: frozenset[int]


class GuardState:
    """Everything the guard remembers: released cohorts, sticky decisions, snapshot order, claims asked."""

    def __init__(self) -> None:
        self.releases: list[_Release] = []
        self.decided: dict[tuple[str, str, str, str], tuple[bool, str, str]] = {}
        self.snapshots: dict[str, list[str]] = {}
        self.claims: dict[tuple[str, str, str], set[tuple[str, int]]] = {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (no obligor keys: 64-bit digests only)."""
        return {
            "format": STATE_FORMAT,
            "releases": [
                {
                    "pool_id": r.pool_id,
                    "snapshot_id": r.snapshot_id,
                    "report_id": r.report_id,
                    "cell": r.cell,
                    "members": _pack(r.members),
                }
                for r in self.releases
            ],
            "decided": [
                {
                    "pool_id": k[0],
                    "snapshot_id": k[1],
                    "report_id": k[2],
                    "cell": k[3],
                    "allowed": v[0],
                    "check": v[1],
                    "fingerprint": v[2],
                }
                for k, v in self.decided.items()
            ],
            "snapshots": {p: list(s) for p, s in self.snapshots.items()},
            "claims": [
                {
                    "party_id": k[0],
                    "pool_id": k[1],
                    "snapshot_id": k[2],
                    "asked": [[m, t] for m, t in sorted(v)],
                }
                for k, v in self.claims.items()
            ],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> GuardState:
        """Rebuild from :meth:`to_dict` output; raises ``ValueError`` naming the bad part."""
        if doc.get("format") != STATE_FORMAT:
            raise ValueError(f"aggregate guard state: expected format {STATE_FORMAT!r}")
        st = cls()
        try:
            for r in doc.get("releases", []):
                st.releases.append(
                    _Release(
                        str(r["pool_id"]),
                        str(r["snapshot_id"]),
                        str(r["report_id"]),
                        str(r["cell"]),
                        _unpack(r["members"]),
                    )
                )
            for d in doc.get("decided", []):
                st.decided[(d["pool_id"], d["snapshot_id"], d["report_id"], d["cell"])] = (
                    bool(d["allowed"]),
                    str(d["check"]),
                    str(d["fingerprint"]),
                )
            st.snapshots = {str(p): [str(x) for x in s] for p, s in doc.get("snapshots", {}).items()}
            for c in doc.get("claims", []):
                st.claims[(c["party_id"], c["pool_id"], c["snapshot_id"])] = {
                    (str(m), int(t)) for m, t in c["asked"]
                }
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"aggregate guard state: malformed entry ({exc})") from exc
        return st


class AggregateGuard:
    """Decides aggregate releases and threshold claims under an :class:`AggregateConfig`."""

    def __init__(self, config: AggregateConfig, state: GuardState | None = None) -> None:
        self.config = config
        self.state = state if state is not None else GuardState()

    def _note_snapshot(self, pool_id: str, snapshot_id: str) -> None:
        order = self.state.snapshots.setdefault(pool_id, [])
        if snapshot_id not in order:
            order.append(snapshot_id)

    def check_cohort(
        self,
        party: Party,
        *,
        pool_id: str,
        snapshot_id: str,
        report_id: str,
        cell: str,
        obligors: Iterable[str],
        pool_obligor_count: int,
    ) -> AggregateDecision:
        """May ``party`` receive cell ``cell`` of report ``report_id`` on ``snapshot_id``?

        ``obligors`` are the distinct obligor keys (e.g. ``obligor_pseudo_id``) in the cell,
        ``pool_obligor_count`` the number of distinct obligors in the whole pool at that snapshot.
        An allowed release is recorded. Never reads metric values.
        """
        if party.role in self.config.exact_value_roles:
            return AggregateDecision(True, "exact_value_role", f"role {party.role} may see exact values")
        if pool_id not in party.pools:
            return AggregateDecision(False, "scope.pool", "pool outside the party's scope")
        whole = report_id == WHOLE_POOL_REPORT
        if not whole:
            rep = self.config.reports.get(report_id)
            if rep is None:
                return AggregateDecision(False, "unregistered_report", "only registered report definitions")
            if party.role not in rep.roles:
                return AggregateDecision(False, "report_role", f"report {report_id} is not for {party.role}")
        members = frozenset(_digest(o) for o in obligors)
        fingerprint = hashlib.sha256(_pack(members).encode()).hexdigest()[:32]
        key = (pool_id, snapshot_id, report_id, cell)
        prior = self.state.decided.get(key)
        if prior is not None and prior[2] == fingerprint:
            return AggregateDecision(prior[0], prior[1], "same question, same answer")
        self._note_snapshot(pool_id, snapshot_id)
        decision = self._judge(pool_id, snapshot_id, report_id, cell, members, pool_obligor_count, whole)
        self.state.decided[key] = (decision.allowed, decision.check, fingerprint)
        if decision.allowed and not whole:
            self.state.releases.append(_Release(pool_id, snapshot_id, report_id, cell, members))
        return decision

    def _judge(
        self,
        pool_id: str,
        snapshot_id: str,
        report_id: str,
        cell: str,
        members: frozenset[int],
        pool_count: int,
        whole: bool,
    ) -> AggregateDecision:
        k = self.config.min_cohort
        n = len(members)
        if whole:
            return AggregateDecision(True, "whole_pool", "the whole pool")
        if n == 0:
            return AggregateDecision(True, "empty_cell", "an empty cell discloses no obligor")
        if n < k:
            return AggregateDecision(False, "min_cohort", f"fewer than k={k} distinct obligors")
        if 0 < pool_count - n < k:
            return AggregateDecision(
                False, "complement", f"the rest of the pool has fewer than k={k} obligors"
            )
        order = self.state.snapshots.get(pool_id, [])
        earlier = set(order[: order.index(snapshot_id)]) if snapshot_id in order else set()
        for r in self.state.releases:
            if r.pool_id != pool_id:
                continue
            same_snapshot = r.snapshot_id == snapshot_id
            same_cell_earlier = r.snapshot_id in earlier and (r.report_id, r.cell) == (report_id, cell)
            if not (same_snapshot or same_cell_earlier):
                continue
            diff = len(members ^ r.members)
            if 0 < diff < k:
                check = "differencing" if same_snapshot else "temporal_differencing"
                return AggregateDecision(
                    False, check, f"differs from a released cell by fewer than k={k} obligors"
                )
        return AggregateDecision(True, "cohort_ok", f"at least k={k} obligors, no small difference")

    def check_threshold_claim(
        self, party: Party, *, pool_id: str, snapshot_id: str, metric: str, threshold: int
    ) -> AggregateDecision:
        """May ``party`` have a threshold claim ``metric <= / >= threshold`` answered on ``snapshot_id``?

        Decided before and independently of the hidden value; budget is spent whether the claim turns
        out true or false. Recorded when allowed.
        """
        if party.role in self.config.exact_value_roles:
            return AggregateDecision(True, "exact_value_role", f"role {party.role} may see exact values")
        if pool_id not in party.pools:
            return AggregateDecision(False, "scope.pool", "pool outside the party's scope")
        if threshold in self.config.registered_thresholds.get(metric, ()):
            return AggregateDecision(True, "registered_threshold", "a registered deal threshold")
        asked = self.state.claims.setdefault((party.id, pool_id, snapshot_id), set())
        if (metric, threshold) in asked:
            return AggregateDecision(True, "repeat_claim", "asked before on this snapshot: no new bit")
        budget = self.config.claim_budget.get(party.role, 0)
        if len(asked) >= budget:
            return AggregateDecision(
                False, "claim_budget", f"threshold-claim budget {budget} per snapshot spent"
            )
        asked.add((metric, threshold))
        return AggregateDecision(True, "claim_budget", f"budget {len(asked)}/{budget} on this snapshot")
