"""The policy file: a ``poolproof/policy/v1`` TOML document read into a validated :class:`Policy`.

:func:`load_policy` reads the document section by section, in this order: the top-level keys
(``format``, ``name``, ``catalogue``, ``events``), ``[roles.<role>]``, ``[field_transforms.<field>]``,
``[[rules]]``, ``[[claim_rules]]``, ``[metric_sets]``, ``[[disclosure_modes]]``, ``[aggregates]`` and
``[[reports]]``. The first problem found is
raised as :class:`PolicyFileError` naming the file, the dotted key path, the line and what was
expected; nothing is half-loaded. :class:`PolicyStore` keeps the policy in force and reloads it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._toml import locate, read_toml
from .aggregates import AggregateConfig, ReportDefinition
from .catalogue import Catalogue, load_catalogue
from .errors import PolicyFileError
from .policy import (
    MODE_CLAIM_KINDS,
    ClaimRule,
    DisclosureMode,
    DisclosureModeKind,
    Policy,
    RoleSpec,
    Rule,
)
from .transforms import MaskSpec, Transform, compile_generalize, mask_spec_from

POLICY_FORMAT = "poolproof/policy/v1"
DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")

_TOP_LEVEL_KEYS = {
    "format",
    "name",
    "catalogue",
    "events",
    "roles",
    "field_transforms",
    "rules",
    "claim_rules",
    "metric_sets",
    "disclosure_modes",
    "aggregates",
    "reports",
}
_ROLE_KEYS = {"purposes", "pool_scope", "row_scope", "row_key_fields", "description"}
_RULE_KEYS = {
    "id",
    "roles",
    "transform",
    "fields",
    "tags",
    "levels",
    "categories",
    "all_fields",
    "except_fields",
    "purposes",
    "when_events",
    "unless_events",
    "reason",
}
_CLAIM_RULE_KEYS = {"id", "roles", "kinds", "metrics", "decision", "reason"}
_MODE_KEYS = {"id", "roles", "metrics", "except_metrics", "mode", "reason"}
_AGGREGATE_KEYS = {
    "min_cohort",
    "claim_budget",
    "exact_value_roles",
    "registered_thresholds",
    "dpd_min_bucket_days",
}
_REPORT_KEYS = {"id", "roles", "dimensions", "metrics", "description"}
_RESERVED_RULE_PREFIXES = ("default.", "scope.", "catalogue.")


class _Loader:
    """Validates a policy document, raising :class:`PolicyFileError` with file, key path and line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, key_path: str, problem: str) -> PolicyFileError:
        return PolicyFileError(str(self.path), key_path, problem, locate(self.text, key_path))

    def str_list(self, table: Mapping[str, Any], key: str, where: str) -> frozenset[str]:
        v = table.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise self.fail(f"{where}.{key}", f"{key} must be a list of non-empty strings")
        return frozenset(v)

    def keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for k in table:
            if k not in allowed:
                raise self.fail(f"{where}.{k}", f"unknown key {k!r}; allowed: {', '.join(sorted(allowed))}")

    def table(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "expected a table")
        return value

    def roles_declared(self, named: frozenset[str], roles: Mapping[str, RoleSpec], where: str) -> None:
        for r in sorted(named - set(roles)):
            raise self.fail(where, f"role {r!r} is not declared under [roles]")


def load_policy(path: str | Path | None = None, *, catalogue: Catalogue | None = None) -> Policy:
    """Load and validate a policy TOML (default: the packaged ``policies/default_policy.toml``).

    The catalogue is the one named by the file's ``catalogue`` key (relative to the policy file), or
    ``catalogue`` if given. The version is the SHA-256 of the policy and catalogue file contents.
    Raises :class:`PolicyFileError` (or :class:`CatalogueError`) naming file, key path, line, problem.
    """
    p = Path(path) if path is not None else DEFAULT_POLICY_PATH
    doc, raw = read_toml(p)
    ld = _Loader(p, raw.decode("utf-8"))
    name = _load_header(ld, doc)
    if catalogue is None:
        catalogue = _load_named_catalogue(ld, doc, p)
    events = ld.str_list(doc, "events", "")
    roles = _load_roles(ld, doc, catalogue)
    masks, generalizers = _load_field_transforms(ld, doc, catalogue)
    rules = _load_rules(ld, doc, roles, events, catalogue, generalizers)
    claim_rules = _load_claim_rules(ld, doc, roles, taken_ids={r.id for r in rules})
    metric_sets = _load_metric_sets(ld, doc)
    modes = _load_disclosure_modes(
        ld,
        doc,
        roles,
        metric_sets,
        claim_rules,
        taken_ids={r.id for r in rules} | {c.id for c in claim_rules},
    )
    aggregates = _load_aggregates(ld, doc, roles)
    return Policy(
        catalogue=catalogue,
        roles=roles,
        rules=rules,
        claim_rules=claim_rules,
        disclosure_modes=modes,
        metric_sets=metric_sets,
        events=events,
        masks=masks,
        generalizers=generalizers,
        aggregates=aggregates,
        version=_file_version(raw, catalogue),
        name=name,
        source=str(p),
    )


def _file_version(raw: bytes, catalogue: Catalogue) -> str:
    """``sha256:`` over the length-prefixed policy and catalogue file contents."""
    h = hashlib.sha256(b"poolproof/policy-version/v1\x00")
    h.update(len(raw).to_bytes(8, "big") + raw)
    h.update(len(catalogue.content).to_bytes(8, "big") + catalogue.content)
    return "sha256:" + h.hexdigest()


def _load_header(ld: _Loader, doc: Mapping[str, Any]) -> str:
    """Check the top-level keys and ``format``; return the policy's ``name``."""
    ld.keys(doc, _TOP_LEVEL_KEYS, "")
    if doc.get("format") != POLICY_FORMAT:
        raise ld.fail("format", f"expected format = {POLICY_FORMAT!r}, got {doc.get('format')!r}")
    name = doc.get("name", "")
    if not isinstance(name, str):
        raise ld.fail("name", "name must be a string")
    return name


def _load_named_catalogue(ld: _Loader, doc: Mapping[str, Any], policy_path: Path) -> Catalogue:
    """The catalogue file named by ``catalogue`` (default ``catalogue.toml``) beside the policy file."""
    cat_ref = doc.get("catalogue", "catalogue.toml")
    if not isinstance(cat_ref, str):
        raise ld.fail("catalogue", "catalogue must be a file name relative to the policy file")
    return load_catalogue(policy_path.parent / cat_ref)


def _load_roles(ld: _Loader, doc: Mapping[str, Any], catalogue: Catalogue) -> dict[str, RoleSpec]:
    """``[roles.<role>]``: at least one role, each with at least one purpose."""
    roles_doc = doc.get("roles")
    if not isinstance(roles_doc, dict) or not roles_doc:
        raise ld.fail("roles", "a [roles.<role>] table per role is required")
    return {rname: _load_role(ld, rname, rdoc, catalogue) for rname, rdoc in roles_doc.items()}


def _load_role(ld: _Loader, rname: str, rdoc: object, catalogue: Catalogue) -> RoleSpec:
    where = f"roles.{rname}"
    role = ld.table(rdoc, where)
    ld.keys(role, _ROLE_KEYS, where)
    purposes = ld.str_list(role, "purposes", where)
    if not purposes:
        raise ld.fail(f"{where}.purposes", "a role needs at least one purpose")
    pool_scope = role.get("pool_scope", "listed")
    if pool_scope not in ("listed", "any"):
        raise ld.fail(f"{where}.pool_scope", f"pool_scope must be 'listed' or 'any', got {pool_scope!r}")
    row_scope = role.get("row_scope", "pool")
    if row_scope not in ("pool", "own_obligor"):
        raise ld.fail(f"{where}.row_scope", f"row_scope must be 'pool' or 'own_obligor', got {row_scope!r}")
    rkf = tuple(sorted(ld.str_list(role, "row_key_fields", where))) or ("obligor_pseudo_id",)
    for f in rkf:
        if f not in catalogue:
            raise ld.fail(f"{where}.row_key_fields", f"row key field {f!r} is not in the catalogue")
    return RoleSpec(
        name=rname,
        purposes=purposes,
        pool_scope=pool_scope,
        row_scope=row_scope,
        row_key_fields=rkf,
        description=str(role.get("description", "")),
    )


def _load_field_transforms(
    ld: _Loader, doc: Mapping[str, Any], catalogue: Catalogue
) -> tuple[dict[str, MaskSpec], dict[str, dict[str, Any]]]:
    """``[field_transforms.<field>]``: per-field mask patterns and generalisations, each compiled once
    here so that a bad parameter is a load error, not a failure at the first view."""
    masks: dict[str, MaskSpec] = {}
    generalizers: dict[str, dict[str, Any]] = {}
    ft_doc = doc.get("field_transforms", {})
    if not isinstance(ft_doc, dict):
        raise ld.fail("field_transforms", "expected a table of [field_transforms.<field>]")
    for fname, fdoc in ft_doc.items():
        where = f"field_transforms.{fname}"
        if fname not in catalogue:
            raise ld.fail(where, f"{fname!r} is not a catalogue field")
        if not isinstance(fdoc, dict):
            raise ld.fail(where, "expected a table with mask and/or generalize")
        ld.keys(fdoc, {"mask", "generalize"}, where)
        if "mask" in fdoc:
            try:
                masks[fname] = mask_spec_from(fdoc["mask"])
            except (ValueError, TypeError) as exc:
                raise ld.fail(f"{where}.mask", str(exc)) from exc
        if "generalize" in fdoc:
            g = fdoc["generalize"]
            if not isinstance(g, dict):
                raise ld.fail(f"{where}.generalize", "expected a table { kind = ..., ... }")
            try:
                compile_generalize(g)
            except (ValueError, TypeError) as exc:
                raise ld.fail(f"{where}.generalize", str(exc)) from exc
            generalizers[fname] = dict(g)
    return masks, generalizers


def _load_rules(
    ld: _Loader,
    doc: Mapping[str, Any],
    roles: Mapping[str, RoleSpec],
    events: frozenset[str],
    catalogue: Catalogue,
    generalizers: Mapping[str, Mapping[str, Any]],
) -> list[Rule]:
    """``[[rules]]``: unique, unreserved ids; every named role, field, tag, purpose and event declared."""
    rules_doc = doc.get("rules", [])
    if not isinstance(rules_doc, list):
        raise ld.fail("rules", "rules must be an array of tables [[rules]]")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, rdoc in enumerate(rules_doc):
        rule = _load_rule(ld, f"rules[{i}]", rdoc, roles, events, catalogue, seen)
        if rule.transform is Transform.GENERALIZE:
            _check_generalised_fields(ld, f"rules[{i}]", rule, catalogue, generalizers)
        seen.add(rule.id)
        rules.append(rule)
    return rules


def _load_rule(
    ld: _Loader,
    where: str,
    rdoc: object,
    roles: Mapping[str, RoleSpec],
    events: frozenset[str],
    catalogue: Catalogue,
    seen: set[str],
) -> Rule:
    rule = ld.table(rdoc, where)
    ld.keys(rule, _RULE_KEYS, where)
    rid = rule.get("id")
    if not isinstance(rid, str) or not rid:
        raise ld.fail(f"{where}.id", "every rule needs a non-empty string id")
    if rid in seen or rid.startswith(_RESERVED_RULE_PREFIXES):
        raise ld.fail(f"{where}.id", f"rule id {rid!r} is duplicated or reserved")
    try:
        transform = Transform.parse(str(rule.get("transform", "")))
    except ValueError as exc:
        raise ld.fail(f"{where}.transform", str(exc)) from exc
    rroles = ld.str_list(rule, "roles", where)
    if not rroles:
        raise ld.fail(f"{where}.roles", "a rule must name at least one role")
    ld.roles_declared(rroles, roles, f"{where}.roles")
    fields = ld.str_list(rule, "fields", where)
    except_fields = ld.str_list(rule, "except_fields", where)
    for f in sorted(fields | except_fields):
        if f not in catalogue:
            raise ld.fail(f"{where}.fields", f"field {f!r} is not in the catalogue")
    tags = ld.str_list(rule, "tags", where)
    for t in sorted(tags - catalogue.tags):
        raise ld.fail(f"{where}.tags", f"tag {t!r} is on no catalogue field")
    levels_v = rule.get("levels", [])
    if not isinstance(levels_v, list) or not all(isinstance(x, int) and 1 <= x <= 5 for x in levels_v):
        raise ld.fail(f"{where}.levels", "levels must be a list of integers 1..5")
    categories = ld.str_list(rule, "categories", where)
    if categories - {"C1", "C2", "C3"}:
        raise ld.fail(f"{where}.categories", "categories must be among C1, C2, C3")
    all_fields = rule.get("all_fields", False)
    if not isinstance(all_fields, bool):
        raise ld.fail(f"{where}.all_fields", "all_fields must be true or false")
    if not (fields or tags or levels_v or categories or all_fields):
        raise ld.fail(where, "a rule must select fields (fields, tags, levels, categories or all_fields)")
    purposes = ld.str_list(rule, "purposes", where)
    for pr in sorted(purposes):
        if not any(pr in roles[r].purposes for r in rroles):
            raise ld.fail(f"{where}.purposes", f"purpose {pr!r} is not declared for any of the rule's roles")
    when_events = ld.str_list(rule, "when_events", where)
    unless_events = ld.str_list(rule, "unless_events", where)
    for ev in sorted((when_events | unless_events) - events):
        raise ld.fail(f"{where}.when_events", f"event {ev!r} is not declared in the top-level events list")
    reason = rule.get("reason", "")
    if not isinstance(reason, str):
        raise ld.fail(f"{where}.reason", "reason must be a string")
    return Rule(
        id=rid,
        roles=rroles,
        transform=transform,
        fields=fields,
        tags=tags,
        levels=frozenset(levels_v),
        categories=categories,
        all_fields=all_fields,
        except_fields=except_fields,
        purposes=purposes,
        when_events=when_events,
        unless_events=unless_events,
        reason=reason,
        line=locate(ld.text, where),
    )


def _check_generalised_fields(
    ld: _Loader, where: str, rule: Rule, catalogue: Catalogue, generalizers: Mapping[str, object]
) -> None:
    """A generalising rule must only select fields that have a ``generalize`` table."""
    for spec in catalogue.values():
        if not spec.forbidden and rule.selects(spec) and spec.name not in generalizers:
            raise ld.fail(
                f"{where}.transform",
                f"rule generalises {spec.name} but [field_transforms.{spec.name}] has no generalize table",
            )


def _load_claim_rules(
    ld: _Loader, doc: Mapping[str, Any], roles: Mapping[str, RoleSpec], *, taken_ids: set[str]
) -> list[ClaimRule]:
    """``[[claim_rules]]``: ids unique among rules and claim rules; declared roles; allow or deny."""
    cr_doc = doc.get("claim_rules", [])
    if not isinstance(cr_doc, list):
        raise ld.fail("claim_rules", "claim_rules must be an array of tables [[claim_rules]]")
    seen = set(taken_ids)
    claim_rules: list[ClaimRule] = []
    for i, cdoc in enumerate(cr_doc):
        claim_rule = _load_claim_rule(ld, f"claim_rules[{i}]", cdoc, roles, seen)
        seen.add(claim_rule.id)
        claim_rules.append(claim_rule)
    return claim_rules


def _load_claim_rule(
    ld: _Loader, where: str, cdoc: object, roles: Mapping[str, RoleSpec], seen: set[str]
) -> ClaimRule:
    claim = ld.table(cdoc, where)
    ld.keys(claim, _CLAIM_RULE_KEYS, where)
    cid = claim.get("id")
    if not isinstance(cid, str) or not cid or cid in seen:
        raise ld.fail(f"{where}.id", "every claim rule needs a unique non-empty string id")
    croles = ld.str_list(claim, "roles", where)
    ld.roles_declared(croles, roles, f"{where}.roles")
    decision = claim.get("decision")
    if decision not in ("allow", "deny"):
        raise ld.fail(f"{where}.decision", f"decision must be 'allow' or 'deny', got {decision!r}")
    kinds = ld.str_list(claim, "kinds", where)
    metrics = ld.str_list(claim, "metrics", where)
    if not (croles and kinds and metrics):
        raise ld.fail(where, 'a claim rule needs roles, kinds and metrics (use "*" for any)')
    return ClaimRule(
        id=cid,
        roles=croles,
        kinds=kinds,
        metrics=metrics,
        allow=decision == "allow",
        reason=str(claim.get("reason", "")),
    )


def _load_metric_sets(ld: _Loader, doc: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``[metric_sets]``: named lists of metric ids, referred to as ``"@name"`` by disclosure modes.

    The order is kept: it is the release priority of exact figures (:meth:`Policy.release_priority`).
    """
    sets_doc = doc.get("metric_sets", {})
    if not isinstance(sets_doc, dict):
        raise ld.fail("metric_sets", "expected a [metric_sets] table of name = [metric ids]")
    out: dict[str, tuple[str, ...]] = {}
    for name in sets_doc:
        ld.str_list(sets_doc, name, "metric_sets")  # checks the type
        ids = tuple(sets_doc[name])
        if not ids:
            raise ld.fail(f"metric_sets.{name}", "a metric set needs at least one metric id")
        for m in ids:
            if m.startswith("@") or "*" in m:
                raise ld.fail(f"metric_sets.{name}", f"a metric set lists metric ids, not {m!r}")
        if len(set(ids)) != len(ids):
            raise ld.fail(f"metric_sets.{name}", "a metric set lists each metric id once")
        out[name] = ids
    return out


def _metric_patterns(
    ld: _Loader, table: Mapping[str, Any], key: str, where: str, sets: Mapping[str, tuple[str, ...]]
) -> frozenset[str]:
    """A mode rule's metric list with ``"@set"`` references expanded; an unknown set is an error."""
    out: set[str] = set()
    for m in sorted(ld.str_list(table, key, where)):
        if m.startswith("@"):
            if m[1:] not in sets:
                raise ld.fail(
                    f"{where}.{key}",
                    f"metric set {m!r} is not declared under [metric_sets] "
                    f"(declared: {', '.join(sorted(sets)) or 'none'})",
                )
            out.update(sets[m[1:]])
        elif "*" in m and m != "*" and not (m.endswith((":*", "/*")) and "*" not in m[:-2]):
            raise ld.fail(f"{where}.{key}", f"{m!r}: a wildcard is '*', 'prefix:*' or 'prefix/*' only")
        else:
            out.add(m)
    return frozenset(out)


def _load_disclosure_modes(
    ld: _Loader,
    doc: Mapping[str, Any],
    roles: Mapping[str, RoleSpec],
    sets: Mapping[str, tuple[str, ...]],
    claim_rules: list[ClaimRule],
    *,
    taken_ids: set[str],
) -> list[DisclosureMode]:
    """``[[disclosure_modes]]``: per role and metric, ``exact``, ``threshold`` or ``none``.

    Ids are unique among every rule; roles are declared; metrics are ids, ``"@set"`` references,
    ``"*"``, ``"prefix:*"`` or ``"prefix/*"``. A role a mode rule names may not also be named by an
    exact or threshold claim rule (one vocabulary decides a role's claims, so no two can disagree).
    """
    modes_doc = doc.get("disclosure_modes", [])
    if not isinstance(modes_doc, list):
        raise ld.fail("disclosure_modes", "disclosure_modes must be an array of tables [[disclosure_modes]]")
    seen = set(taken_ids)
    out: list[DisclosureMode] = []
    for i, mdoc in enumerate(modes_doc):
        where = f"disclosure_modes[{i}]"
        table = ld.table(mdoc, where)
        ld.keys(table, _MODE_KEYS, where)
        mid = table.get("id")
        if not isinstance(mid, str) or not mid or mid in seen or mid.startswith("modes.default"):
            raise ld.fail(f"{where}.id", "every disclosure mode rule needs a unique non-empty string id")
        mroles = ld.str_list(table, "roles", where)
        if not mroles:
            raise ld.fail(f"{where}.roles", "a disclosure mode rule needs at least one role")
        ld.roles_declared(mroles, roles, f"{where}.roles")
        try:
            mode = DisclosureModeKind.parse(str(table.get("mode", "")))
        except ValueError as exc:
            raise ld.fail(f"{where}.mode", str(exc)) from exc
        metrics = _metric_patterns(ld, table, "metrics", where, sets)
        if not metrics:
            raise ld.fail(f"{where}.metrics", 'a disclosure mode rule needs metrics (use "*" for any)')
        seen.add(mid)
        out.append(
            DisclosureMode(
                id=mid,
                roles=mroles,
                metrics=metrics,
                mode=mode,
                except_metrics=_metric_patterns(ld, table, "except_metrics", where, sets),
                reason=str(table.get("reason", "")),
            )
        )
    moded = {r for m in out for r in m.roles}
    for i, c in enumerate(claim_rules):
        clash = sorted(c.roles & moded)
        if clash and c.kinds & (MODE_CLAIM_KINDS | {"*"}):
            raise ld.fail(
                f"claim_rules[{i}].roles",
                f"claim rule {c.id!r} decides {', '.join(sorted(c.kinds & (MODE_CLAIM_KINDS | {'*'})))} "
                f"claims of role(s) {', '.join(clash)}, whose claims [[disclosure_modes]] decide",
            )
    return out


def _load_aggregates(ld: _Loader, doc: Mapping[str, Any], roles: Mapping[str, RoleSpec]) -> AggregateConfig:
    """``[aggregates]`` (cohort floor, claim budgets, exact-value roles, registered thresholds, DPD bucket
    width) and the ``[[reports]]`` it serves."""
    agg = doc.get("aggregates", {})
    if not isinstance(agg, dict):
        raise ld.fail("aggregates", "expected an [aggregates] table")
    ld.keys(agg, _AGGREGATE_KEYS, "aggregates")
    dpd_width = agg.get("dpd_min_bucket_days", 30)
    if not isinstance(dpd_width, int) or isinstance(dpd_width, bool) or dpd_width < 1:
        raise ld.fail(
            "aggregates.dpd_min_bucket_days",
            f"dpd_min_bucket_days must be an integer >= 1, got {dpd_width!r}",
        )
    k = agg.get("min_cohort", 10)
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise ld.fail("aggregates.min_cohort", f"min_cohort must be an integer >= 2, got {k!r}")
    budget = agg.get("claim_budget", {})
    if not isinstance(budget, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in budget.values()
    ):
        raise ld.fail("aggregates.claim_budget", "claim_budget must map role -> non-negative integer")
    ld.roles_declared(frozenset(budget), roles, "aggregates.claim_budget")
    exact = ld.str_list(agg, "exact_value_roles", "aggregates")
    ld.roles_declared(exact, roles, "aggregates.exact_value_roles")
    thr = agg.get("registered_thresholds", {})
    if not isinstance(thr, dict) or not all(
        isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        for v in thr.values()
    ):
        raise ld.fail(
            "aggregates.registered_thresholds", "registered_thresholds must map metric -> list of integers"
        )
    reports = _load_reports(ld, doc, roles)
    return AggregateConfig(
        min_cohort=k,
        claim_budget=dict(budget),
        exact_value_roles=exact,
        registered_thresholds={m: tuple(sorted(v)) for m, v in thr.items()},
        dpd_min_bucket_days=dpd_width,
        reports={r.id: r for r in reports},
    )


def _load_reports(
    ld: _Loader, doc: Mapping[str, Any], roles: Mapping[str, RoleSpec]
) -> list[ReportDefinition]:
    """``[[reports]]``: registered report definitions with unique ids, declared roles, known dimensions."""
    rep_doc = doc.get("reports", [])
    if not isinstance(rep_doc, list):
        raise ld.fail("reports", "reports must be an array of tables [[reports]]")
    reports: list[ReportDefinition] = []
    for i, rd in enumerate(rep_doc):
        where = f"reports[{i}]"
        report = ld.table(rd, where)
        ld.keys(report, _REPORT_KEYS, where)
        rid = report.get("id")
        if not isinstance(rid, str) or not rid or any(r.id == rid for r in reports):
            raise ld.fail(f"{where}.id", "every report needs a unique non-empty string id")
        rroles = ld.str_list(report, "roles", where)
        ld.roles_declared(rroles, roles, f"{where}.roles")
        dims = report.get("dimensions", [])
        if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
            raise ld.fail(f"{where}.dimensions", "dimensions must be a list of strings")
        try:
            reports.append(
                ReportDefinition(
                    id=rid,
                    roles=rroles,
                    dimensions=tuple(dims),
                    metrics=tuple(sorted(ld.str_list(report, "metrics", where))),
                    description=str(report.get("description", "")),
                )
            )
        except ValueError as exc:
            raise ld.fail(f"{where}.dimensions", str(exc)) from exc
    return reports


class PolicyStore:
    """The policy in force, reloadable from its file. A failed reload leaves the previous policy."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else DEFAULT_POLICY_PATH
        self._policy = load_policy(self.path)

    @property
    def policy(self) -> Policy:
        """The policy currently in force."""
        return self._policy

    def reload(self) -> Policy:
        """Load the file again and put it in force; on any :class:`PolicyFileError` the previous
        policy stays in force and the error propagates."""
        new = load_policy(self.path)
        self._policy = new
        return new
