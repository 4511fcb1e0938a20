"""Linked months through the real HTTP API: three monthly tapes of one pool, each month's snapshot linked
to the one before when it is sealed.

Month 1 drops the loans that were terminal at month 0 and adds purchases; month 2 drops one loan that
was still outstanding, so its link is refused with the reason. The auditor downloads the snapshot and
link bundles and checks them with ``poolproof-audit verify-link`` and ``verify-series``; every cell of
the opened roll matrix equals a plain pandas cross-tabulation of the raw tapes (docs/metrics.md, "Roll
rates": loans kept from t-1 to t by state at t-1 × state at t, and their t-1 balances); an investor gets
roll-rate cells only through the disclosure-control point, each with a compact proof its own tool
checks.
"""

from __future__ import annotations

import json
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gateway.synth import generate_tape, monthly_cutoff
from proofs.link import verify_roll_figure
from tests.e2e.conftest import Gateway, audit
from tests.reference.abs_metrics import OUTSTANDING, STATES, state_of

POOL = "LINKED-E2E"
START = date(2024, 2, 29)
FIRST = monthly_cutoff(START, 1)
N_LOANS, SEED = 60, 23
PURCHASED = 4


def cutoff(k: int) -> str:
    return monthly_cutoff(FIRST, k).isoformat()


def _state(row: dict[str, Any]) -> str:
    return state_of(str(row["loan_status"]), int(row.get("days_past_due") or 0))


def _purchases(k: int) -> list[dict[str, Any]]:
    """Loans bought at month 1, as they stand at month ``k`` (another synthetic book, new ids)."""
    out = []
    for row in generate_tape(PURCHASED, seed=SEED + 1, cutoff=FIRST, pool_id=POOL, month=k):
        row = dict(row)
        for field in ("platform_loan_id", "exposure_id"):
            if field in row:
                row[field] = f"P{row[field]}"
        out.append(row)
    return out


def _tapes() -> list[list[dict[str, Any]]]:
    # The book a month after it opened (some loans already prepaid or matured), and the two after it.
    months = [
        list(generate_tape(N_LOANS, seed=SEED, cutoff=START, pool_id=POOL, month=k + 1)) for k in range(3)
    ]
    gone = {r["platform_loan_id"] for r in months[0] if _state(r) not in OUTSTANDING}
    one = [r for r in months[1] if r["platform_loan_id"] not in gone] + _purchases(1)
    kept = {r["platform_loan_id"] for r in one}
    two = [r for r in months[2] if r["platform_loan_id"] in kept] + _purchases(2)
    # One loan outstanding at month 1 vanishes at month 2: that month cannot be linked.
    vanished = next(r["platform_loan_id"] for r in one if _state(r) in OUTSTANDING)
    two = [r for r in two if r["platform_loan_id"] != vanished]
    return [months[0], one, two]


@pytest.fixture(scope="module")
def tapes() -> list[list[dict[str, Any]]]:
    return _tapes()


@pytest.fixture(scope="module")
def pool(gw: Gateway, tapes: list[list[dict[str, Any]]]) -> Gateway:
    gw.create_pool(POOL, "CN_CONSUMER")
    gw.add("link-auditor", "link-auditor", "auditor", "/auditor", pools=[POOL])
    gw.add("link-investor", "link-investor", "investor", "/investor", pools=[POOL])
    for k, rows in enumerate(tapes):
        gw.submit(POOL, cutoff(k), rows)
        gw.seal(POOL, cutoff(k))
    return gw


@pytest.fixture(scope="module")
def folder(pool: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The auditor's download: three snapshot bundles, the month-1 link."""
    out = tmp_path_factory.mktemp("linked")
    auditor = pool.clients["link-auditor"]
    for k in range(3):
        r = auditor.get(f"/pools/{POOL}/snapshots/{cutoff(k)}/bundle")
        assert r.status_code == 200, r.text
        (out / f"snapshot-{cutoff(k)}.json").write_bytes(r.content)
    r = auditor.get(f"/pools/{POOL}/snapshots/{cutoff(1)}/link")
    assert r.status_code == 200, r.text
    (out / f"link-{cutoff(1)}.json").write_text(r.text)
    return out


def pandas_roll(
    previous: list[dict[str, Any]], current: list[dict[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The roll matrix by its written definition, from the raw rows (no gateway code)."""
    before = pd.DataFrame(
        {
            "loan": [r["platform_loan_id"] for r in previous],
            "from": [_state(r) for r in previous],
            "balance": [int(r["current_principal_fen"]) for r in previous],
        }
    )
    after = pd.DataFrame(
        {"loan": [r["platform_loan_id"] for r in current], "to": [_state(r) for r in current]}
    )
    kept = before.merge(after, on="loan", how="inner")
    counts = pd.crosstab(kept["from"], kept["to"]).reindex(
        index=list(STATES), columns=list(STATES), fill_value=0
    )
    balances = (
        kept.pivot_table(index="from", columns="to", values="balance", aggfunc="sum", fill_value=0)
        .reindex(index=list(OUTSTANDING), columns=list(STATES), fill_value=0)
        .astype("int64")
    )
    return counts, balances


def test_the_first_month_has_no_link(pool: Gateway) -> None:
    r = pool.clients["link-auditor"].get(f"/pools/{POOL}/snapshots/{cutoff(0)}/link")
    assert r.status_code == 422
    assert "no link to the month before" in r.json()["message"]


def test_the_opened_roll_matrix_equals_a_pandas_crosstab_of_the_raw_tapes(
    pool: Gateway, folder: Path, tapes: list[list[dict[str, Any]]]
) -> None:
    key_file = pool.key_file
    code, out = audit(
        "verify-link",
        folder / f"snapshot-{cutoff(0)}.json",
        folder / f"snapshot-{cutoff(1)}.json",
        folder / f"link-{cutoff(1)}.json",
        "--key",
        key_file,
    )
    assert code == 0, out
    link = json.loads((folder / f"link-{cutoff(1)}.json").read_text())
    counts, balances = pandas_roll(tapes[0], tapes[1])
    assert link["roll"]["counts"] == counts.values.tolist()
    assert link["roll"]["balances"] == balances.values.tolist()
    before = {r["platform_loan_id"] for r in tapes[0]}
    after = {r["platform_loan_id"] for r in tapes[1]}
    assert len(link["entries"]) == len(after - before) >= PURCHASED  # purchases, and the book's new loans
    assert len(link["exits"]["exposure_ids"]) == len(before - after) > 0
    gone_states = pd.Series([_state(r) for r in tapes[0] if r["platform_loan_id"] not in after])
    assert link["exits"]["by_state"] == [int((gone_states == s).sum()) for s in STATES]
    assert int(counts.values.sum()) == len(before & after)


def test_a_month_with_a_vanished_outstanding_loan_is_refused_with_the_reason(pool: Gateway) -> None:
    r = pool.clients["link-auditor"].get(f"/pools/{POOL}/snapshots/{cutoff(2)}/link")
    assert r.status_code == 422
    message = r.json()["message"]
    assert "could not be linked" in message
    assert "a loan may leave only after a terminal state" in message


def test_verify_series_checks_the_chain_and_names_the_missing_link(pool: Gateway, folder: Path) -> None:
    code, out = audit("verify-series", folder, "--key", pool.key_file)
    assert code != 0
    assert "link" in json.dumps(out)


def test_an_investor_gets_roll_cells_only_through_the_disclosure_point(
    pool: Gateway, tapes: list[list[dict[str, Any]]]
) -> None:
    counts, _ = pandas_roll(tapes[0], tapes[1])
    asked = [f"roll/{by}/M0/{j}" for by in ("count", "balance") for j in STATES]
    r = pool.clients["link-investor"].post(
        f"/pools/{POOL}/snapshots/{cutoff(1)}/figures",
        json={"figures": asked, "nonce": secrets.token_hex(16)},
    )
    assert r.status_code == 200, r.text
    figures = {f["figure_id"]: f for f in r.json()["figures"]}
    k = r.json()["min_cohort"]
    released = 0
    for fid in asked:
        f = figures[fid]
        _, by, i, j = fid.split("/")
        cell = int(counts.loc[i, j])
        if "suppressed" in f:
            assert "value" not in f
            continue
        assert not 0 < cell < k, fid  # a small cohort never leaves
        released += 1
        assert cell == 0 or cell >= k  # never a cohort below the minimum (an empty cell is no cohort)
        checked = verify_roll_figure(f["bundle"], pool.key)
        assert checked.cell == f["value"]
        if by == "count":
            assert f["value"] == cell
            assert f["row_total"] == int(counts.loc[i].sum())
            assert f["row_total"] == 0 or f["row_total"] >= k
    small = [f"roll/count/M0/{j}" for j in STATES if 0 < int(counts.loc["M0", j]) < k]
    assert small  # the test pool has small cells, and each is suppressed
    assert all(figures[fid].get("suppressed") for fid in small)
    assert "value" in figures["roll/count/M0/M0"]  # the large M0 -> M0 cell passes
    assert released >= 2


def test_the_link_routes_are_for_bundle_readers_only(pool: Gateway) -> None:
    r = pool.clients["link-investor"].get(f"/pools/{POOL}/snapshots/{cutoff(1)}/link")
    assert r.status_code == 404


def test_the_investors_own_report_draws_the_verified_roll_cells_and_refuses_a_tampered_one(
    pool: Gateway, tapes: list[list[dict[str, Any]]], tmp_path: Path
) -> None:
    from proofs import bundle
    from proofs.report import render_report
    from proofs.witness import WitnessPolicy

    counts, _ = pandas_roll(tapes[0], tapes[1])
    asked = ["pool_balance", *(f"roll/count/M0/{j}" for j in STATES), "roll/balance/M0/M0"]
    r = pool.clients["link-investor"].post(
        f"/pools/{POOL}/snapshots/{cutoff(1)}/figures",
        json={"figures": asked, "nonce": secrets.token_hex(16)},
    )
    assert r.status_code == 200, r.text
    released = [f for f in r.json()["figures"] if "bundle" in f]
    rolls = [f for f in released if f["figure_id"].startswith("roll/")]
    assert len(rolls) >= 2
    for f in released:
        name = f["figure_id"].replace("/", "-").replace("+", "plus")
        (tmp_path / f"figure-{name}.json").write_bytes(bundle.dump_bundle(f["bundle"]))
    result = render_report(
        tmp_path, pool.key, out=tmp_path / "report.html", witnesses=WitnessPolicy.unwitnessed()
    )
    assert not result.failures
    drawn = {
        (fig.metric, fig.cutoff): fig.value for matrix in result.model.transitions for fig in matrix.figures()
    }
    for f in rolls:
        _, by, i, j = f["figure_id"].split("/")
        assert drawn[(f["figure_id"], cutoff(1))] == f["value"]
        if by == "count":
            assert f["value"] == int(counts.loc[i, j])  # the plain pandas cross-tabulation
    # One cell altered after the fact: the report marks that file unverified and draws nothing of it.
    victim = next(tmp_path.glob("figure-roll-count-M0-M0.json"))
    doc = json.loads(victim.read_text())
    doc["cell"] += 1
    victim.write_text(json.dumps(doc))
    result = render_report(
        tmp_path, pool.key, out=tmp_path / "report.html", witnesses=WitnessPolicy.unwitnessed()
    )
    assert [u.bundle for u in result.failures] == [victim.name]
    assert result.exit_code == 1
    drawn = {fig.metric for matrix in result.model.transitions for fig in matrix.figures()}
    assert "roll/count/M0/M0" not in drawn
