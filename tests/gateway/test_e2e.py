"""End to end through a real server: waitress on 127.0.0.1, a real HTTP client (requests).

Parties and a pool are created, a 10,000-loan synthetic tape and the Lending Club tape are submitted
signed, and every party reads the views: each sees exactly the fields its policy allows.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
import waitress
from waitress.server import MultiSocketServer

from gateway import create_app
from gateway.api.audiences import ROLE_PREFIXES
from gateway.importers.lendingclub import LENDINGCLUB_AS_OF
from gateway.storage.decisions import connect_log, log_path_for, verify_stored_log
from policies import Party, load_policy

from .helpers import Instance, Platform, make_instance

SYNTH_CUTOFF = date(2024, 6, 30)
LC_CUTOFF = LENDINGCLUB_AS_OF.isoformat()


def shared_data() -> Path:
    """``../shared/data`` from the repository root, or ``$POOLPROOF_SHARED/data``."""
    env = os.environ.get("POOLPROOF_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    return base / "data"


class Server:
    def __init__(self, inst: Instance) -> None:
        self.app = create_app(inst.config())
        srv = waitress.create_server(self.app, host="127.0.0.1", port=0, threads=4)
        assert not isinstance(srv, MultiSocketServer)
        self.server = srv
        self.url = f"http://127.0.0.1:{srv.effective_port}"
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        srv = self.server
        while not self._stop.is_set():
            srv.asyncore.loop(timeout=0.05, map=srv._map, count=1)
        srv.task_dispatcher.shutdown()
        srv.close()
        for ch in list(srv._map.values()):
            ch.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def deal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One running gateway with a CN synthetic pool and a US Lending Club pool, both submitted."""
    tmp = tmp_path_factory.mktemp("e2e")
    inst = make_instance(tmp)
    srv = Server(inst)
    admin = {"Authorization": f"Bearer {inst.admin_key}"}
    plat = inst.add_platform("jd-finance")
    s = requests.Session()

    def post_party(pid: str, role: str, **extra: Any) -> str:
        r = s.post(f"{srv.url}/admin/parties", json={"party_id": pid, "role": role, **extra}, headers=admin)
        assert r.status_code == 201, r.text
        return str(r.json()["api_key"])

    ph = {"Authorization": f"Bearer {plat.api_key}"}
    for pool_id, preset in (("CN1", "CN_CONSUMER"), ("LC1", "US_CONSUMER")):
        r = s.post(
            f"{srv.url}/platform/pools", json={"pool_id": pool_id, "settings": {"preset": preset}}, headers=ph
        )
        assert r.status_code == 201, r.text

    from gateway.importers.tape_v1 import write_jsonl
    from gateway.synth import generate_tape

    synth_path = tmp / "cn1.jsonl"
    write_jsonl(generate_tape(10_000, seed=7, cutoff=SYNTH_CUTOFF, pool_id="CN1"), synth_path)
    results = {"CN1": _submit(s, srv.url, plat, "CN1", SYNTH_CUTOFF.isoformat(), synth_path)}
    assert results["CN1"]["rows"] == 10_000

    from gateway.importers.lendingclub import import_lendingclub

    lc_path = tmp / "lc1.jsonl"
    write_jsonl(import_lendingclub(shared_data() / "lendingclub_2018q1_10k.csv"), lc_path)
    results["LC1"] = _submit(s, srv.url, plat, "LC1", LC_CUTOFF, lc_path)

    keys = {"platform": plat.api_key}
    for role in ("trustee", "rating_agency", "investor", "auditor"):
        keys[role] = post_party(f"{role}-1", role, pools=["CN1", "LC1"])
    keys["regulator"] = post_party("regulator-1", "regulator")
    keys["outsider"] = post_party("investor-2", "investor")
    # A borrower: the obligor of the first CN1 loan, as the platform sees it.
    first = s.get(f"{srv.url}/platform/pools/CN1/cutoffs/{SYNTH_CUTOFF}/loans?limit=1", headers=ph).json()
    obligor = first["loans"][0]["obligor_pseudo_id"]
    keys["borrower"] = post_party("borrower-1", "borrower", pools=["CN1"], obligor_keys=[obligor])
    yield {"url": srv.url, "inst": inst, "keys": keys, "results": results, "obligor": obligor, "session": s}
    srv.close()


def _submit(
    s: requests.Session, url: str, plat: Platform, pool: str, cutoff: str, path: Path
) -> dict[str, Any]:
    body = path.read_bytes()
    with path.open("rb") as f:
        r = s.post(
            f"{url}/platform/pools/{pool}/cutoffs/{cutoff}/tapes",
            data=f,
            headers=plat.headers(pool, cutoff, body),
        )
    assert r.status_code == 201, r.text[:2000]
    assert r.json()["content_sha256"] == hashlib.sha256(body).hexdigest()
    return dict(r.json())


ROLE_PREFIX = {role: prefix.lstrip("/") for role, prefix in ROLE_PREFIXES.items()}


def _loans(deal: dict[str, Any], role: str, pool: str, cutoff: str, **params: Any) -> requests.Response:
    return deal["session"].get(
        f"{deal['url']}/{ROLE_PREFIX[role]}/pools/{pool}/cutoffs/{cutoff}/loans",
        params=params,
        headers={"Authorization": f"Bearer {deal['keys'][role]}"},
    )


POLICY = load_policy()
IDENTIFIERS = {
    "id_number",
    "mobile",
    "obligor_name",
    "repayment_account",
    "home_address",
    "birth_date",
    "exposure_id",
    "obligor_pseudo_id",
    "platform_loan_id",
}


def _plan(role: str, pool: str) -> Any:
    party = Party(id=f"{role}-1", role=role, pools=frozenset({pool}))
    return POLICY.compile_view(party, _purpose(role), pool_id=pool, pseudonym_key=b"k" * 32)


def _allowed_fields(role: str, pool: str) -> set[str]:
    plan = _plan(role, pool)
    return set(plan.raw_fields) | {n for n, _ in plan.fn_fields}


def test_the_tapes_were_stored_whole(deal: dict[str, Any]) -> None:
    assert deal["results"]["CN1"]["rows"] == 10_000
    assert deal["results"]["LC1"]["rows"] > 9_000


@pytest.mark.parametrize(("pool", "cutoff"), [("CN1", SYNTH_CUTOFF.isoformat()), ("LC1", LC_CUTOFF)])
@pytest.mark.parametrize("role", ["platform", "trustee", "rating_agency", "investor", "auditor", "regulator"])
def test_each_party_sees_exactly_the_fields_its_policy_allows(
    deal: dict[str, Any], role: str, pool: str, cutoff: str
) -> None:
    raw = _loans(deal, "platform", pool, cutoff, limit=50).json()["loans"]
    seen = _loans(deal, role, pool, cutoff, limit=50)
    if role == "investor":
        # Aggregate-only: even bare rows (their count) come from sealed snapshots only, and these
        # cut-offs are submitted, not sealed.
        assert seen.status_code == 404, seen.text
        assert "no sealed snapshot" in seen.json()["message"]
        return
    assert seen.status_code == 200, seen.text
    rows = seen.json()["loans"]
    allowed = _allowed_fields(role, pool)
    raw_fields = set(_plan(role, pool).raw_fields)
    assert len(rows) == len(raw) == 50
    for full, row in zip(raw, rows, strict=True):
        assert row["index"] == full["index"]
        assert set(row) - {"index"} == allowed & (set(full) - {"index"})
        for name in (set(row) - {"index"}) & raw_fields:
            assert row[name] == full[name], name
        # Masked, generalised or pseudonymised identifiers never equal the raw value.
        for name in ((set(row) - {"index"}) - raw_fields) & IDENTIFIERS:
            assert row[name] != full[name], name


def _purpose(role: str) -> str:
    from gateway.policy_views import DEFAULT_PURPOSE

    return DEFAULT_PURPOSE[role]


def test_identities_are_raw_only_to_platform_and_regulator(deal: dict[str, Any]) -> None:
    c = SYNTH_CUTOFF.isoformat()
    full = _loans(deal, "platform", "CN1", c, limit=5).json()["loans"]
    assert all(len(r["id_number"]) == 18 for r in full)
    reg = _loans(deal, "regulator", "CN1", c, limit=5).json()["loans"]
    assert [r["id_number"] for r in reg] == [r["id_number"] for r in full]
    for role in ("trustee", "rating_agency", "auditor"):
        for got, want in zip(_loans(deal, role, "CN1", c, limit=5).json()["loans"], full, strict=True):
            assert got.get("id_number") != want["id_number"], role
            assert "obligor_name" not in got or got["obligor_name"] != want["obligor_name"], role


def test_investor_gets_aggregates_not_loan_economics(deal: dict[str, Any]) -> None:
    c = SYNTH_CUTOFF.isoformat()
    assert _loans(deal, "investor", "CN1", c, limit=5).status_code == 404  # not sealed
    r = deal["session"].get(
        f"{deal['url']}/investor/pools/CN1/cutoffs/{c}/stats",
        headers={"Authorization": f"Bearer {deal['keys']['investor']}"},
    )
    # Aggregates reach an investor from sealed snapshots only: this cut-off is submitted, not sealed.
    assert r.status_code == 404
    assert "no sealed snapshot" in r.json()["message"]
    # A party allowed loan-level economics keeps the exact statistics of the current tape.
    r = deal["session"].get(
        f"{deal['url']}/trustee/pools/CN1/cutoffs/{c}/stats",
        headers={"Authorization": f"Bearer {deal['keys']['trustee']}"},
    )
    assert r.status_code == 200
    stats = r.json()["stats"]
    full = _all_loans(deal, "CN1", c)
    assert stats["current_principal_fen"] == sum(x["current_principal_fen"] for x in full)
    assert sum(b["loans"] for b in stats["dpd_buckets"].values()) == 10_000


def _all_loans(deal: dict[str, Any], pool: str, cutoff: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = _loans(deal, "platform", pool, cutoff, after=after, limit=1000).json()
        out.extend(page["loans"])
        if page["next_after"] is None:
            return out
        after = page["next_after"]


def test_keyset_pagination_walks_every_loan_once(deal: dict[str, Any]) -> None:
    rows = _all_loans(deal, "CN1", SYNTH_CUTOFF.isoformat())
    assert [r["index"] for r in rows] == list(range(1, 10_001))
    assert len({r["exposure_id"] for r in rows}) == 10_000


def test_borrower_sees_only_their_own_loans(deal: dict[str, Any]) -> None:
    rows = _loans(deal, "borrower", "CN1", SYNTH_CUTOFF.isoformat(), limit=1000).json()["loans"]
    own = [
        r
        for r in _all_loans(deal, "CN1", SYNTH_CUTOFF.isoformat())
        if r["obligor_pseudo_id"] == deal["obligor"]
    ]
    assert rows
    assert [r["index"] for r in rows] == [r["index"] for r in own]
    assert set(rows[0]) - {"index"} == _allowed_fields("borrower", "CN1") & set(own[0])


def test_pool_outside_scope_answers_as_an_unknown_pool(deal: dict[str, Any]) -> None:
    r = _loans(deal, "borrower", "LC1", LC_CUTOFF)
    unknown = _loans(deal, "borrower", "NO-SUCH-POOL", LC_CUTOFF)
    assert r.status_code == unknown.status_code == 404
    assert r.json() == unknown.json()
    out = deal["session"].get(
        f"{deal['url']}/investor/pools/CN1/cutoffs/{SYNTH_CUTOFF}/loans",
        headers={"Authorization": f"Bearer {deal['keys']['outsider']}"},
    )
    assert out.status_code == 404
    assert out.json()["code"] == 404


def test_wrong_audience_endpoint_is_403(deal: dict[str, Any]) -> None:
    r = deal["session"].get(
        f"{deal['url']}/regulator/pools", headers={"Authorization": f"Bearer {deal['keys']['investor']}"}
    )
    assert r.status_code == 403


def test_every_view_was_logged_in_a_verifiable_chain(deal: dict[str, Any]) -> None:
    db = connect_log(log_path_for(deal["inst"].db_path))
    n = verify_stored_log(db)
    roles = {r[0] for r in db.conn.execute("SELECT json_extract(entry, '$.role') FROM decision_log")}
    assert n > 20
    assert {"platform", "trustee", "rating_agency", "investor", "auditor", "regulator", "borrower"} <= roles
    text = " ".join(r[0] for r in db.conn.execute("SELECT entry FROM decision_log"))
    loan = _loans(deal, "platform", "CN1", SYNTH_CUTOFF.isoformat(), limit=1).json()["loans"][0]
    for value in (loan["id_number"], loan["mobile"], loan["obligor_name"], deal["obligor"]):
        assert value not in text  # the log records decisions, never values
    r = deal["session"].get(
        f"{deal['url']}/admin/decision-log/verify",
        headers={"Authorization": f"Bearer {deal['inst'].admin_key}"},
    )
    assert r.json()["verified"] is True


def test_docs_and_openapi_are_served_offline(deal: dict[str, Any]) -> None:
    s = deal["session"]
    spec = s.get(f"{deal['url']}/openapi.json").json()
    page = s.get(f"{deal['url']}/docs").text
    assert "/platform/pools/{pool_id}/cutoffs/{cutoff}/tapes" in spec["paths"]
    assert "openapi.json" in page
    assert "http://" not in page
    assert "https://" not in page
