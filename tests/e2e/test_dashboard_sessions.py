"""The dashboard's sessions and form checks, without a browser: the session store (rows of the gateway
database), the sign-in and sign-out forms through the Flask test client (CSRF, Fetch Metadata, revoked
keys, error pages), and one session used across two ``poolproof serve`` processes on one database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway import create_app
from gateway.access.admin import create_party
from gateway.dashboard.sessions import (
    COOKIE_NAME,
    SessionStore,
    SessionsUnavailable,
    csrf_matches,
    principal_for_key_hash,
    session_id_hash,
)
from gateway.snapshots.demo import init_instance
from gateway.storage.db import connect, migrate
from gateway.storage.records import hash_api_key
from gateway.storage.sessions import session_id_hashes


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A migrated gateway database (the session table is migration 9)."""
    path = tmp_path / "sessions.db"
    db = connect(path)
    try:
        migrate(db)
    finally:
        db.conn.close()
    return path


# --- the store ----------------------------------------------------------------------------------------------
def test_a_session_lives_while_used_and_ends_when_idle(database: Path) -> None:
    clock = Clock()
    store = SessionStore(idle_seconds=60, max_seconds=3600, clock=clock, database=database)
    s = store.sign_in(None, "h" * 64, "p1")
    for _ in range(5):
        clock.now += 59
        assert store.get(s.session_id) is not None  # each use restarts the idle clock
    clock.now += 61
    assert store.get(s.session_id) is None
    clock.now -= 61
    assert store.get(s.session_id) is None  # forgotten, not merely hidden
    assert store.count() == 0  # the row is deleted


def test_a_session_ends_at_its_maximum_age_however_busy(database: Path) -> None:
    clock = Clock()
    store = SessionStore(idle_seconds=60, max_seconds=100, clock=clock, database=database)
    s = store.sign_in(None, "h" * 64, "p1")
    clock.now += 50
    assert store.get(s.session_id) is not None
    clock.now += 51
    assert store.get(s.session_id) is None


def test_sign_in_replaces_the_session_id_and_the_csrf_token(database: Path) -> None:
    store = SessionStore(database=database)
    anonymous = store.start_anonymous()
    assert not anonymous.signed_in
    signed = store.sign_in(anonymous.session_id, "h" * 64, "p1")
    assert signed.signed_in
    assert signed.session_id != anonymous.session_id
    assert signed.csrf_token != anonymous.csrf_token
    assert store.get(anonymous.session_id) is None


def test_the_csrf_token_must_match_exactly(database: Path) -> None:
    s = SessionStore(database=database).start_anonymous()
    assert csrf_matches(s, s.csrf_token)
    for sent in (None, "", s.csrf_token[:-1], s.csrf_token + "x", s.csrf_token.upper()):
        assert not csrf_matches(s, sent)


def test_unknown_ids_are_no_session(database: Path) -> None:
    store = SessionStore(database=database)
    assert store.get(None) is None
    assert store.get("") is None
    assert store.get("not-a-session") is None


def test_lifetimes_must_be_positive(database: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        SessionStore(idle_seconds=0, database=database)


def test_the_database_keeps_only_a_hash_of_the_session_id_and_not_the_csrf_token(database: Path) -> None:
    store = SessionStore(database=database)
    s = store.sign_in(None, "k" * 64, "p1")
    db = connect(database)
    try:
        assert session_id_hashes(db) == [session_id_hash(s.session_id)]
        dump = "\n".join(db.conn.iterdump())
    finally:
        db.conn.close()
    assert s.session_id not in dump
    assert s.csrf_token not in dump
    assert session_id_hash(s.session_id) in dump


def test_two_stores_on_one_database_share_every_session(database: Path) -> None:
    """What two gateway processes do: each its own store (and connections) on the same file."""
    a, b = SessionStore(database=database), SessionStore(database=database)
    s = a.sign_in(None, "k" * 64, "p1")
    seen = b.get(s.session_id)
    assert seen is not None
    assert (seen.party_id, seen.key_hash, seen.csrf_token) == ("p1", "k" * 64, s.csrf_token)
    b.end(s.session_id)  # sign-out on the other process
    assert a.get(s.session_id) is None


def test_the_store_forgets_the_longest_idle_sessions_beyond_its_bound(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.dashboard import sessions

    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    clock = Clock()
    store = SessionStore(database=database, clock=clock)
    made = []
    for _ in range(5):
        clock.now += 1
        made.append(store.start_anonymous())
    assert store.count() == 3
    assert [store.get(s.session_id) is not None for s in made] == [False, False, True, True, True]


def test_a_database_without_migration_9_is_a_clear_503(tmp_path: Path) -> None:
    store = SessionStore(database=tmp_path / "empty.db")
    with pytest.raises(SessionsUnavailable, match="migration 9") as caught:
        store.start_anonymous()
    assert caught.value.http_status == 503


# --- the forms, through the test client ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_and_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    inst = init_instance(tmp_path_factory.mktemp("dash-forms"))
    db = connect(inst.db_path)
    try:
        keys = {"admin": inst.admin_key}
        _, keys["investor"] = create_party(db, "inv-forms", "investor")
        _, keys["revoked"] = create_party(db, "inv-revoked", "investor")
    finally:
        db.conn.close()
    app = create_app(inst.config(TESTING=True, RATE_LIMIT_PER_SECOND=0))
    return app, keys


def _token(client: FlaskClient) -> str:
    page = client.get("/dashboard/sign-in")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def test_the_sign_in_form_itself_needs_its_csrf_token(app_and_keys: tuple[Any, dict[str, str]]) -> None:
    app, keys = app_and_keys
    client = app.test_client()
    _token(client)
    answer = client.post("/dashboard/sign-in", data={"api_key": keys["investor"]})
    assert answer.status_code == 403
    assert "CSRF token is missing" in answer.get_data(as_text=True)
    assert client.get_cookie(COOKIE_NAME) is not None  # still the anonymous session


def test_a_cross_site_form_is_refused(app_and_keys: tuple[Any, dict[str, str]]) -> None:
    app, keys = app_and_keys
    client = app.test_client()
    token = _token(client)
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://x.example"},
    ):
        answer = client.post(
            "/dashboard/sign-in", data={"csrf_token": token, "api_key": keys["investor"]}, headers=headers
        )
        assert answer.status_code == 403, headers
        assert "cross-origin" in answer.get_data(as_text=True)


def test_a_good_key_opens_a_session_and_its_page(app_and_keys: tuple[Any, dict[str, str]]) -> None:
    app, keys = app_and_keys
    client = app.test_client()
    token = _token(client)
    answer = client.post(
        "/dashboard/sign-in",
        data={"csrf_token": token, "api_key": keys["investor"]},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"},
    )
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    page = client.get("/dashboard/", follow_redirects=True)
    assert page.request.path == "/dashboard/investor"
    assert "No pool in your scope." in page.get_data(as_text=True)


def test_the_session_remembers_a_hash_of_the_key_that_stays_checked(
    app_and_keys: tuple[Any, dict[str, str]],
) -> None:
    app, keys = app_and_keys
    db = connect(app.config["DATABASE"])
    try:
        found = principal_for_key_hash(db, hash_api_key(keys["revoked"]))
        assert found is not None
        assert found.party is not None
        assert found.party.id == "inv-revoked"
        db.conn.execute(
            "UPDATE api_keys SET revoked_at = '2000-01-01T00:00:00Z' WHERE key_hash = ?",
            (hash_api_key(keys["revoked"]),),
        )
        db.conn.commit()
        assert principal_for_key_hash(db, hash_api_key(keys["revoked"])) is None
        assert principal_for_key_hash(db, hash_api_key(keys["admin"])) is None  # operator keys: no party
        assert principal_for_key_hash(db, "0" * 64) is None
    finally:
        db.conn.close()


def test_an_unknown_page_of_a_pool_is_an_error_page_not_a_traceback(
    app_and_keys: tuple[Any, dict[str, str]],
) -> None:
    app, keys = app_and_keys
    client = app.test_client()
    token = _token(client)
    client.post("/dashboard/sign-in", data={"csrf_token": token, "api_key": keys["investor"]})
    answer = client.get("/dashboard/investor/pools/NOPE/snapshots/2024-06-30/header.json")
    assert answer.status_code == 404
    assert answer.mimetype == "text/html"
    assert "no such pool in this party&#39;s scope" in answer.get_data(as_text=True)


def test_failed_sign_ins_are_throttled_like_failed_api_calls(tmp_path: Path) -> None:
    inst = init_instance(tmp_path / "throttled")
    app = create_app(
        inst.config(TESTING=True, RATE_LIMIT_PER_SECOND=100, AUTH_FAILURES_PER_MINUTE=1, AUTH_FAILURE_BURST=3)
    )
    client = app.test_client()
    token = _token(client)
    statuses = [
        client.post("/dashboard/sign-in", data={"csrf_token": token, "api_key": "ppk_wrong"}).status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    answer = client.post("/dashboard/sign-in", data={"csrf_token": token, "api_key": inst.admin_key})
    assert answer.status_code == 429  # a right key cannot tell itself apart while keys are being guessed


# --- two gateway processes on one database ------------------------------------------------------------------
def _form_token(url: str, cookies: dict[str, str] | None = None) -> tuple[str, str]:
    import requests

    page = requests.get(f"{url}/dashboard/sign-in", cookies=cookies, timeout=30)
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return page.cookies.get(COOKIE_NAME) or (cookies or {})[COOKIE_NAME], found.group(1)


def test_one_session_works_on_two_server_processes_and_sign_out_ends_it_on_both(tmp_path: Path) -> None:
    import requests

    from tests.reliability.server import Server

    inst = init_instance(tmp_path / "two")
    db = connect(inst.db_path)
    try:
        _, key = create_party(db, "inv-two", "investor")
    finally:
        db.conn.close()
    same_origin = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}
    a = Server(inst.db_path, inst.master_key_file).start()
    b = Server(inst.db_path, inst.master_key_file).start()
    try:
        anonymous, token = _form_token(a.url)
        signed = requests.post(
            f"{a.url}/dashboard/sign-in", data={"csrf_token": token, "api_key": key},
            cookies={COOKIE_NAME: anonymous}, headers=same_origin, allow_redirects=False, timeout=30,
        )  # fmt: skip
        assert signed.status_code == 302
        cookie = {COOKIE_NAME: signed.cookies[COOKIE_NAME]}
        for server in (a, b):  # the session opened on a is a session on b
            page = requests.get(
                f"{server.url}/dashboard/investor", cookies=cookie, allow_redirects=False, timeout=30
            )
            assert page.status_code == 200, server.url
            assert "Your pools" in page.text
        # a restart signs nobody out: the session is in the database, not in a process
        a.kill()
        a.start()
        page = requests.get(f"{a.url}/dashboard/investor", cookies=cookie, allow_redirects=False, timeout=30)
        assert page.status_code == 200
        # the form token of the session is the same on both; sign-out on b ends it on a
        page_b = requests.get(f"{b.url}/dashboard/investor", cookies=cookie, timeout=30)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page_b.text)
        assert found is not None
        out = requests.post(
            f"{b.url}/dashboard/sign-out", data={"csrf_token": found.group(1)}, cookies=cookie,
            headers=same_origin, allow_redirects=False, timeout=30,
        )  # fmt: skip
        assert out.status_code == 302
        for server in (a, b):
            gone = requests.get(
                f"{server.url}/dashboard/investor", cookies=cookie, allow_redirects=False, timeout=30
            )
            assert gone.status_code == 302, server.url
            assert "/dashboard/sign-in" in gone.headers["Location"]
    finally:
        a.kill()
        b.kill()
