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
  value gets the deal's registered thresholds (trigger levels) freely and at most
  ``claim_budget[role]`` other (metric, threshold, direction) questions per snapshot; asking the same
  one again is free, but ``>= t`` after ``<= t`` is a new question (together they reveal equality).
* **Release ledger.** Whatever reaches an aggregate-only party is a table of cells per sealed snapshot,
  decided once by :func:`plan_release` against a per-pool :class:`ReleaseLedger` of every cell
  released before: no cohort of fewer than ``k`` obligors may become determined by any linear
  combination of released sums (across cells, tape versions and cut-offs).

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
DIRECTIONS: tuple[str, ...] = ("<=", ">=")
"""The directions of a one-sided threshold claim (what the claim budget is keyed by, with metric and
threshold)."""
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
    #: Every DPD bucket above "current" spans at least this many days (checked at pool creation).
    dpd_min_bucket_days: int = 30


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
        self.claims: dict[tuple[str, str, str], set[tuple[str, int, str]]] = {}

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
                    "asked": [[m, t, d] for m, t, d in sorted(v)],
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
                    (str(q[0]), int(q[1]), str(q[2]) if len(q) > 2 else "<=") for q in c["asked"]
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

        A pairwise check of one cell at a time; the gateway decides whole release tables with
        :func:`plan_release`, whose row-space audit subsumes it.

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
        self,
        party: Party,
        *,
        pool_id: str,
        snapshot_id: str,
        metric: str,
        threshold: int,
        direction: str = "<=",
    ) -> AggregateDecision:
        """May ``party`` have ``metric <direction> threshold`` answered on ``snapshot_id``?

        The budget is keyed by metric, threshold *and* direction: ``<= t`` and ``>= t`` together say
        whether the value equals ``t``, so the second is a new bit, not a repeat. Registered deal
        thresholds (trigger levels the deal publishes and tests both ways) are free in either
        direction. Decided before and independently of the hidden value; budget is spent
        whether the claim turns out true or false. Recorded when allowed. Raises ``ValueError`` for a
        direction other than ``<=`` or ``>=`` (a two-sided claim with equal ends is an exact
        disclosure and is decided by the exact-value rule before the budget is asked).
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if party.role in self.config.exact_value_roles:
            return AggregateDecision(True, "exact_value_role", f"role {party.role} may see exact values")
        if pool_id not in party.pools:
            return AggregateDecision(False, "scope.pool", "pool outside the party's scope")
        if threshold in self.config.registered_thresholds.get(metric, ()):
            return AggregateDecision(True, "registered_threshold", "a registered deal threshold")
        asked = self.state.claims.setdefault((party.id, pool_id, snapshot_id), set())
        question = (metric, threshold, direction)
        if question in asked:
            return AggregateDecision(True, "repeat_claim", "asked before on this snapshot: no new bit")
        budget = self.config.claim_budget.get(party.role, 0)
        if len(asked) >= budget:
            return AggregateDecision(
                False, "claim_budget", f"threshold-claim budget {budget} per snapshot spent"
            )
        asked.add(question)
        return AggregateDecision(True, "claim_budget", f"budget {len(asked)}/{budget} on this snapshot")


# --- the release ledger: what reaches aggregate-only parties ------------------------------------------
SUPPRESSED = (
    "suppressed by statistical disclosure control: this figure would rest on fewer than {k} distinct "
    "obligors, leave fewer than {k} in the rest of the pool, or differ by fewer than {k} from figures "
    "already released"
)
"""The one text every suppressed figure carries (``{k}`` is the policy's minimum cohort)."""

_LEDGER_FORMAT = "poolproof/release-ledger/v1"


def loan_digest(pool_id: str, loan_key: str) -> int:
    """A 64-bit digest standing for one loan of a pool in the ledger (the key itself is not kept)."""
    h = hashlib.sha256(b"poolproof/disclosure/loan/v1\x00" + pool_id.encode() + b"\x00" + loan_key.encode())
    return int.from_bytes(h.digest()[:8], "big")


def obligor_digest(pool_id: str, obligor_key: str) -> int:
    """A 64-bit digest standing for one obligor of a pool in the ledger."""
    tag = b"poolproof/disclosure/obligor/v1\x00"
    h = hashlib.sha256(tag + pool_id.encode() + b"\x00" + obligor_key.encode())
    return int.from_bytes(h.digest()[:8], "big")


@dataclass(frozen=True)
class Cell:
    """One cell of a release table: the loans its figures sum over (as digests).

    ``group`` names the partition of the pool the cell belongs to (``"dpd_bucket"``, ``"loan_status"``):
    the cells of a group sum to the pool, so what is suppressed in a group must itself be a cohort of at
    least ``k``. The pool cell and cells outside any partition have ``group=None``.
    """

    name: str
    loans: frozenset[int]
    group: str | None = None


@dataclass(frozen=True)
class CellDecision:
    """Whether a cell's figures are released; ``check`` names the deciding rule (for the decision log)."""

    released: bool
    check: str


@dataclass
class LedgerRow:
    """A released cell: the loans its figures sum over."""

    snapshot_id: str
    cell: str
    loans: frozenset[int]


class ReleaseLedger:
    """Every cell released from one pool to aggregate-only parties, and who owns each loan.

    The ledger is the memory of the differencing rules: a new cell is released only if, together with
    everything released before (any snapshot, any tape version, any party), no cohort of fewer than ``k``
    obligors can be isolated by linear combination. See :func:`plan_release`.
    """

    def __init__(self) -> None:
        self.rows: list[LedgerRow] = []
        self.owner: dict[int, int] = {}

    def add_owners(self, owner: Mapping[int, int]) -> None:
        """Record which obligor (digest) owns each loan (digest)."""
        self.owner.update(owner)

    def obligors(self, loans: Iterable[int]) -> int:
        """Distinct obligors owning ``loans`` (a loan of unknown owner counts as its own obligor)."""
        return len({self.owner.get(loan, loan) for loan in loans})

    def to_dict(self) -> dict[str, Any]:
        """JSON form (digests only)."""
        return {
            "format": _LEDGER_FORMAT,
            "rows": [
                {"snapshot_id": r.snapshot_id, "cell": r.cell, "loans": _pack(r.loans)} for r in self.rows
            ],
            "owners": _pack_pairs(self.owner),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ReleaseLedger:
        """Rebuild from :meth:`to_dict` output; raises ``ValueError`` naming the bad part."""
        if doc.get("format") != _LEDGER_FORMAT:
            raise ValueError(f"release ledger: expected format {_LEDGER_FORMAT!r}")
        led = cls()
        try:
            for r in doc["rows"]:
                led.rows.append(LedgerRow(str(r["snapshot_id"]), str(r["cell"]), _unpack(r["loans"])))
            led.owner = _unpack_pairs(doc["owners"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"release ledger: malformed entry ({exc})") from exc
        return led


def _pack_pairs(pairs: Mapping[int, int]) -> str:
    return base64.b64encode(b"".join(struct.pack(">QQ", a, b) for a, b in sorted(pairs.items()))).decode()


def _unpack_pairs(text: str) -> dict[int, int]:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) % 16:
        raise ValueError("owner list is not a multiple of 16 bytes")
    vals = struct.unpack(f">{len(raw) // 8}Q", raw)
    return dict(zip(vals[0::2], vals[1::2], strict=True))


class SumAudit:
    """The released sums of one pool as a reduced row echelon basis over loan atoms, grown a row at a time.

    Every released figure is a sum over its cell of a per-loan value, so what a set of released cells
    determines is the row space of their 0/1 incidence matrix over loans (auditing of sum queries,
    Chin and Özsoyoğlu 1982). Loans lying in exactly the same released cells ("atoms") can never be
    told apart, so columns are atoms; adding a cell splits the atoms it cuts (the new column is a copy
    of the old one in every basis row) and reduces the cell's row against the basis. The basis is
    kept fully reduced (every pivot column is zero in every other row) in exact integer arithmetic
    (each row divided by the gcd of its entries), so an atom's sum is determined iff some basis row is
    non-zero in that atom's column only.
    """

    def __init__(self) -> None:
        self.atom_of: dict[int, int] = {}
        self.members: dict[int, set[int]] = {}
        self.rows: list[dict[int, int]] = []
        self.pivots: list[int] = []
        self._next = 0

    def copy(self) -> SumAudit:
        """An independent copy (to try a row without committing to it)."""
        other = SumAudit()
        other.atom_of = dict(self.atom_of)
        other.members = {a: set(m) for a, m in self.members.items()}
        other.rows = [dict(r) for r in self.rows]
        other.pivots = list(self.pivots)
        other._next = self._next
        return other

    def _new_atom(self, loans: set[int]) -> int:
        atom = self._next
        self._next += 1
        self.members[atom] = loans
        for loan in loans:
            self.atom_of[loan] = atom
        return atom

    def add(self, loans: frozenset[int]) -> None:
        """Add the released sum over ``loans``."""
        if not loans:
            return
        touched: dict[int, set[int]] = {}
        fresh: set[int] = set()
        for loan in loans:
            atom = self.atom_of.get(loan)
            if atom is None:
                fresh.add(loan)
            else:
                touched.setdefault(atom, set()).add(loan)
        inside: list[int] = []
        for atom, part in touched.items():
            if len(part) == len(self.members[atom]):
                inside.append(atom)
                continue
            self.members[atom] -= part
            split = self._new_atom(part)
            for row in self.rows:
                if atom in row:
                    row[split] = row[atom]
            inside.append(split)
        if fresh:
            inside.append(self._new_atom(fresh))
        v = dict.fromkeys(inside, 1)
        for row, pivot in zip(self.rows, self.pivots, strict=True):
            f = v.get(pivot)
            if f:
                v = _combine(v, row[pivot], row, f)
        if not v:
            return
        pivot = min(v)
        for i, row in enumerate(self.rows):
            f = row.get(pivot)
            if f:
                self.rows[i] = _combine(row, v[pivot], v, f)
        self.rows.append(v)
        self.pivots.append(pivot)

    def isolated(self, ledger: ReleaseLedger, k: int) -> list[frozenset[int]]:
        """The cohorts of fewer than ``k`` obligors a determined combination of released rows covers.

        A basis row is a combination of released sums that the released figures determine; if its
        weights all have one sign and the loans it covers (its atoms together) hold fewer than ``k``
        obligors, it discloses a positive weighted sum over those few loans: a single atom (the
        classic case), or several atoms that another release had split (a pool at two cut-offs a few
        loans apart, once stratification cells cut the few loans into different atoms). A row with
        weights of both signs is a difference between loans' values and is not counted.
        """
        out = []
        for row in self.rows:
            if len(row) > 1 and min(row.values()) < 0 < max(row.values()):
                continue  # a difference between loans' values, not a sum over them
            covered = frozenset(loan for atom in row for loan in self.members[atom])
            if ledger.obligors(covered) < k:
                out.append(covered)
        return out


def _combine(a: dict[int, int], x: int, b: dict[int, int], y: int) -> dict[int, int]:
    """``x·a − y·b`` without zero entries, divided by the gcd of its entries (sign kept)."""
    from math import gcd

    out = {c: x * v for c, v in a.items()}
    for c, v in b.items():
        w = out.get(c, 0) - y * v
        if w:
            out[c] = w
        else:
            out.pop(c, None)
    d = 0
    for w in out.values():
        d = gcd(d, w)
        if d == 1:
            break
    if d > 1:
        out = {c: w // d for c, w in out.items()}
    return out


def isolated_cohorts(rows: list[frozenset[int]], ledger: ReleaseLedger, k: int) -> list[frozenset[int]]:
    """The cohorts of fewer than ``k`` obligors whose sum the released ``rows`` determine exactly.

    See :class:`SumAudit`. The per-loan value is taken to be the same in every snapshot (the attacker
    is assumed to know how the other loans amortised), which can only find more, never fewer.
    """
    audit = SumAudit()
    for row in rows:
        audit.add(row)
    return audit.isolated(ledger, k)


def plan_release(
    ledger: ReleaseLedger, pool: Cell, cells: list[Cell], k: int
) -> tuple[CellDecision, dict[str, CellDecision]]:
    """Decide which cells of one snapshot's release table may be released, given the ``ledger``.

    Rules, in order (all from cohort membership and the ledger, never from a figure's value):

    1. The pool cell needs ``k`` obligors and, with the ledger, must not isolate a small cohort
       (``pool.min_cohort``, ``pool.differencing``: e.g. two cut-offs or two tape versions whose pools
       differ by fewer than ``k`` loans). Without the pool cell nothing of the table is released.
    2. Each cell needs ``k`` obligors (``min_cohort``) unless it is empty, and so does the rest of the
       pool (``complement``); then, with the ledger and the cells released so far, it must not isolate a
       cohort of fewer than ``k`` (``differencing``), which also covers a suppressed cell that the pool
       minus the other cells of its group would give away (secondary suppression).
    3. Within each group, the suppressed cells together must reach ``k`` obligors, else the smallest
       released cells of the group are suppressed too (``secondary``).

    Returns the pool cell's decision and one per cell. Does not change the ledger.
    """
    if ledger.obligors(pool.loans) < k:
        none = CellDecision(False, "pool.min_cohort")
        return none, {c.name: none for c in cells}
    audit = SumAudit()
    for r in ledger.rows:
        audit.add(r.loans)
    trial = audit.copy()
    trial.add(pool.loans)
    if trial.isolated(ledger, k):
        none = CellDecision(False, "pool.differencing")
        return none, {c.name: none for c in cells}
    audit = trial
    out: dict[str, CellDecision] = {}
    for c in cells:
        n = ledger.obligors(c.loans)
        rest = ledger.obligors(pool.loans - c.loans)
        if n == 0:
            out[c.name] = CellDecision(True, "empty_cell")
            continue
        if n < k:
            out[c.name] = CellDecision(False, "min_cohort")
            continue
        if 0 < rest < k:
            out[c.name] = CellDecision(False, "complement")
            continue
        trial = audit.copy()
        trial.add(c.loans)
        if trial.isolated(ledger, k):
            out[c.name] = CellDecision(False, "differencing")
        else:
            out[c.name] = CellDecision(True, "cohort_ok")
            audit = trial
    groups = sorted({c.group for c in cells if c.group is not None})
    for g in groups:
        members = [c for c in cells if c.group == g and c.loans]
        hidden: set[int] = set()
        for c in members:
            if not out[c.name].released:
                hidden |= c.loans
        released = sorted(
            (c for c in members if out[c.name].released), key=lambda c: (ledger.obligors(c.loans), c.name)
        )
        while hidden and ledger.obligors(hidden) < k and released:
            c = released.pop(0)
            out[c.name] = CellDecision(False, "secondary")
            hidden |= c.loans
    return CellDecision(True, "cohort_ok"), out


def record_release(
    ledger: ReleaseLedger,
    snapshot_id: str,
    pool: Cell,
    cells: list[Cell],
    decisions: Mapping[str, CellDecision],
) -> None:
    """Append the released cells (and the pool cell) of one table to the ledger."""
    ledger.rows.append(LedgerRow(snapshot_id, pool.name, pool.loans))
    for c in cells:
        if c.loans and decisions[c.name].released:
            ledger.rows.append(LedgerRow(snapshot_id, c.name, c.loans))
