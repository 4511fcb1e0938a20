"""``explain``: why a party gets what it gets of a field (the rule chain, like ``opa eval --explain``)."""

from __future__ import annotations

from collections.abc import Iterable

from .parties import Party
from .policy import MODE_CLAIM_KINDS, Policy, metric_matches
from .transforms import Transform


def explain(
    policy: Policy,
    role_or_party: str | Party,
    field: str,
    purpose: str | None = None,
    events: Iterable[str] = (),
    *,
    pool_id: str | None = None,
) -> str:
    """A human-readable account of how ``policy`` decides ``field`` for a role or party.

    Lists the checks in evaluation order (role, purpose, pool scope, catalogue), then every rule that
    selects the field for the role, whether it applies and why not, and the winner with the reason.
    With ``purpose=None`` every purpose the role may state is explained. A bare role is assumed to have
    the pool in scope. Raises :class:`PolicyError` for an undeclared event.
    """
    if isinstance(role_or_party, Party):
        party = role_or_party
        pool = pool_id if pool_id is not None else next(iter(sorted(party.pools)), "")
    else:
        pool = pool_id if pool_id is not None else "<pool>"
        party = Party(id=f"<any {role_or_party}>", role=role_or_party, pools=frozenset({pool}))
    evs = tuple(sorted(set(events)))
    lines = [f"policy {policy.name or policy.source}  version {policy.version}"]
    role = policy.roles.get(party.role)
    spec = policy.catalogue.get(field)
    if spec is not None:
        sens = ", PIPL-sensitive" if spec.pipl_sensitive else ""
        forb = ", FORBIDDEN" if spec.forbidden else ""
        lines.append(
            f"field {field}: level {spec.level} / {spec.category}{sens}{forb}; "
            f"tags {', '.join(sorted(spec.tags))}"
        )
    else:
        lines.append(f"field {field}: not in the catalogue")
    if role is None:
        lines.append(f"role {party.role!r}: not declared in the policy")
        purposes = [purpose or "<none>"]
    else:
        lines.append(
            f"role {party.role}: purposes {', '.join(sorted(role.purposes))}; "
            f"pool scope {role.pool_scope}; row scope {role.row_scope}"
        )
        purposes = [purpose] if purpose is not None else sorted(role.purposes)
    lines.append(f"events recorded: {', '.join(evs) if evs else 'none'}")
    for pr in purposes:
        lines.append("")
        lines.append(f"purpose {pr}:")
        d = policy.decide(party, field, pr, pool_id=pool, events=evs)
        if spec is not None and role is not None and pr in role.purposes:
            selecting = [(r, r.selects(spec)) for r in policy.rules if party.role in r.roles]
            selecting = [(r, why) for r, why in selecting if why is not None]
            if not selecting:
                lines.append("  no rule for this role selects the field")
            for r, why in selecting:
                gate = r.gate(party.role, pr, frozenset(evs))
                status = "applies " if gate is None else "skipped "
                where = f" (line {r.line})" if r.line else ""
                lines.append(
                    f"  {status} {r.id}{where}: {r.transform.label} (selects by {why})"
                    + (f" - {gate}" if gate else "")
                )
        shown = d.transform.label if d.transform is not Transform.DENY else "deny"
        lines.append(f"  => {shown} [{', '.join(d.rule_ids)}]: {d.reason}")
    return "\n".join(lines)


def explain_metric(policy: Policy, role: str, metric: str) -> str:
    """A human-readable account of what ``role`` may learn of ``metric``: its disclosure mode and
    the exact and threshold claim decisions.

    Lists every disclosure mode rule naming the role, whether it covers the metric (and, if not,
    why), the winning mode and what it allows; for a role no mode rule names, the claim rules decide
    and their decisions are shown.
    """
    pool = "<pool>"
    party = Party(id=f"<any {role}>", role=role, pools=frozenset({pool}))
    lines = [f"policy {policy.name or policy.source}  version {policy.version}", f"metric {metric}"]
    if role not in policy.roles:
        lines.append(f"role {role!r}: not declared in the policy")
    elif role in policy.moded_roles:
        lines.append(f"role {role}: exact and threshold claims decided by [[disclosure_modes]]")
        for m in policy.disclosure_modes:
            if role not in m.roles:
                continue
            covers = m.applies(role, metric)
            excluded = not covers and any(metric_matches(p, metric) for p in m.metrics)
            status = "applies " if covers else "skipped "
            why = "" if covers else (" - listed in except_metrics" if excluded else " - metric not listed")
            lines.append(f"  {status} {m.id}: {m.mode.label}{why}")
        md = policy.disclosure_mode(role, metric)
        lines.append(f"  => mode {md.mode.label} [{', '.join(md.rule_ids)}]: {md.reason}")
    else:
        lines.append(f"role {role}: no disclosure mode rule names it; claim rules decide")
    for kind in sorted(MODE_CLAIM_KINDS):
        d = policy.may_request_claim(party, kind, metric, pool_id=pool)
        verdict = "allowed" if d.allowed else "refused"
        lines.append(f"  {kind} claim: {verdict} [{', '.join(d.rule_ids)}]")
    return "\n".join(lines)
