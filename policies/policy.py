"""Policies: party role x field (by name, tag, level or category) x purpose x events -> transform.

Evaluation of :meth:`Policy.decide` (every step that fails yields ``DENY`` with a stated rule id):

1. the party's role is declared in the policy (``default.unknown_role``);
2. the stated purpose is one the role may state (``default.unknown_purpose``);
3. the pool is in the party's scope (``scope.pool``), unless the role has ``pool_scope = "any"``;
4. the field is in the catalogue (``default.unknown_field``) and not forbidden (``catalogue.forbidden``);
5. every rule that selects the field, names the role, allows the purpose and whose event gates hold
   applies; with none, ``default.deny``; with several, the **most restrictive transform wins**
   (``raw < mask < generalize < pseudonymize < aggregate_only < deny``), never name or file order, and
   the decision's reason lists the conflicting rules and why the winner won.

Transform parameters (mask pattern, generalisation) are per field (``[field_transforms.<field>]``), so
rules that agree on the transform can never disagree on what it does. Reading and validating a policy
file is :mod:`policies.policy_file`; the :class:`~policies.decision.Decision` type is its own module.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .aggregates import AggregateConfig
from .catalogue import Catalogue, FieldSpec
from .decision import Decision
from .decision_log import DecisionLog
from .errors import PolicyError
from .parties import Party
from .transforms import (
    FieldFn,
    MaskSpec,
    Transform,
    check_pseudonym_key,
    compile_generalize,
    compile_mask,
    compile_pseudonymize,
)

FULL_MASK = MaskSpec()


@dataclass(frozen=True)
class RoleSpec:
    """A role's purposes and scope.

    ``pool_scope``: ``"listed"`` (only ``Party.pools``) or ``"any"`` (regulator). ``row_scope``:
    ``"pool"`` (every row of an in-scope pool) or ``"own_obligor"`` (rows whose ``row_key_fields``
    value is among ``Party.obligor_keys``).
    """

    name: str
    purposes: frozenset[str]
    pool_scope: str = "listed"
    row_scope: str = "pool"
    row_key_fields: tuple[str, ...] = ("obligor_pseudo_id",)
    description: str = ""


@dataclass(frozen=True)
class Rule:
    """One policy rule. A field is selected if it is named in ``fields``, carries one of ``tags``, has
    one of ``levels`` or ``categories``, or ``all_fields`` is set, and is not in ``except_fields``.
    The rule applies to a request if the role is in ``roles``, the purpose in ``purposes`` (empty: any
    purpose the role may state), every event of ``when_events`` has been recorded and none of
    ``unless_events`` has."""

    id: str
    roles: frozenset[str]
    transform: Transform
    fields: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    levels: frozenset[int] = frozenset()
    categories: frozenset[str] = frozenset()
    all_fields: bool = False
    except_fields: frozenset[str] = frozenset()
    purposes: frozenset[str] = frozenset()
    when_events: frozenset[str] = frozenset()
    unless_events: frozenset[str] = frozenset()
    reason: str = ""
    line: int | None = field(default=None, compare=False)

    def selects(self, spec: FieldSpec) -> str | None:
        """Why this rule selects ``spec`` (``"field"``, ``"tag:x"``, ...), or ``None`` if it does not."""
        if spec.name in self.except_fields:
            return None
        if self.all_fields:
            return "all fields"
        if spec.name in self.fields:
            return f"field {spec.name}"
        hit = sorted(self.tags & spec.tags)
        if hit:
            return f"tag {hit[0]}"
        if spec.level in self.levels:
            return f"level {spec.level}"
        if spec.category in self.categories:
            return f"category {spec.category}"
        return None

    def gate(self, role: str, purpose: str, events: frozenset[str]) -> str | None:
        """``None`` if the rule applies to this request, else why not."""
        if role not in self.roles:
            return "role not named"
        if self.purposes and purpose not in self.purposes:
            return f"purpose {purpose!r} not in {sorted(self.purposes)}"
        missing = self.when_events - events
        if missing:
            return f"needs event(s) {sorted(missing)} not recorded"
        blocking = self.unless_events & events
        if blocking:
            return f"suspended by recorded event(s) {sorted(blocking)}"
        return None


@dataclass(frozen=True)
class ClaimRule:
    """May a role request a claim of ``kinds`` on ``metrics`` (``"*"`` = any)? ``allow`` or deny."""

    id: str
    roles: frozenset[str]
    kinds: frozenset[str]
    metrics: frozenset[str]
    allow: bool
    reason: str = ""

    def applies(self, role: str, kind: str, metric: str) -> bool:
        """True if this rule covers the request."""
        return (
            role in self.roles
            and (kind in self.kinds or "*" in self.kinds)
            and (metric in self.metrics or "*" in self.metrics)
        )


class DisclosureModeKind(enum.IntEnum):
    """What a party may learn of one metric, ordered from most to least revealing.

    ``EXACT``: the proven exact value (an opening of the aggregate commitment, through disclosure
    control for an aggregate-only party); ``THRESHOLD``: threshold claims only (one bit each, within
    the claim budget); ``NONE``: nothing, not even a threshold. When several mode rules apply, the
    greatest (most restrictive) wins.
    """

    EXACT = 0
    THRESHOLD = 1
    NONE = 2

    @property
    def label(self) -> str:
        """The policy file's spelling."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> DisclosureModeKind:
        """From the policy file's spelling; raises ``ValueError`` listing the allowed ones."""
        for m in cls:
            if m.label == text:
                return m
        raise ValueError(f"mode must be one of {', '.join(m.label for m in cls)}, got {text!r}")


#: The claim kinds a disclosure mode decides; other kinds (``inclusion``) stay with the claim rules.
MODE_CLAIM_KINDS: frozenset[str] = frozenset({"exact", "threshold"})


def metric_matches(pattern: str, metric: str) -> bool:
    """``"*"`` matches every metric, ``"prefix:*"`` (or ``"prefix/*"``) every metric id starting
    ``prefix:`` (``prefix/``: the cell metrics ``strata/<dimension>/<cell>/<metric>``), else equality."""
    if pattern == "*":
        return True
    if pattern.endswith((":*", "/*")):
        return metric.startswith(pattern[:-1])
    return pattern == metric


@dataclass(frozen=True)
class DisclosureMode:
    """Per role and metric, what may be disclosed: exact, threshold claims only, or nothing.

    ``metrics`` and ``except_metrics`` hold metric ids or patterns (:func:`metric_matches`), with the
    policy's ``[metric_sets]`` already expanded. A role named by any mode rule has its exact and
    threshold claims decided by the mode rules alone: a metric no mode rule names gets ``none``.
    """

    id: str
    roles: frozenset[str]
    metrics: frozenset[str]
    mode: DisclosureModeKind
    except_metrics: frozenset[str] = frozenset()
    reason: str = ""

    def applies(self, role: str, metric: str) -> bool:
        """True if this rule covers ``metric`` for ``role``."""
        return (
            role in self.roles
            and any(metric_matches(p, metric) for p in self.metrics)
            and not any(metric_matches(p, metric) for p in self.except_metrics)
        )


@dataclass(frozen=True)
class ModeDecision:
    """The disclosure mode of one (role, metric): the mode, the applying rule ids (winner first), why."""

    mode: DisclosureModeKind
    rule_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class _Core:
    transform: Transform
    params: Mapping[str, Any]
    rule_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ViewPlan:
    """A compiled view: which fields pass raw, which through which function, and the row scope.

    Built once per (role, purpose, pool scope, events, key) by :meth:`Policy.compile_view`.
    """

    raw_fields: tuple[str, ...]
    fn_fields: tuple[tuple[str, FieldFn], ...]
    decisions: Mapping[str, _Core]
    row_scope: str
    row_key_fields: tuple[str, ...]

    @property
    def emits_anything(self) -> bool:
        """True if some field reaches the party at record level."""
        return bool(self.raw_fields or self.fn_fields)

    def apply_one(self, record: Mapping[str, object], party: Party, pool_id: str) -> dict[str, object] | None:
        """The one record as the party may see it, or ``None`` if the row is out of scope or nothing at all
        may be seen (so a caller can keep its own row keys aligned)."""
        rows = self.apply((record,), party, pool_id)
        return rows[0] if rows else None

    def apply(
        self, records: Iterable[Mapping[str, object]], party: Party, pool_id: str
    ) -> list[dict[str, object]]:
        """Apply the plan: drop out-of-scope rows, keep only permitted fields, transform values."""
        if not self.emits_anything:
            return []
        raw, fns = self.raw_fields, self.fn_fields
        own = self.row_scope == "own_obligor"
        keys, key_fields = party.obligor_keys, self.row_key_fields
        out: list[dict[str, object]] = []
        append = out.append
        for rec in records:
            pid = rec.get("pool_id")
            if pid is not None and pid != pool_id:
                continue
            if own and not any(rec.get(k) in keys for k in key_fields):
                continue
            row = {k: rec[k] for k in raw if k in rec}
            for k, fn in fns:
                if k in rec:
                    row[k] = fn(rec[k], rec)
            append(row)
        return out


class Policy:
    """A loaded, validated policy over a catalogue. Immutable; reload with :class:`PolicyStore`."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        roles: Mapping[str, RoleSpec],
        rules: Iterable[Rule],
        claim_rules: Iterable[ClaimRule] = (),
        disclosure_modes: Iterable[DisclosureMode] = (),
        metric_sets: Mapping[str, Iterable[str]] | None = None,
        events: Iterable[str] = (),
        masks: Mapping[str, MaskSpec] | None = None,
        generalizers: Mapping[str, Mapping[str, Any]] | None = None,
        aggregates: AggregateConfig | None = None,
        version: str | None = None,
        name: str = "",
        source: str = "<memory>",
    ) -> None:
        self.catalogue = catalogue
        self.roles = dict(roles)
        self.rules = tuple(rules)
        self.claim_rules = tuple(claim_rules)
        self.disclosure_modes = tuple(disclosure_modes)
        self.metric_sets = {k: tuple(dict.fromkeys(v)) for k, v in (metric_sets or {}).items()}
        self.moded_roles = frozenset(r for m in self.disclosure_modes for r in m.roles)
        self.events = frozenset(events)
        self.masks = dict(masks or {})
        self.generalizers = {k: dict(v) for k, v in (generalizers or {}).items()}
        self._gen_fns = {k: compile_generalize(v) for k, v in self.generalizers.items()}
        self._mask_fns = {k: compile_mask(v) for k, v in self.masks.items()}
        self.aggregates = aggregates or AggregateConfig()
        self.name = name
        self.source = source
        if version is None:
            h = hashlib.sha256(b"poolproof/policy-version/v1\x00")
            h.update(
                repr(
                    (
                        sorted(self.roles.items()),
                        self.rules,
                        self.claim_rules,
                        self.disclosure_modes,
                        sorted(self.metric_sets.items()),
                        sorted(self.events),
                        sorted(self.masks.items()),
                        sorted(self.generalizers.items()),
                    )
                ).encode()
            )
            h.update(catalogue.content)
            version = "sha256:" + h.hexdigest()
        self.version = version
        self._core_cache: dict[tuple[str, str, str, frozenset[str]], _Core] = {}
        self._plan_cache: dict[tuple[Any, ...], ViewPlan] = {}

    # -------------------------------------------------------------------------------- decisions

    def _params(self, transform: Transform, field_name: str) -> Mapping[str, Any]:
        if transform is Transform.MASK:
            spec = self.masks.get(field_name, FULL_MASK)
            return {
                "kind": spec.kind,
                "keep_first": spec.keep_first,
                "keep_last": spec.keep_last,
                "mask_char": spec.mask_char,
            }
        if transform is Transform.GENERALIZE:
            return dict(self.generalizers[field_name])
        if transform is Transform.PSEUDONYMIZE:
            return {"algorithm": "HMAC-SHA-256", "key": "per recipient and deal"}
        return {}

    def _check_events(self, events: Iterable[str]) -> frozenset[str]:
        evs = frozenset(events)
        unknown = evs - self.events
        if unknown:
            raise PolicyError(
                f"unknown event(s) {sorted(unknown)}; the policy declares {sorted(self.events)}"
            )
        return evs

    def _core(
        self, role: str, field_name: str, purpose: str, events: frozenset[str], in_scope: bool
    ) -> _Core:
        role_spec = self.roles.get(role)
        if role_spec is None:
            return _Core(
                Transform.DENY,
                {},
                ("default.unknown_role",),
                f"role {role!r} is not declared in the policy: deny by default",
            )
        if purpose not in role_spec.purposes:
            return _Core(
                Transform.DENY,
                {},
                ("default.unknown_purpose",),
                f"purpose {purpose!r} is not one role {role!r} may state "
                f"({', '.join(sorted(role_spec.purposes))}): deny by default",
            )
        if not in_scope:
            return _Core(Transform.DENY, {}, ("scope.pool",), "the pool is outside the party's scope")
        key = (role, field_name, purpose, events)
        cached = self._core_cache.get(key)
        if cached is not None:
            return cached
        core = self._evaluate(role, field_name, purpose, events)
        self._core_cache[key] = core
        return core

    def _evaluate(self, role: str, field_name: str, purpose: str, events: frozenset[str]) -> _Core:
        spec = self.catalogue.get(field_name)
        if spec is None:
            if self.catalogue.is_forbidden(field_name):
                return _Core(
                    Transform.DENY,
                    {},
                    ("catalogue.forbidden",),
                    f"{field_name!r} matches an authentication-data pattern: never released",
                )
            return _Core(
                Transform.DENY,
                {},
                ("default.unknown_field",),
                f"field {field_name!r} is not in the catalogue: deny by default",
            )
        if spec.forbidden:
            return _Core(
                Transform.DENY,
                {},
                ("catalogue.forbidden",),
                f"{field_name} is forbidden (level {spec.level} / {spec.category}): never released",
            )
        applicable = [r for r in self.rules if r.selects(spec) and r.gate(role, purpose, events) is None]
        if not applicable:
            return _Core(
                Transform.DENY,
                {},
                ("default.deny",),
                f"no rule grants role {role!r} access to {field_name} for {purpose!r}: deny by default",
            )
        # Most restrictive wins; ties keep file order only for listing (same transform, same params).
        ordered = sorted(applicable, key=lambda r: -int(r.transform))
        winner = ordered[0]
        if len(applicable) == 1:
            reason = f"rule {winner.id} ({winner.transform.label}) applies"
            if winner.reason:
                reason += f": {winner.reason}"
        else:
            listing = ", ".join(f"{r.id} ({r.transform.label})" for r in ordered)
            losers = sorted({r.transform for r in ordered if r.transform != winner.transform})
            if losers:
                beaten = ", ".join(t.label for t in losers)
                reason = (
                    f"rules {listing} apply; {winner.transform.label} wins because the most restrictive "
                    f"applicable transform wins ({winner.transform.label} is stricter than {beaten})"
                )
            else:
                reason = f"rules {listing} apply and agree on {winner.transform.label}"
            if winner.reason:
                reason += f"; {winner.id}: {winner.reason}"
        return _Core(
            winner.transform, self._params(winner.transform, field_name), tuple(r.id for r in ordered), reason
        )

    def _in_scope(self, party: Party, pool_id: str) -> bool:
        spec = self.roles.get(party.role)
        if spec is not None and spec.pool_scope == "any":
            return True
        return pool_id in party.pools

    def decide(
        self, party: Party, field: str, purpose: str, *, pool_id: str, events: Iterable[str] = ()
    ) -> Decision:
        """Decide what ``party`` receives of ``field`` for ``purpose`` in ``pool_id``.

        Deny by default (unknown role, purpose or field; out-of-scope pool; no granting rule).
        Raises :class:`PolicyError` for an event the policy does not declare.
        """
        evs = self._check_events(events)
        core = self._core(party.role, field, purpose, evs, self._in_scope(party, pool_id))
        return Decision(
            decision_id=uuid.uuid4().hex,
            party_id=party.id,
            role=party.role,
            field=field,
            purpose=purpose,
            transform=core.transform,
            params=core.params,
            rule_ids=core.rule_ids,
            reason=core.reason,
            policy_version=self.version,
            pool_id=pool_id,
            events=tuple(sorted(evs)),
        )

    def decide_all(
        self, party: Party, purpose: str, *, pool_id: str, events: Iterable[str] = ()
    ) -> dict[str, Decision]:
        """:meth:`decide` for every permitted catalogue field."""
        return {
            n: self.decide(party, n, purpose, pool_id=pool_id, events=events)
            for n, s in self.catalogue.items()
            if not s.forbidden
        }

    # ------------------------------------------------------------------------------------ views

    def compile_view(
        self,
        party: Party,
        purpose: str,
        *,
        pool_id: str,
        events: Iterable[str] = (),
        pseudonym_key: bytes | None = None,
    ) -> ViewPlan:
        """Compile (and cache) the per-field plan for a view.

        Raises :class:`PseudonymKeyError` if some field is pseudonymised and no usable key is given.
        """
        evs = self._check_events(events)
        in_scope = self._in_scope(party, pool_id)
        cache_key = (party.role, purpose, in_scope, evs, pseudonym_key)
        plan = self._plan_cache.get(cache_key)
        if plan is not None:
            return plan
        decisions = {
            n: self._core(party.role, n, purpose, evs, in_scope)
            for n, s in self.catalogue.items()
            if not s.forbidden
        }
        raw: list[str] = []
        fns: list[tuple[str, FieldFn]] = []
        key: bytes | None = None
        for name, core in decisions.items():
            t = core.transform
            if t is Transform.RAW:
                raw.append(name)
            elif t is Transform.MASK:
                fns.append((name, self._mask_fns.get(name) or compile_mask(FULL_MASK)))
            elif t is Transform.GENERALIZE:
                fns.append((name, self._gen_fns[name]))
            elif t is Transform.PSEUDONYMIZE:
                key = key or check_pseudonym_key(pseudonym_key)
                fns.append((name, compile_pseudonymize(key, name)))
        role_spec = self.roles.get(party.role)
        plan = ViewPlan(
            raw_fields=tuple(raw),
            fn_fields=tuple(fns),
            decisions=decisions,
            row_scope=role_spec.row_scope if role_spec else "pool",
            row_key_fields=role_spec.row_key_fields if role_spec else (),
        )
        if len(self._plan_cache) > 1024:
            self._plan_cache.clear()
        self._plan_cache[cache_key] = plan
        return plan

    def view(
        self,
        party: Party,
        records: Iterable[Mapping[str, object]],
        purpose: str,
        *,
        pool_id: str,
        events: Iterable[str] = (),
        log: DecisionLog | None = None,
        pseudonym_key: bytes | None = None,
        resource: str | None = None,
    ) -> list[dict[str, object]]:
        """The records as ``party`` may see them for ``purpose``.

        Rows outside the party's scope (another pool; for a borrower, another obligor's rows) are
        dropped; a field whose decision is deny or aggregate-only, or that the catalogue does not know,
        is absent from every row; masked, generalised and pseudonymised fields carry the transformed
        value. If nothing at all may be seen, the result is empty. If ``log`` is given, one entry for
        the whole view is appended (decision id, party, resource, per-field transform and rule ids,
        policy version; never values). Raises :class:`PseudonymKeyError` when a pseudonym key is needed
        and missing, :class:`PolicyError` for undeclared events.
        """
        evs = tuple(sorted(self._check_events(events)))
        plan = self.compile_view(party, purpose, pool_id=pool_id, events=evs, pseudonym_key=pseudonym_key)
        rows = plan.apply(records, party, pool_id)
        if log is not None:
            log.append_view(
                decision_id=uuid.uuid4().hex,
                party_id=party.id,
                role=party.role,
                purpose=purpose,
                resource=resource or f"pool:{pool_id}/records",
                pool_id=pool_id,
                events=evs,
                fields={n: (c.transform.label, c.rule_ids[0]) for n, c in plan.decisions.items()},
                record_count=len(rows),
                policy_version=self.version,
            )
        return rows

    # ----------------------------------------------------------------------------------- claims

    def may_request_claim(self, party: Party, claim_kind: str, metric: str, *, pool_id: str) -> Decision:
        """May ``party`` request a claim of ``claim_kind`` (``"threshold"``, ``"exact"``, ``"inclusion"``,
        ...) on ``metric`` in ``pool_id``? ``RAW`` = allowed, ``DENY`` = refused. Deny by default; a deny
        rule beats an allow rule. Whether a *particular* threshold may be asked is the aggregate guard's
        call (:class:`policies.aggregates.AggregateGuard`).

        For a role named by a ``[[disclosure_modes]]`` rule, ``exact`` and ``threshold`` claims are
        decided by :meth:`disclosure_mode` alone: ``exact`` needs mode exact, ``threshold`` needs exact
        or threshold; the rule ids then start with the deciding mode rule. Whether an allowed exact
        figure is actually released to an aggregate-only party is the disclosure-control point's call
        (minimum cohort and differencing, :func:`policies.aggregates.plan_release`)."""
        field_name = f"claim:{claim_kind}:{metric}"
        rule_ids: tuple[str, ...]
        if party.role not in self.roles:
            t, rule_ids, reason = (
                Transform.DENY,
                ("default.unknown_role",),
                f"role {party.role!r} is not declared",
            )
        elif not self._in_scope(party, pool_id):
            t, rule_ids, reason = Transform.DENY, ("scope.pool",), "the pool is outside the party's scope"
        elif party.role in self.moded_roles and claim_kind in MODE_CLAIM_KINDS:
            md = self.disclosure_mode(party.role, metric)
            needed = DisclosureModeKind.EXACT if claim_kind == "exact" else DisclosureModeKind.THRESHOLD
            t = Transform.RAW if md.mode <= needed else Transform.DENY
            rule_ids = md.rule_ids
            verdict = "allows" if t is Transform.RAW else "refuses"
            article = "an" if claim_kind[:1] in "aeiou" else "a"
            reason = f"{md.reason}; mode {md.mode.label} {verdict} {article} {claim_kind} claim on {metric!r}"
        else:
            hits = [r for r in self.claim_rules if r.applies(party.role, claim_kind, metric)]
            if not hits:
                t, rule_ids = Transform.DENY, ("default.deny",)
                reason = (
                    f"no claim rule lets {party.role!r} request {claim_kind!r} on {metric!r}: deny by default"
                )
            else:
                denies = [r for r in hits if not r.allow]
                winner = denies[0] if denies else hits[0]
                t = Transform.RAW if winner.allow else Transform.DENY
                rule_ids = tuple(r.id for r in denies + [r for r in hits if r.allow])
                reason = f"claim rule {winner.id} ({'allow' if winner.allow else 'deny'})"
                if denies and len(hits) > len(denies):
                    reason += " wins: a deny rule beats an allow rule"
                if winner.reason:
                    reason += f": {winner.reason}"
        return Decision(
            decision_id=uuid.uuid4().hex,
            party_id=party.id,
            role=party.role,
            field=field_name,
            purpose="claim",
            transform=t,
            params={},
            rule_ids=rule_ids,
            reason=reason,
            policy_version=self.version,
            pool_id=pool_id,
        )

    # ------------------------------------------------------------------------- disclosure modes

    def disclosure_mode(self, role: str, metric: str) -> ModeDecision:
        """What ``role`` may learn of ``metric``: exact, threshold only, or none, and by which rule.

        The most restrictive applicable mode rule wins (``exact < threshold < none``), stated in the
        reason; a role no mode rule names, or a metric no mode rule of the role covers, gets ``none``
        (``modes.default_none``). Decided on names only, never on a value.
        """
        hits = [m for m in self.disclosure_modes if m.applies(role, metric)]
        if not hits:
            return ModeDecision(
                DisclosureModeKind.NONE,
                ("modes.default_none",),
                f"no disclosure mode rule names {metric!r} for role {role!r}: nothing by default",
            )
        # Most restrictive first; among equals, a rule naming the metric itself before a pattern.
        ordered = sorted(hits, key=lambda m: (-int(m.mode), metric not in m.metrics))
        winner = ordered[0]
        reason = f"disclosure mode rule {winner.id} ({winner.mode.label})"
        beaten = sorted({m.mode for m in ordered if m.mode != winner.mode})
        if beaten:
            reason += (
                f" wins over {', '.join(f'{m.id} ({m.mode.label})' for m in ordered[1:])}: "
                "the most restrictive applicable mode wins"
            )
        if winner.reason:
            reason += f": {winner.reason}"
        return ModeDecision(winner.mode, tuple(m.id for m in ordered), reason)

    def release_priority(self, metric: str) -> int:
        """Where ``metric`` stands in the policy's ``[metric_sets]``, in file order (lower first; a
        metric no set lists comes last). When two exact figures together would pin a small cohort,
        the disclosure-control point releases the one listed first."""
        position = 0
        for ids in self.metric_sets.values():
            for m in ids:
                if m == metric:
                    return position
                position += 1
        return position

    def exact_for_some_role(self, metric: str, roles: Iterable[str]) -> bool:
        """True if any of ``roles`` has mode ``exact`` for ``metric``."""
        return any(self.disclosure_mode(r, metric).mode is DisclosureModeKind.EXACT for r in roles)
