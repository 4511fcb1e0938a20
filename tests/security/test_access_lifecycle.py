"""API-key and pool-grant lifecycle through a real server, and the CLI on the same database.

Keys are revoked or expire and are refused by the very next request; grants are withdrawn and the pool
then answers as an unknown one; listings never show a key or its hash; party creation is atomic; every
change is in the decision log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import create_app
from gateway.access.checks import POOL_NOT_IN_SCOPE
from gateway.cli import cli
from gateway.keys.tape_signatures import public_key_bytes
from gateway.snapshots.demo import DemoInstance, LiveServer, init_instance
from gateway.storage.db import connect
from gateway.storage.decisions import connect_log, load_entries, log_path_for, verify_stored_log
from gateway.storage.records import hash_api_key

POOL = "LC-P1"


@dataclass
class Site:
    inst: DemoInstance
    server: LiveServer
    session: requests.Session
    platform_key: str

    def admin(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.inst.admin_key}"}
        return self.session.request(
            method, f"{self.server.url}/admin{path}", headers=headers, timeout=30, **kw
        )

    def as_key(self, key: str, path: str) -> requests.Response:
        return self.session.get(
            f"{self.server.url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def table(self, sql: str) -> list[tuple[Any, ...]]:
        db = connect(self.inst.db_path)
        try:
            return [tuple(r) for r in db.conn.execute(sql).fetchall()]
        finally:
            db.conn.close()

    def log(self) -> list[dict[str, Any]]:
        db = connect_log(log_path_for(self.inst.db_path))
        try:
            verify_stored_log(db)
            return load_entries(db)
        finally:
            db.conn.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    inst = init_instance(tmp_path_factory.mktemp("access-lifecycle"))
    server = LiveServer(create_app(inst.config(TESTING=True, RATE_LIMIT_PER_SECOND=0)))
    session = requests.Session()
    s = Site(inst, server, session, "")
    pk = public_key_bytes(Ed25519PrivateKey.generate()).hex()
    r = s.admin("POST", "/parties", json={"party_id": "lc-plat", "role": "platform", "public_key": pk})
    assert r.status_code == 201, r.text
    s.platform_key = r.json()["api_key"]
    r = session.post(
        f"{server.url}/platform/pools",
        json={"pool_id": POOL, "settings": {"preset": "CN_CONSUMER"}},
        headers={"Authorization": f"Bearer {s.platform_key}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    try:
        yield s
    finally:
        session.close()
        server.close()


def _investor(site: Site, party_id: str, pools: list[str] | None = None) -> str:
    r = site.admin("POST", "/parties", json={"party_id": party_id, "role": "investor", "pools": pools or []})
    assert r.status_code == 201, r.text
    key: str = r.json()["api_key"]
    return key


def test_party_creation_with_an_unknown_pool_leaves_nothing_behind(site: Site) -> None:
    before = (site.table("SELECT * FROM parties"), site.table("SELECT key_hash FROM api_keys"))
    before_access = site.table("SELECT * FROM pool_access")
    r = site.admin(
        "POST", "/parties", json={"party_id": "lc-atomic", "role": "investor", "pools": [POOL, "NO-SUCH"]}
    )
    assert r.status_code == 404
    assert "NO-SUCH" in r.json()["message"]
    assert "nothing was created" in r.json()["message"]
    assert (site.table("SELECT * FROM parties"), site.table("SELECT key_hash FROM api_keys")) == before
    assert site.table("SELECT * FROM pool_access") == before_access
    assert "lc-atomic" not in [p["party_id"] for p in site.admin("GET", "/parties").json()]
    # The same request with known pools then succeeds: nothing half-made was in the way.
    r = site.admin("POST", "/parties", json={"party_id": "lc-atomic", "role": "investor", "pools": [POOL]})
    assert r.status_code == 201
    assert r.json()["pools"] == [POOL]


def test_grants_to_a_platform_are_refused_and_leave_nothing(site: Site) -> None:
    pk = public_key_bytes(Ed25519PrivateKey.generate()).hex()
    body = {"party_id": "lc-plat-bad", "role": "platform", "public_key": pk, "pools": [POOL]}
    assert site.admin("POST", "/parties", json=body).status_code == 422
    assert site.table("SELECT id FROM parties WHERE id = 'lc-plat-bad'") == []


def test_parties_add_on_the_command_line_with_an_unknown_pool_leaves_nothing(site: Site) -> None:
    proc = subprocess.run(
        [
            *(
                sys.executable,
                "-c",
                "from gateway.cli import main; main()",
                "parties",
                "add",
                "lc-cli-atomic",
            ),
            *("--role", "investor", "--pool", POOL, "--pool", "NO-SUCH", "--db", str(site.inst.db_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "NO-SUCH" in proc.stderr
    assert "API key" not in proc.stdout
    assert site.table("SELECT id FROM parties WHERE id = 'lc-cli-atomic'") == []
    assert site.table("SELECT key_id FROM api_keys WHERE party_id = 'lc-cli-atomic'") == []


def test_a_revoked_key_is_refused_by_the_next_request(site: Site) -> None:
    key = _investor(site, "lc-revoke")
    assert site.as_key(key, "/investor/pools").status_code == 200
    (listed,) = site.admin("GET", "/parties/lc-revoke/keys").json()
    r = site.admin("DELETE", f"/parties/lc-revoke/keys/{listed['key_id']}")
    assert r.status_code == 200
    assert r.json()["state"] == "revoked"
    assert r.json()["revoked_at"] is not None
    refused = site.as_key(key, "/investor/pools")
    assert refused.status_code == 401
    # Revoking again changes nothing and is not logged twice.
    n = len(site.log())
    assert site.admin("DELETE", f"/parties/lc-revoke/keys/{listed['key_id']}").json()["state"] == "revoked"
    assert len(site.log()) == n


def test_only_the_revoked_key_stops_working(site: Site) -> None:
    first = _investor(site, "lc-two-keys")
    r = site.admin("POST", "/parties/lc-two-keys/keys", json={"label": "second"})
    assert r.status_code == 201
    second, second_id = r.json()["api_key"], r.json()["key_id"]
    assert site.admin("DELETE", f"/parties/lc-two-keys/keys/{second_id}").status_code == 200
    assert site.as_key(second, "/investor/pools").status_code == 401
    assert site.as_key(first, "/investor/pools").status_code == 200


def test_a_key_id_of_another_party_cannot_be_revoked_through_this_party(site: Site) -> None:
    _investor(site, "lc-victim")
    _investor(site, "lc-other")
    (victim,) = site.admin("GET", "/parties/lc-victim/keys").json()
    r = site.admin("DELETE", f"/parties/lc-other/keys/{victim['key_id']}")
    assert r.status_code == 404
    assert site.admin("GET", "/parties/lc-victim/keys").json()[0]["state"] == "active"


def test_an_expired_key_is_refused_and_listed_as_expired(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    _investor(site, "lc-expiry")
    expires = datetime.now(UTC) + timedelta(hours=1)
    r = site.admin("POST", "/parties/lc-expiry/keys", json={"label": "1h", "expires_at": expires.isoformat()})
    assert r.status_code == 201, r.text
    key = r.json()["api_key"]
    assert r.json()["expires_at"] == expires.replace(microsecond=0).isoformat()
    assert site.as_key(key, "/investor/pools").status_code == 200
    later = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).isoformat()
    monkeypatch.setattr("gateway.storage.records.now", lambda: later)
    monkeypatch.setattr("gateway.storage.parties.now", lambda: later)
    refused = site.as_key(key, "/investor/pools")
    assert refused.status_code == 401
    assert refused.json()["message"] == "unknown, revoked or expired API key"
    states = {k["label"]: k["state"] for k in site.admin("GET", "/parties/lc-expiry/keys").json()}
    assert states == {"initial": "active", "1h": "expired"}


@pytest.mark.parametrize(
    ("expires_at", "text"),
    [("2001-01-01T00:00:00Z", "not in the future"), ("2099-01-01T00:00:00", "Not a valid aware datetime")],
)
def test_an_expiry_in_the_past_or_without_an_offset_is_refused(
    site: Site, expires_at: str, text: str
) -> None:
    _investor(site, f"lc-bad-exp-{len(expires_at)}")
    r = site.admin("POST", f"/parties/lc-bad-exp-{len(expires_at)}/keys", json={"expires_at": expires_at})
    assert r.status_code == 422
    assert text in json.dumps(r.json())
    assert len(site.admin("GET", f"/parties/lc-bad-exp-{len(expires_at)}/keys").json()) == 1


def test_a_key_listing_never_shows_a_key_or_its_hash(site: Site) -> None:
    first = _investor(site, "lc-listing")
    second = site.admin("POST", "/parties/lc-listing/keys", json={"label": "ops"}).json()["api_key"]
    resp = site.admin("GET", "/parties/lc-listing/keys")
    listed = resp.json()
    assert [set(k) for k in listed] == [
        {"key_id", "party_id", "label", "created_at", "expires_at", "revoked_at", "state"}
    ] * 2
    for secret in (first, second, hash_api_key(first), hash_api_key(second)):
        assert secret not in resp.text


def test_a_withdrawn_grant_ends_access_at_once(site: Site) -> None:
    key = _investor(site, "lc-grant", pools=[POOL])
    url = f"/investor/pools/{POOL}/snapshots"
    assert site.as_key(key, url).status_code == 200
    r = site.admin("DELETE", f"/parties/lc-grant/pools/{POOL}")
    assert r.status_code == 200
    assert r.json()["pools"] == []
    after = site.as_key(key, url)
    unknown = site.as_key(key, "/investor/pools/NO-SUCH/snapshots")
    assert after.status_code == unknown.status_code == 404
    assert (
        after.json() == unknown.json() == {"code": 404, "status": "Not Found", "message": POOL_NOT_IN_SCOPE}
    )
    assert site.admin("GET", "/parties/lc-grant/pools").json() == []
    # Withdrawing what is not granted says so.
    again = site.admin("DELETE", f"/parties/lc-grant/pools/{POOL}")
    assert again.status_code == 404
    assert "holds no grant" in again.json()["message"]


def test_a_grant_can_be_added_and_listed(site: Site) -> None:
    key = _investor(site, "lc-grant-add")
    assert site.as_key(key, f"/investor/pools/{POOL}/snapshots").status_code == 404
    assert site.admin("POST", "/parties/lc-grant-add/pools", json={"pool_id": POOL}).status_code == 200
    assert [g["pool_id"] for g in site.admin("GET", "/parties/lc-grant-add/pools").json()] == [POOL]
    assert site.as_key(key, f"/investor/pools/{POOL}/snapshots").status_code == 200


def test_every_access_change_is_in_the_decision_log(site: Site) -> None:
    start = len(site.log())
    key = _investor(site, "lc-logged", pools=[POOL])
    issued = site.admin("POST", "/parties/lc-logged/keys", json={"label": "x"}).json()
    site.admin("DELETE", f"/parties/lc-logged/keys/{issued['key_id']}")
    site.admin("DELETE", f"/parties/lc-logged/pools/{POOL}")
    site.admin("POST", "/parties/lc-logged/pools", json={"pool_id": POOL})
    entries = site.log()[start:]
    assert [e["events"] for e in entries] == [
        ["party.created"],
        ["api_key.issued"],
        ["grant.added"],
        ["api_key.issued"],
        ["api_key.revoked"],
        ["grant.withdrawn"],
        ["grant.added"],
    ]
    assert {e["purpose"] for e in entries} == {"access_admin"}
    assert {e["role"] for e in entries} == {"operator"}
    (admin_key_id,) = site.table("SELECT key_id FROM api_keys WHERE is_admin = 1")
    assert {e["party_id"] for e in entries} == {f"operator:{admin_key_id[0]}"}
    assert entries[4]["resource"] == f"party:lc-logged/api-key:{issued['key_id']}"
    assert entries[5]["pool_id"] == POOL
    text = json.dumps(entries)
    for secret in (key, issued["api_key"], hash_api_key(key), hash_api_key(issued["api_key"])):
        assert secret not in text


# --- the command line on the same database, with the server running -----------------------------------
def _run(site: Site, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args[:2], "--db", str(site.inst.db_path), *args[2:]])


def test_api_keys_issue_list_revoke_on_the_command_line(site: Site) -> None:
    _investor(site, "lc-cli")
    out = _run(
        site,
        "api-keys",
        "issue",
        "lc-cli",
        "--label",
        "batch",
        "--expires-at",
        "2099-01-01T00:00:00Z",
        "--json",
    )
    assert out.exit_code == 0, out.output
    issued = json.loads(out.output)
    assert issued["expires_at"] == "2099-01-01T00:00:00+00:00"
    assert site.as_key(issued["api_key"], "/investor/pools").status_code == 200
    listing = _run(site, "api-keys", "list", "lc-cli", "--json")
    assert listing.exit_code == 0
    assert [k["label"] for k in json.loads(listing.output)] == ["initial", "batch"]
    assert issued["api_key"] not in listing.output
    assert hash_api_key(issued["api_key"]) not in listing.output
    revoked = _run(site, "api-keys", "revoke", "lc-cli", issued["key_id"])
    assert revoked.exit_code == 0
    assert "revoked" in revoked.output
    # The running server reads the key row on every request: refused at once.
    assert site.as_key(issued["api_key"], "/investor/pools").status_code == 401
    events = [(e["party_id"], e["events"][0]) for e in site.log()[-2:]]
    assert events == [("operator:cli", "api_key.issued"), ("operator:cli", "api_key.revoked")]


def test_grants_add_list_remove_on_the_command_line(site: Site) -> None:
    key = _investor(site, "lc-cli-grant")
    assert _run(site, "grants", "add", "lc-cli-grant", POOL).exit_code == 0
    assert site.as_key(key, f"/investor/pools/{POOL}/snapshots").status_code == 200
    listing = _run(site, "grants", "list", "lc-cli-grant", "--json")
    assert [g["pool_id"] for g in json.loads(listing.output)] == [POOL]
    assert _run(site, "grants", "remove", "lc-cli-grant", POOL).exit_code == 0
    assert site.as_key(key, f"/investor/pools/{POOL}/snapshots").status_code == 404
    assert [e["events"][0] for e in site.log()[-2:]] == ["grant.added", "grant.withdrawn"]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("api-keys", "list", "no-such-party"), "no party 'no-such-party'"),
        (("api-keys", "revoke", "lc-plat", "key_0000"), "has no API key"),
        (("api-keys", "issue", "lc-plat", "--expires-at", "yesterday"), "not an ISO 8601 time"),
        (("api-keys", "issue", "lc-plat", "--expires-at", "2001-01-01T00:00:00Z"), "not in the future"),
        (("grants", "add", "lc-plat", POOL), "platforms see the pools they own"),
        (("grants", "remove", "lc-plat", "NO-SUCH"), "holds no grant"),
    ],
)
def test_the_command_line_refuses_unusable_requests_with_exit_code_2(
    site: Site, args: tuple[str, ...], text: str
) -> None:
    out = _run(site, *args)
    assert out.exit_code == 2, out.output
    assert text in out.output


def test_the_command_line_needs_an_existing_database(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["api-keys", "list", "x", "--db", str(tmp_path / "none.db")])
    assert out.exit_code == 2
    assert "poolproof init" in out.output
    assert not (tmp_path / "none.db").exists()
