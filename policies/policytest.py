"""Policy tests in the style of ``opa test``: a TOML file of expected decisions, run against a policy.

File format (``poolproof/policy-test/v1``)::

    format = "poolproof/policy-test/v1"
    policy = "default_policy.toml"        # relative to the test file
    [[cases]]
    name = "investor never sees the ID number"
    role = "investor"
    field = "id_number"                   # or claim_kind + metric for a claim decision
    purpose = "investment_monitoring"
    events = []                           # optional
    in_scope = true                       # optional: is the pool in the party's scope
    expect = "deny"                       # a transform name
    expect_rule = "investor.no_identity"  # optional: the deciding rule id
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._toml import locate, read_toml
from .errors import PolicyFileError
from .parties import Party
from .policy import Policy
from .policy_file import load_policy
from .transforms import Transform

TEST_FORMAT = "poolproof/policy-test/v1"
DEFAULT_TEST_PATHS = (Path(__file__).with_name("default_policy_test.toml"),)


@dataclass(frozen=True)
class CaseResult:
    """One case: its name, whether it passed, and what was expected and got."""

    name: str
    passed: bool
    message: str


def run_policy_tests(path: str | Path, policy: Policy | None = None) -> list[CaseResult]:
    """Run every case of a policy-test file against ``policy`` (default: the file's ``policy``).

    Raises :class:`PolicyFileError` for a malformed test file.
    """
    p = Path(path)
    doc, raw = read_toml(p)
    text = raw.decode("utf-8")

    def fail(key: str, problem: str) -> PolicyFileError:
        return PolicyFileError(str(p), key, problem, locate(text, key))

    if doc.get("format") != TEST_FORMAT:
        raise fail("format", f"expected format = {TEST_FORMAT!r}")
    if policy is None:
        ref = doc.get("policy", "default_policy.toml")
        if not isinstance(ref, str):
            raise fail("policy", "policy must be a file name relative to the test file")
        policy = load_policy(p.parent / ref)
    cases = doc.get("cases")
    if not isinstance(cases, list) or not cases:
        raise fail("cases", "at least one [[cases]] table is required")
    results = []
    allowed = {
        "name",
        "role",
        "field",
        "claim_kind",
        "metric",
        "purpose",
        "events",
        "in_scope",
        "expect",
        "expect_rule",
    }
    for i, c in enumerate(cases):
        where = f"cases[{i}]"
        if not isinstance(c, dict):
            raise fail(where, "expected a table")
        for k in c:
            if k not in allowed:
                raise fail(f"{where}.{k}", f"unknown key {k!r}; allowed: {', '.join(sorted(allowed))}")
        name = str(c.get("name", where))
        role = c.get("role")
        if not isinstance(role, str):
            raise fail(f"{where}.role", "role must be a string")
        try:
            expect = Transform.parse(str(c.get("expect", "")))
        except ValueError as exc:
            raise fail(f"{where}.expect", str(exc)) from exc
        events = c.get("events", [])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise fail(f"{where}.events", "events must be a list of strings")
        in_scope = c.get("in_scope", True)
        party = Party(id=f"test:{role}", role=role, pools=frozenset({"pool-1"} if in_scope else set()))
        if "claim_kind" in c:
            d = policy.may_request_claim(
                party, str(c["claim_kind"]), str(c.get("metric", "")), pool_id="pool-1"
            )
        else:
            field, purpose = c.get("field"), c.get("purpose")
            if not isinstance(field, str) or not isinstance(purpose, str):
                raise fail(where, "a case needs field and purpose (or claim_kind and metric)")
            d = policy.decide(party, field, purpose, pool_id="pool-1", events=events)
        ok = d.transform is expect
        msg = f"expected {expect.label}, got {d.transform.label} by {', '.join(d.rule_ids)}"
        rule = c.get("expect_rule")
        if ok and rule is not None and d.rule_ids[0] != rule:
            ok = False
            msg = f"expected rule {rule}, got {d.rule_ids[0]} ({d.reason})"
        results.append(CaseResult(name, ok, msg))
    return results
