"""A hostile investor and a hostile borrower against disclosure control, through the real HTTP server.

Each test replays an attack that once pinned a single loan (a one-loan DPD cell, subtracting a
superseded tape's statistics or the previous cut-off's, the complement of a small cell, the demo
pool's 8-loan M2 bucket, the 7 charged-off loans of the Lending Club tape, a two-sided claim with
equal ends, a claim budget spread over several API keys) and checks every released figure, and every
difference of two released figures, against the loans of the raw tape, recomputed with pandas.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import pandas as pd
import pytest
import requests

from gateway.importers.lendingclub import LENDINGCLUB_AS_OF, import_lendingclub, lendingclub_csv_path
from gateway.snapshots.demo import DEMO_FIRST_CUTOFF, DEMO_MONTH, Client, expect
from gateway.synth import generate_tape, monthly_cutoff
from policies import load_policy
from policies.aggregates import REFUSED, SUPPRESSED
from tests.gateway.helpers import CUTOFF, cn_row

from .conftest import Gateway

K = load_policy().aggregates.min_cohort
SUPPRESSED_FIGURE = {"suppressed": True, "reason": SUPPRESSED.format(k=K)}
M3_LOAN_BALANCE = 152_692  # the balance the one-loan M3 cell once gave away


# --- steps ---------------------------------------------------------------------------------------------
def party(gw: Gateway, name: str, role: str, pools: list[str], **extra: Any) -> Client:
    prefix = {"investor": "/investor", "borrower": "/borrower", "trustee": "/trustee"}[role]
    if name in gw.clients:
        return gw.clients[name]
    return gw.add(name, name, role, prefix, pools=pools, **extra)


def borrower_for(gw: Gateway, name: str, pool: str, cutoff: str) -> Client:
    """A borrower holding the first loan of the pool (found through the platform's raw view)."""
    page = expect(
        gw.clients["platform"].get(f"/pools/{pool}/cutoffs/{cutoff}/loans", params={"limit": 1}), 200, ""
    )
    return party(gw, name, "borrower", [pool], obligor_keys=[page["loans"][0]["obligor_pseudo_id"]])


def stats(client: Client, pool: str, cutoff: str) -> requests.Response:
    return client.get(f"/pools/{pool}/cutoffs/{cutoff}/stats")


def figures(doc: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every figure object (``value`` + ``unit``) or suppression object in a stats answer."""
    if isinstance(doc, dict):
        if "value" in doc or "suppressed" in doc:
            return [(path, doc)]
        return [f for k, v in doc.items() for f in figures(v, f"{path}/{k}")]
    return []


def money_values(answers: list[dict[str, Any]]) -> list[int]:
    return [
        f["value"]
        for a in answers
        for _, f in figures(a["stats"])
        if "value" in f and f["unit"] == a["minor_unit"] and f["currency"] == a["currency"]
    ]


def assert_no_loan_is_revealed(answers: list[dict[str, Any]], raw: pd.DataFrame) -> None:
    """No released money figure, nor the difference of any two, equals one loan's non-zero value
    (current or original principal) in the raw tape; no released count is a cell of 1..k-1 loans;
    every suppressed figure is the one fixed object."""
    loan_values = (
        set(raw["current_principal_fen"].astype(int)) | set(raw["original_principal_fen"].astype(int))
    ) - {0}
    released = money_values(answers)
    assert released, "nothing was released at all"
    assert not loan_values & set(released)
    diffs = {abs(a - b) for a, b in itertools.combinations(released, 2)}
    assert not loan_values & diffs
    # Balance-weighted rates (the numerators of weighted-average rates) likewise.
    weighted_loans: set[int] = set()
    for rate in ("nominal_rate_bps", "apr_all_in_bps"):
        if rate in raw:
            weighted_loans |= set((raw["current_principal_fen"] * raw[rate].fillna(0)).astype(int))
    weighted_loans -= {0}
    weighted = [
        f["value"] for a in answers for _, f in figures(a["stats"]) if f.get("unit", "").endswith(" x bps")
    ]
    assert not weighted_loans & set(weighted)
    assert not weighted_loans & {abs(a - b) for a, b in itertools.combinations(weighted, 2)}
    for a in answers:
        for path, f in figures(a["stats"]):
            if "suppressed" in f:
                assert f == SUPPRESSED_FIGURE, path
            elif f["unit"] == "loans":
                assert f["value"] == 0 or f["value"] >= K, (path, f)


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def dpd_bucket(days: pd.Series) -> pd.Series:
    """M0..M3+ from days past due with the default edges (0, 30, 60, 90), computed here from the raw tape."""
    return pd.cut(days, bins=[-1, 0, 30, 60, 90, 10**9], labels=["M0", "M1", "M2", "M3", "M3+"])


def cn_pool(n: int, start: int = 1, **per_loan: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    special = per_loan.get("special", {})
    return [cn_row(i, **special.get(i, {})) for i in range(start, start + n)]


def overdue(days: int, balance: int = 350_000) -> dict[str, Any]:
    return {
        "days_past_due": days,
        "loan_status": "OVERDUE",
        "overdue_principal_fen": 30_000,
        "five_tier_class": "SUBSTANDARD",
        "current_principal_fen": balance,
    }


def _submit_raw(gw: Gateway, pool: str, cutoff: str, rows: list[dict[str, Any]]) -> requests.Response:
    """Submit a signed tape and return the answer whatever its status."""
    import base64
    import hashlib
    import json

    from gateway.keys.tape_signatures import sign_tape

    body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
    digest = hashlib.sha256(body).hexdigest()
    headers = {
        "Content-Type": "application/x-ndjson",
        "X-Tape-SHA256": digest,
        "X-Tape-Signature": base64.b64encode(sign_tape(gw.signing_key, pool, cutoff, digest)).decode(),
    }
    return gw.clients["platform"].post(f"/pools/{pool}/cutoffs/{cutoff}/tapes", headers=headers, data=body)


def claim(client: Client, pool: str, cutoff: str, statement: dict[str, Any]) -> requests.Response:
    body = {"statement": statement, "nonce": secrets.token_hex(32)}
    return client.post(f"/pools/{pool}/snapshots/{cutoff}/claims", json=body)


# --- pools -----------------------------------------------------------------------------------------------
ONE = "DC-ONE"


@pytest.fixture(scope="module")
def one_loan_m3(gw: Gateway) -> list[dict[str, Any]]:
    """20 loans, exactly one of them in M3 (61-90 days past due), sealed."""
    gw.create_pool(ONE, "CN_CONSUMER")
    rows = cn_pool(20, special={7: overdue(75, M3_LOAN_BALANCE)})
    gw.submit(ONE, CUTOFF, rows)
    gw.seal(ONE, CUTOFF)
    return rows


def test_a_one_loan_m3_cell_is_suppressed_for_investor_and_borrower(
    gw: Gateway, one_loan_m3: list[dict[str, Any]]
) -> None:
    raw = rows_frame(one_loan_m3)
    assert (dpd_bucket(raw["days_past_due"]) == "M3").sum() == 1
    investor = party(gw, "dc-investor", "investor", [ONE])
    borrower = borrower_for(gw, "dc-borrower", ONE, CUTOFF)
    answers = []
    for client in (investor, borrower):
        doc = expect(stats(client, ONE, CUTOFF), 200, "stats")
        assert doc["stats"]["dpd_buckets"]["M3"] == SUPPRESSED_FIGURE
        # M0 holds the other 19: its complement in the pool is the one M3 loan, so it goes too.
        assert doc["stats"]["dpd_buckets"]["M0"] == SUPPRESSED_FIGURE
        assert doc["stats"]["loan_status"]["OVERDUE"] == SUPPRESSED_FIGURE
        # The whole pool is 20 obligors: released, with its unit and currency.
        assert doc["stats"]["current_principal_fen"] == {
            "value": int(raw["current_principal_fen"].sum()),
            "unit": "fen",
            "currency": "CNY",
        }
        answers.append(doc)
    assert answers[0]["stats"] == answers[1]["stats"]  # one table per snapshot, whoever asks
    assert_no_loan_is_revealed(answers, raw)


def test_a_party_with_loan_level_access_keeps_exact_statistics(
    gw: Gateway, one_loan_m3: list[dict[str, Any]]
) -> None:
    trustee = party(gw, "dc-trustee", "trustee", [ONE])
    doc = expect(stats(trustee, ONE, CUTOFF), 200, "trustee stats")
    assert doc["stats"]["dpd_buckets"]["M3"] == {"loans": 1, "current_principal_fen": M3_LOAN_BALANCE}


def test_an_equal_ended_bound_is_an_exact_disclosure_and_goes_through_disclosure_control(
    gw: Gateway, one_loan_m3: list[dict[str, Any]]
) -> None:
    raw = rows_frame(one_loan_m3)
    total = int(raw["current_principal_fen"].sum())
    header = expect(gw.clients["platform"].get(f"/pools/{ONE}/snapshots/{CUTOFF}/header"), 200, "header")
    assert header["leaf_count"] == 20
    # The pool balance is a servicer-report figure over all 20 loans: the investor gets it exactly.
    exact = {"type": "bound", "metric": "pool_balance", "lo": total, "hi": total, "value_bits": 48}
    investor = party(gw, "dc-investor", "investor", [ONE])
    assert claim(investor, ONE, CUTOFF, exact).status_code == 200
    # The one-loan M3 bucket pinned by an equal-ended ratio is suppressed, with the uniform text.
    ratio_exact = {
        "type": "ratio_between",
        "metric_num": "balance_M3",
        "metric_den": "pool_balance",
        "lo_p": 1,
        "lo_q": 50,
        "hi_p": 2,
        "hi_q": 100,
        "value_bits": 48,
    }
    refused = claim(investor, ONE, CUTOFF, ratio_exact)
    assert refused.status_code == 403
    assert refused.json()["message"] == REFUSED
    assert claim(investor, ONE, CUTOFF, {"type": "disclosure", "metric": "balance_M3"}).status_code == 403
    # A figure no servicer report publishes is refused by the policy, the rule named.
    dpd = claim(investor, ONE, CUTOFF, {"type": "disclosure", "metric": "balance_dpd_90plus"})
    assert dpd.status_code == 403
    assert "modes.threshold_for_the_rest" in dpd.json()["message"]
    trustee = party(gw, "dc-trustee", "trustee", [ONE])
    assert claim(trustee, ONE, CUTOFF, exact).status_code == 200  # exact values allowed to trustees
    m3 = claim(trustee, ONE, CUTOFF, {"type": "disclosure", "metric": "balance_M3"})
    assert int(expect(m3, 200, "trustee M3")["proof"]["value"]) == M3_LOAN_BALANCE


def test_lower_upper_and_equality_are_three_questions_and_keys_share_the_budget(
    gw: Gateway, one_loan_m3: list[dict[str, Any]]
) -> None:
    budget = load_policy().aggregates.claim_budget["investor"]
    assert budget == 2
    name = "dc-budget-investor"
    first = party(gw, name, "investor", [ONE])
    r = requests.post(
        f"{gw.url}/admin/parties/{name}/keys",
        headers={"Authorization": f"Bearer {gw.inst.admin_key}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    second = Client(gw.url, r.json()["api_key"], "/investor")
    t = M3_LOAN_BALANCE
    upper = {"type": "bound", "metric": "balance_M3", "lo": None, "hi": t, "value_bits": 48}
    lower = {"type": "bound", "metric": "balance_M3", "lo": t, "hi": None, "value_bits": 48}
    equal = {"type": "bound", "metric": "balance_M3", "lo": t, "hi": t, "value_bits": 48}
    assert claim(first, ONE, CUTOFF, upper).status_code == 200  # true (spends one)
    assert claim(second, ONE, CUTOFF, upper).status_code == 200  # the same question: free
    assert claim(second, ONE, CUTOFF, equal).status_code == 403  # exact: refused outright
    assert claim(second, ONE, CUTOFF, lower).status_code == 200  # a new question (spends the other)
    other = {"type": "bound", "metric": "balance_M3", "lo": None, "hi": t - 1, "value_bits": 48}
    for client in (first, second):
        r = claim(client, ONE, CUTOFF, other)
        assert r.status_code == 403
        assert r.json()["message"] == REFUSED


def test_registered_reports_go_through_the_same_ledger(
    gw: Gateway, one_loan_m3: list[dict[str, Any]]
) -> None:
    raw = rows_frame(one_loan_m3)
    investor = party(gw, "dc-investor", "investor", [ONE])
    doc = expect(
        investor.get(f"/pools/{ONE}/cutoffs/{CUTOFF}/reports/investor.dpd_by_vintage"), 200, "report"
    )
    assert doc["cells"]["vintage_month=2024-01|dpd_bucket=M3"] == SUPPRESSED_FIGURE
    assert (
        doc["cells"]["vintage_month=2024-01|dpd_bucket=M0"] == SUPPRESSED_FIGURE
    )  # its complement is one loan
    assert doc["pool"]["current_principal_fen"]["value"] == int(raw["current_principal_fen"].sum())
    stats_doc = expect(stats(investor, ONE, CUTOFF), 200, "stats")
    report_as_stats = {"stats": {"pool": doc["pool"], **doc["cells"]}, "minor_unit": "fen", "currency": "CNY"}
    assert_no_loan_is_revealed([stats_doc, report_as_stats], raw)
    assert investor.get(f"/pools/{ONE}/cutoffs/{CUTOFF}/reports/province_by_name").status_code == 404
    borrower = borrower_for(gw, "dc-borrower", ONE, CUTOFF)
    assert borrower.get(f"/pools/{ONE}/cutoffs/{CUTOFF}/reports/investor.dpd_by_vintage").status_code == 403


# --- superseded tapes -------------------------------------------------------------------------------
SUP = "DC-SUP"


def test_a_superseded_tape_is_never_served_and_cannot_be_differenced(gw: Gateway) -> None:
    gw.create_pool(SUP, "CN_CONSUMER")
    investor = party(gw, "dc-sup-investor", "investor", [SUP])
    first = cn_pool(25, start=101)
    gw.submit(SUP, CUTOFF, first)
    unsealed = stats(investor, SUP, CUTOFF)
    assert unsealed.status_code == 404  # aggregates come from sealed snapshots only
    assert "no sealed snapshot" in unsealed.json()["message"]
    assert investor.get(f"/pools/{SUP}/cutoffs/{CUTOFF}/loans").status_code == 404  # not even a row count
    second = first[:12] + first[13:]  # the same tape without one loan
    gw.submit(SUP, CUTOFF, second)
    gw.seal(SUP, CUTOFF)
    answers = [expect(stats(investor, SUP, CUTOFF), 200, "stats")]
    raw_second = rows_frame(second)
    assert answers[0]["stats"]["current_principal_fen"]["value"] == int(
        raw_second["current_principal_fen"].sum()
    )
    assert answers[0]["stats"]["original_principal_fen"]["value"] == int(
        raw_second["original_principal_fen"].sum()
    )
    rows = expect(investor.get(f"/pools/{SUP}/cutoffs/{CUTOFF}/loans", params={"limit": 100}), 200, "loans")
    assert len(rows["loans"]) == len(second)  # the sealed tape's count, as in the signed header
    # The platform submits the first version again after the seal: the investor still reads the
    # sealed snapshot's figures, so there is no second answer to subtract.
    resubmitted = _submit_raw(gw, SUP, CUTOFF, first)
    assert resubmitted.status_code != 201, resubmitted.text  # a sealed cut-off takes no new tape
    again = expect(stats(investor, SUP, CUTOFF), 200, "stats again")
    assert again["stats"] == answers[0]["stats"]
    assert again["tape_id"] == answers[0]["tape_id"]
    answers.append(again)
    assert_no_loan_is_revealed(answers, rows_frame(first))


# --- consecutive cut-offs ---------------------------------------------------------------------------
NEXT = "DC-NEXT"


def test_consecutive_cutoffs_that_differ_by_one_loan_are_not_both_released(gw: Gateway) -> None:
    gw.create_pool(NEXT, "CN_CONSUMER")
    investor = party(gw, "dc-next-investor", "investor", [NEXT])
    c1, c2, c3 = CUTOFF, "2024-07-31", "2024-08-31"
    month1 = cn_pool(25, start=201)
    month2 = [r for r in month1 if r["platform_loan_id"] != month1[5]["platform_loan_id"]]  # one loan left
    month3 = month2 + cn_pool(12, start=301)  # twelve new loans bought into the pool
    answers = []
    for cutoff, rows in ((c1, month1), (c2, month2), (c3, month3)):
        gw.submit(NEXT, cutoff, rows)
        gw.seal(NEXT, cutoff)
        answers.append(expect(stats(investor, NEXT, cutoff), 200, f"stats {cutoff}"))
    assert answers[0]["stats"]["current_principal_fen"]["value"] == int(
        rows_frame(month1)["current_principal_fen"].sum()
    )
    # Month 2 is month 1 less one loan: every figure of it is suppressed, the pool totals included.
    assert all("suppressed" in f for _, f in figures(answers[1]["stats"]))
    # Month 3 differs from both by at least k loans: released again.
    assert answers[2]["stats"]["current_principal_fen"]["value"] == int(
        rows_frame(month3)["current_principal_fen"].sum()
    )
    assert_no_loan_is_revealed(answers, rows_frame(month1 + month3))
    borrower = borrower_for(gw, "dc-next-borrower", NEXT, c2)
    assert expect(stats(borrower, NEXT, c2), 200, "borrower")["stats"] == answers[1]["stats"]


# --- the complement of a small cell -------------------------------------------------------------------
COMP = "DC-COMP"


def test_the_complement_of_a_small_cell_is_suppressed_too(gw: Gateway) -> None:
    gw.create_pool(COMP, "CN_CONSUMER")
    rows = cn_pool(30, start=401, special={i: overdue(15, 200_000 + i) for i in range(401, 407)})
    gw.submit(COMP, CUTOFF, rows)
    gw.seal(COMP, CUTOFF)
    raw = rows_frame(rows)
    m1 = raw[dpd_bucket(raw["days_past_due"]) == "M1"]
    assert len(m1) == 6
    investor = party(gw, "dc-comp-investor", "investor", [COMP])
    doc = expect(stats(investor, COMP, CUTOFF), 200, "stats")
    assert doc["stats"]["dpd_buckets"]["M1"] == SUPPRESSED_FIGURE
    assert doc["stats"]["dpd_buckets"]["M0"] == SUPPRESSED_FIGURE  # pool minus M0 would be M1
    released = money_values([doc])
    assert int(m1["current_principal_fen"].sum()) not in {
        abs(a - b) for a, b in itertools.combinations(released, 2)
    }
    assert_no_loan_is_revealed([doc], raw)


# --- the default demo pool --------------------------------------------------------------------------
DEMO = "DC-DEMO"


@pytest.mark.slow  # seals the 1,000-loan demo pool; the one-loan cell above covers the rule in CI
def test_the_demo_pools_eight_loan_m2_bucket_is_suppressed(gw: Gateway) -> None:
    cutoff = monthly_cutoff(DEMO_FIRST_CUTOFF, DEMO_MONTH).isoformat()
    rows = list(generate_tape(1000, seed=7, cutoff=DEMO_FIRST_CUTOFF, pool_id=DEMO, month=DEMO_MONTH))
    raw = rows_frame(rows)
    buckets = dpd_bucket(raw["days_past_due"]).value_counts()
    assert 0 < buckets["M2"] < K  # the demo's M2 bucket holds fewer than k loans
    gw.create_pool(DEMO, "CN_CONSUMER")
    gw.submit(DEMO, cutoff, rows)
    gw.seal(DEMO, cutoff)
    investor = party(gw, "dc-demo-investor", "investor", [DEMO])
    doc = expect(stats(investor, DEMO, cutoff), 200, "stats")
    assert doc["stats"]["dpd_buckets"]["M2"] == SUPPRESSED_FIGURE
    assert doc["stats"]["current_principal_fen"]["value"] == int(raw["current_principal_fen"].sum())
    for label, n in buckets.items():
        if n >= K and "value" in doc["stats"]["dpd_buckets"][label]["loans"]:
            assert doc["stats"]["dpd_buckets"][label]["loans"]["value"] == n
    # Asking for the same value as an exact claim, or as lo == hi, is refused as before.
    m2 = int(raw.loc[dpd_bucket(raw["days_past_due"]) == "M2", "current_principal_fen"].sum())
    for statement in (
        {"type": "disclosure", "metric": "balance_M2"},
        {"type": "bound", "metric": "balance_M2", "lo": m2, "hi": m2, "value_bits": 48},
    ):
        assert claim(investor, DEMO, cutoff, statement).status_code == 403
    assert_no_loan_is_revealed([doc], raw)


# --- the real Lending Club tape ---------------------------------------------------------------------
LC = "DC-LC"


@pytest.mark.skipif(not lendingclub_csv_path().exists(), reason="shared Lending Club tape absent")
def test_the_seven_charged_off_lending_club_loans_are_not_released(gw: Gateway) -> None:
    source = pd.read_csv(lendingclub_csv_path())
    charged_off = source.index[source["loan_status"] == "Charged Off"]
    assert len(charged_off) == 7
    rows = list(import_lendingclub(pool_id=LC))
    # CI-sized subset: the first 48 loans, every delinquent one among the next 2,000, and all 7
    # charged-off loans of the tape (rows are numbered from 1 in the source order).
    keep = set(range(48)) | {i for i in range(48, 2048) if rows[i]["days_past_due"] > 0} | set(charged_off)
    subset = [rows[i] for i in sorted(keep)]
    gw.create_pool(LC, "US_CONSUMER")
    gw.submit(LC, LENDINGCLUB_AS_OF.isoformat(), subset)
    gw.seal(LC, LENDINGCLUB_AS_OF.isoformat())
    investor = party(gw, "dc-lc-investor", "investor", [LC])
    doc = expect(stats(investor, LC, LENDINGCLUB_AS_OF.isoformat()), 200, "stats")
    assert doc["stats"]["loan_status"]["CHARGED_OFF"] == SUPPRESSED_FIGURE
    assert doc["currency"] == "USD"
    assert doc["minor_unit"] == "cent"
    # Checked against the source CSV itself: balances in cents, for the loans of the subset.
    raw = source.iloc[sorted(keep)]
    frame = pd.DataFrame(
        {
            "current_principal_fen": (raw["balance"] * 100).round().astype(int),
            "original_principal_fen": (raw["loan_amount"] * 100).round().astype(int),
            "nominal_rate_bps": (raw["interest_rate"] * 100).round().astype(int),
        }
    )
    assert doc["stats"]["current_principal_fen"]["value"] == int(frame["current_principal_fen"].sum())
    assert_no_loan_is_revealed([doc], frame)


# --- pool settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("edges", "rule"),
    [
        (list(range(121)), "dpd_edges.count"),
        ([0, 30, 60, 10**6], "dpd_edges.max_edge"),
        ([0, 1, 2, 3], "dpd_edges.min_width"),
    ],
)
def test_unsafe_dpd_buckets_are_refused_at_pool_creation(gw: Gateway, edges: list[int], rule: str) -> None:
    body = {
        "pool_id": f"DC-EDGES-{len(edges)}-{edges[-1] % 1000}",
        "settings": {"preset": "CN_CONSUMER", "dpd_edges": edges},
    }
    r = gw.clients["platform"].post("/pools", json=body)
    assert r.status_code == 422, r.text
    message = r.json()["errors"]["json"]["settings"][0]
    assert message.startswith("dpd_edges:")
    assert rule in message
    listed = expect(gw.clients["platform"].get("/pools"), 200, "pools")
    assert body["pool_id"] not in {p["pool_id"] for p in listed}


def test_a_dpd_edge_beyond_2_53_is_refused_before_the_settings_are_read(gw: Gateway) -> None:
    settings = {"preset": "CN_CONSUMER", "dpd_edges": [0, 30, 60, 2**70]}
    body = {"pool_id": "DC-EDGES-HUGE", "settings": settings}
    r = gw.clients["platform"].post("/pools", json=body)
    assert r.status_code == 400, r.text
    assert "integer_size" in r.text
    listed = expect(gw.clients["platform"].get("/pools"), 200, "pools")
    assert body["pool_id"] not in {p["pool_id"] for p in listed}


def test_every_suppression_is_in_the_decision_log_without_values(
    gw: Gateway, one_loan_m3: list[dict[str, Any]]
) -> None:
    from gateway.storage.decisions import connect_log, log_path_for, verify_stored_log

    investor = party(gw, "dc-investor", "investor", [ONE])
    expect(stats(investor, ONE, CUTOFF), 200, "stats")
    db = connect_log(log_path_for(gw.inst.db_path))
    try:
        assert verify_stored_log(db) > 0
        entries = [r[0] for r in db.conn.execute("SELECT entry FROM decision_log")]
    finally:
        db.conn.close()
    mine = [e for e in entries if f"pool:{ONE}/snapshot:" in e and "/stats" in e and "dc-investor" in e]
    assert mine
    text = " ".join(mine)
    assert "aggregates.min_cohort" in text  # the M3 cell
    assert "aggregates.complement" in text  # the M0 cell
    assert str(M3_LOAN_BALANCE) not in text  # decisions, never figures
