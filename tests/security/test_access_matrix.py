"""Every route of the committed OpenAPI document, called by every kind of principal.

The matrix: principals (no credentials, a malformed header, an unknown key, the operator, one party of
each role, a platform that does not own the pool, an investor without access to it) × every operation
in ``gateway/openapi.json``. A principal outside an operation's scope must be refused with the
documented status (401 unauthenticated, 403 wrong role, 404 with the one "no such pool" text for a pool
out of scope, exactly as for a pool that does not exist); a principal inside it must never be refused
for scope. Requests carry well-formed parameters and bodies, so that a refusal is
the access check's doing and not the validator's.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.access.admin import create_party_with_grants
from gateway.access.checks import POOL_NOT_IN_SCOPE
from gateway.storage.db import connect
from tests.gateway.helpers import CUTOFF, cn_row, jsonl

from .world import CLAIM, POOL, PREFIX, ROLES, World, bearer, nonce

SPEC = json.loads((Path(__file__).resolve().parents[2] / "gateway" / "openapi.json").read_text())
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in SPEC["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
)
PRINCIPALS = (
    "anonymous",
    "malformed_header",
    "unknown_key",
    "admin",
    *ROLES,
    "other_platform",
    "outsider_investor",
)
SCOPE_REFUSALS = (
    POOL_NOT_IN_SCOPE,
    "this endpoint is for parties with role",
    "outside this party's scope",
    "belongs to another platform",
    "needs an operator (admin) key",
)
_counter = itertools.count()


def audience(path: str) -> str:
    """Who an operation is for: a role, ``admin`` or ``public``."""
    first = "/" + path.split("/")[1]
    if first == "/admin":
        return "admin"
    if first == "/public":
        return "public"
    return {v: k for k, v in PREFIX.items()}[first]


def pool_scoped(path: str) -> bool:
    return "{pool_id}" in path


def headers_for(world: World, principal: str) -> dict[str, str]:
    if principal == "anonymous":
        return {}
    if principal == "malformed_header":
        return {"Authorization": "Basic dXNlcjpwYXNz"}
    if principal == "unknown_key":
        return bearer("ppk_" + "A" * 43)
    return bearer(world.keys[principal])


def request_for(world: World, method: str, path: str) -> tuple[str, dict[str, Any]]:
    """A well-formed request for the operation: URL and keyword arguments of the test client."""
    n = next(_counter)
    party_id, key_id = "auditor1", "key_unknown"
    if method == "DELETE":  # revoking a key or withdrawing a grant: of a party made for this request
        party_id, key_id = throwaway_party(world, f"matrix-target{n}")
    url = (
        path.replace("{pool_id}", POOL)
        .replace("{cutoff}", CUTOFF)
        .replace("{job_id}", world.job_id)
        .replace("{party_id}", party_id)
        .replace("{key_id}", key_id)
        .replace("{leaf_index}", "0")
        .replace("{cohort}", "2024-Q1")
    )
    kw: dict[str, Any] = {}
    if path.endswith("/inclusion"):
        kw["query_string"] = {"platform_loan_id": world.borrower_loan}
    if path.endswith("/vintage/{cohort}"):
        kw["query_string"] = {"nonce": nonce()}
    if method == "POST":
        if path == "/platform/pools":
            kw["json"] = {"pool_id": f"M{n}", "settings": {"preset": "CN_CONSUMER"}}
        elif path.endswith("/tapes"):
            body = jsonl([cn_row(1)])
            kw["data"] = body
            kw["headers"] = world.signed_tape_headers(body)
        elif path.endswith("/claims"):
            kw["json"] = {"statement": CLAIM, "nonce": nonce()}
        elif path == "/admin/parties":
            kw["json"] = {"party_id": f"matrix{n}", "role": "investor"}
        elif path.endswith("/pools") and path.startswith("/admin"):
            kw["json"] = {"pool_id": POOL}
    return url, kw


def throwaway_party(world: World, party_id: str) -> tuple[str, str]:
    """An investor holding ``POOL``, made for one request that changes its access; ``(party id, key id)``."""
    db = connect(world.inst.db_path)
    try:
        _, record, _ = create_party_with_grants(db, party_id, "investor", pools=[POOL])
    finally:
        db.conn.close()
    return party_id, record.key_id


def expected_refusal(principal: str, path: str) -> int | None:
    """The status a principal must get for an operation, or None when it is within scope."""
    who = audience(path)
    if who == "public":
        return None
    if principal in ("anonymous", "malformed_header", "unknown_key"):
        return 401
    role = {"other_platform": "platform", "outsider_investor": "investor"}.get(principal, principal)
    if who == "admin":
        return None if principal == "admin" else 403
    if role != who:
        return 403
    if principal in ("other_platform", "outsider_investor") and pool_scoped(path):
        return 404
    return None


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_each_principal_is_refused_outside_its_scope_and_served_inside_it(
    world: World, method: str, path: str, principal: str
) -> None:
    url, kw = request_for(world, method, path)
    kw["headers"] = {**kw.get("headers", {}), **headers_for(world, principal)}
    resp = world.client.open(url, method=method, **kw)
    expected = expected_refusal(principal, path)
    body = resp.get_json(silent=True) or {}
    if expected is not None:
        assert resp.status_code == expected, (resp.status_code, body)
        assert body.get("code") == expected
        if expected == 404:
            assert body == {"code": 404, "status": "Not Found", "message": POOL_NOT_IN_SCOPE}
        return
    assert resp.status_code not in (401, 429, 500), (resp.status_code, body)
    if resp.status_code in (403, 404):
        message = str(body.get("message", ""))
        assert not any(s in message for s in SCOPE_REFUSALS), message


def test_the_matrix_covers_every_documented_operation() -> None:
    assert len(OPERATIONS) >= 60
    audiences = {audience(p) for _, p in OPERATIONS}
    assert audiences == {*ROLES, "admin", "public"}


def test_the_matrix_covers_the_vintage_curves() -> None:
    for role in ROLES:
        if role != "borrower":
            assert ("GET", f"{PREFIX[role]}/pools/{{pool_id}}/vintage/{{cohort}}") in OPERATIONS, role


def test_the_matrix_covers_the_key_and_grant_lifecycle() -> None:
    assert {
        ("GET", "/admin/parties/{party_id}/keys"),
        ("POST", "/admin/parties/{party_id}/keys"),
        ("DELETE", "/admin/parties/{party_id}/keys/{key_id}"),
        ("GET", "/admin/parties/{party_id}/pools"),
        ("POST", "/admin/parties/{party_id}/pools"),
        ("DELETE", "/admin/parties/{party_id}/pools/{pool_id}"),
    } <= set(OPERATIONS)


def test_unauthenticated_requests_are_refused_before_their_bodies_are_read(world: World) -> None:
    """An anonymous caller learns nothing about what a valid body looks like: 401, not 422."""
    for url, body in (
        ("/platform/pools", {"nonsense": 1}),
        (f"/investor/pools/{POOL}/snapshots/{CUTOFF}/claims", {"statement": "x"}),
        ("/admin/parties", {"role": 5}),
    ):
        resp = world.client.post(url, json=body)
        assert resp.status_code == 401, (url, resp.status_code, resp.get_json())


def test_a_party_of_the_wrong_role_is_refused_before_its_body_is_read(world: World) -> None:
    resp = world.client.post("/admin/parties", json={"role": 5}, headers=bearer(world.keys["investor"]))
    assert resp.status_code == 403, resp.get_json()


def test_a_pool_list_shows_only_the_pools_in_scope(world: World) -> None:
    mine = world.client.get("/investor/pools", headers=bearer(world.keys["investor"])).get_json()
    theirs = world.client.get("/investor/pools", headers=bearer(world.keys["outsider_investor"])).get_json()
    other = world.client.get("/platform/pools", headers=bearer(world.keys["other_platform"])).get_json()
    assert [p["pool_id"] for p in mine] == [POOL]
    assert theirs == []
    assert POOL not in [p["pool_id"] for p in other]


def test_a_borrower_sees_only_their_own_loans(world: World) -> None:
    url = f"/borrower/pools/{POOL}/cutoffs/{CUTOFF}/loans"
    own = world.client.get(url, headers=bearer(world.keys["borrower"])).get_json()
    stranger = world.client.get(url, headers=bearer(world.keys["outsider_borrower"])).get_json()
    assert len(own["loans"]) == 1
    assert stranger["loans"] == []
    incl = f"/borrower/pools/{POOL}/snapshots/{CUTOFF}/inclusion"
    resp = world.client.get(
        incl,
        query_string={"platform_loan_id": world.borrower_loan},
        headers=bearer(world.keys["outsider_borrower"]),
    )
    assert resp.status_code == 404
    other_loan = world.rows[1]["platform_loan_id"]
    resp = world.client.get(
        incl, query_string={"platform_loan_id": other_loan}, headers=bearer(world.keys["borrower"])
    )
    assert resp.status_code == 404


def test_investors_never_receive_loan_level_fields(world: World) -> None:
    url = f"/investor/pools/{POOL}/cutoffs/{CUTOFF}/loans"
    page = world.client.get(url, headers=bearer(world.keys["investor"])).get_json()
    # Only the row's position and the pool keys (policy rule investor.pool_keys); no loan field.
    assert all(set(loan) <= {"index", "pool_id", "cutoff_date"} for loan in page["loans"]), page["loans"][:1]
