"""A synthetic CN pool through the real HTTP API: seal, claims, bundles, inclusion, metrics, hash chain.

Every bundle a party receives is verified with ``proofs`` (and with ``poolproof-audit`` as a
subprocess); the plaintext metrics are compared with a plain computation over the raw tape.
"""

from __future__ import annotations

import io
import json
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.api.snapshots import CANNOT_PROVE
from gateway.snapshots.demo import expect, request_claim
from gateway.synth import generate_tape, monthly_cutoff
from policies.aggregates import REFUSED
from proofs import bundle
from proofs.claim_bundle import ExpectedClaim
from proofs.claim_bundle import verify_claim_bundle as _verify_claim_bundle
from proofs.claims import BoundClaim, ClaimStatement, Disclosure, RatioBetweenClaim, RatioClaim
from proofs.inclusion import verify_inclusion_bundle
from proofs.lanes import DPD5_V1, dpd_bucket
from proofs.snapshot import header_hash, verify_snapshot
from proofs.witness import WitnessPolicy

from .conftest import Gateway, audit

POOL = "E2E-CN"
FIRST = date(2024, 1, 31)
N_LOANS = 64
MONTH = 12  # every DPD bucket is populated at this month (seed 11)
CUTOFF = monthly_cutoff(FIRST, MONTH).isoformat()
NEXT_CUTOFF = monthly_cutoff(FIRST, MONTH + 1).isoformat()


def verify_claim_bundle(doc: Any, key: Ed25519PublicKey, **kw: Any) -> ClaimStatement:
    """The claim's proof checks alone: no question pinned, no witness required (said explicitly)."""
    kw.setdefault("expected", ExpectedClaim())
    kw.setdefault("witnesses", WitnessPolicy.unwitnessed())
    return _verify_claim_bundle(doc, key, **kw)


def _rows(month: int) -> list[dict[str, Any]]:
    return list(generate_tape(N_LOANS, seed=11, cutoff=FIRST, pool_id=POOL, month=month))


def plain_metrics(rows: list[dict[str, Any]], edges: tuple[int, ...] = (0, 30, 60, 90)) -> dict[str, int]:
    """Every dpd5-v1 metric by plain Python over raw tape rows (no lanes, no commitments)."""
    balance = [0] * 5
    count = [0] * 5
    for r in rows:
        b = dpd_bucket(r["days_past_due"], edges)
        balance[b] += r["current_principal_fen"]
        count[b] += 1
    out = {"pool_balance": sum(balance), "loan_count": sum(count)}
    for i, name in enumerate(("M0", "M1", "M2", "M3", "M3+")):
        out[f"balance_{name}"] = balance[i]
        out[f"count_{name}"] = count[i]
    for label, first in (("1plus", 1), ("31plus", 2), ("61plus", 3), ("90plus", 4)):
        out[f"balance_dpd_{label}"] = sum(balance[first:])
        out[f"count_dpd_{label}"] = sum(count[first:])
    return out


def seal_dpd5(gw: Gateway, pool: str, cutoff: str) -> dict[str, Any]:
    """Seal under dpd5-v3 (named: a v2 tape is otherwise sealed under the pool statement v2), whose
    metrics these tests ask about."""
    gw.server.app.config["SEAL_LANE_SET"] = "dpd5-v3"
    try:
        return gw.seal(pool, cutoff)
    finally:
        gw.server.app.config.pop("SEAL_LANE_SET")


@pytest.fixture(scope="module")
def deal(gw: Gateway) -> dict[str, Any]:
    gw.create_pool(POOL, "CN_CONSUMER")
    rows = _rows(MONTH)
    gw.submit(POOL, CUTOFF, rows)
    for name, role, prefix in (
        ("investor", "investor", "/investor"),
        ("investor2", "investor", "/investor"),
        ("trustee", "trustee", "/trustee"),
        ("auditor", "auditor", "/auditor"),
        ("regulator", "regulator", "/regulator"),
    ):
        gw.add(name, f"cn-{name}", role, prefix, pools=[] if role == "regulator" else [POOL])
    loans = expect(
        gw.clients["platform"].get(f"/pools/{POOL}/cutoffs/{CUTOFF}/loans", params={"limit": 5}), 200, "loans"
    )["loans"]
    gw.add(
        "borrower",
        "cn-borrower",
        "borrower",
        "/borrower",
        pools=[POOL],
        obligor_keys=[loans[0]["obligor_pseudo_id"]],
    )
    job = seal_dpd5(gw, POOL, CUTOFF)
    header = expect(gw.clients["investor"].get(f"/pools/{POOL}/snapshots/{CUTOFF}/header"), 200, "header")
    return {"rows": rows, "job": job, "header": header, "loans": loans}


def _claim(gw: Gateway, who: str, statement: Any, cutoff: str = CUTOFF) -> Any:
    return request_claim(gw.clients[who], POOL, cutoff, statement)


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_bytes(bundle.dump_bundle(doc))
    return path


# -- sealing -------------------------------------------------------------------------------------------
def test_seal_job_reports_completion_and_the_cutoff_is_sealed(gw: Gateway, deal: dict[str, Any]) -> None:
    job = deal["job"]
    assert (job["state"], job["percent"], job["leaves_done"], job["leaf_total"]) == ("sealed", 100.0, 64, 64)
    assert deal["header"]["leaf_count"] == N_LOANS
    # The default: the lane circuit over packed lane commitments.
    assert deal["header"]["proof_params"]["lane_set"] == "dpd5-v3"
    assert deal["header"]["sequence"] == 1
    assert deal["header"]["previous_header_hash"] is None
    tapes = expect(gw.clients["platform"].get(f"/pools/{POOL}/tapes"), 200, "tapes")
    assert [t["snapshot_status"] for t in tapes if t["cutoff_date"] == CUTOFF] == ["sealed"]
    # Sealing again is refused; a new tape for the sealed cut-off too.
    assert gw.clients["platform"].post(f"/pools/{POOL}/cutoffs/{CUTOFF}/seal").status_code == 409


def test_seal_of_a_cutoff_without_tape_is_404(gw: Gateway, deal: dict[str, Any]) -> None:
    assert gw.clients["platform"].post(f"/pools/{POOL}/cutoffs/2031-01-31/seal").status_code == 404


def test_public_key_endpoint_serves_the_instance_key(gw: Gateway) -> None:
    import requests

    from proofs.signing import key_id, parse_public_key

    served = requests.get(f"{gw.url}/public/gateway-key", timeout=30).json()
    assert served["key_id"] == key_id(gw.key)
    assert key_id(parse_public_key(served["public_key_pem"])) == key_id(gw.key)


# -- auditor: the whole snapshot ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def snapshot_file(gw: Gateway, deal: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    resp = gw.clients["auditor"].get(f"/pools/{POOL}/snapshots/{CUTOFF}/bundle")
    assert resp.status_code == 200
    path = tmp_path_factory.mktemp("snap") / "snapshot.json"
    path.write_text(resp.text, encoding="utf-8")
    return path


def test_auditor_verifies_the_snapshot_with_poolproof_audit(gw: Gateway, snapshot_file: Path) -> None:
    code, out = audit("verify-snapshot", snapshot_file, "--key", gw.key_file)
    assert code == 0, out
    assert out["leaf_count"] == N_LOANS
    assert out["cutoff_date"] == CUTOFF


def test_bundle_is_served_to_each_bundle_role_and_not_to_investors(gw: Gateway, deal: dict[str, Any]) -> None:
    texts = {
        who: gw.clients[who].get(f"/pools/{POOL}/snapshots/{CUTOFF}/bundle").text
        for who in ("platform", "trustee", "regulator")
    }
    assert len(set(texts.values())) == 1
    verify_snapshot(io.StringIO(texts["platform"]), gw.key)
    for who in ("investor", "borrower"):
        assert gw.clients[who].get(f"/pools/{POOL}/snapshots/{CUTOFF}/bundle").status_code in (404, 405)


def _tamper_line(text: str, line_no: int, edit: Any) -> str:
    lines = text.split("\n")
    line = lines[line_no]
    comma = line.endswith(",")
    doc = json.loads(line[:-1] if comma else line)
    edit(doc)
    lines[line_no] = json.dumps(doc, separators=(",", ":")) + ("," if comma else "")
    return "\n".join(lines)


def _flip(hex_text: str, pos: int) -> str:
    return hex_text[:pos] + ("1" if hex_text[pos] == "0" else "0") + hex_text[pos + 1 :]


def _header_edit(path: str, value: Any) -> Any:
    def edit(text: str) -> str:
        first, rest = text.split("\n", 1)
        prefix = '{"format":"poolproof/snapshot/v1","header":'
        header = json.loads(first[len(prefix) : -len(',"chunks":[')])
        obj = header
        keys = path.split(".")
        for k in keys[:-1]:
            obj = obj[k]
        obj[keys[-1]] = value(obj[keys[-1]])
        return prefix + json.dumps(header, separators=(",", ":")) + ',"chunks":[' + "\n" + rest

    return edit


def _resigned(path: str, value: Any) -> Any:
    """A header edit re-signed with the gateway's own key: what a dishonest gateway could publish."""

    def edit(text: str, key_file: Path) -> str:
        from gateway.keys.gateway_key import load_gateway_key

        first, rest = text.split("\n", 1)
        prefix = '{"format":"poolproof/snapshot/v1","header":'
        header = json.loads(first[len(prefix) : -len(',"chunks":[')])
        header.pop("signatures")
        obj = header
        keys = path.split(".")
        for k in keys[:-1]:
            obj = obj[k]
        obj[keys[-1]] = value(obj[keys[-1]])
        header = bundle.sign_document(load_gateway_key(key_file), "snapshot-header", header)
        return prefix + json.dumps(header, separators=(",", ":")) + ',"chunks":[' + "\n" + rest

    return edit


RESIGNED_TAMPERS = {
    "resigned.merkle_root": (_resigned("merkle_root", lambda v: _flip(v, 10)), "snapshot.merkle_root"),
    "resigned.aggregate": (
        _resigned("aggregates.balance_M3+", lambda _v: "c0" + "0" * 94),  # identity point
        "unpacking.linear",  # dpd5-v3: aggregates must unpack the sums of the leaves' commitments
    ),
    "resigned.packed_sum": (
        _resigned("packed_sums.pack_1", lambda _v: "c0" + "0" * 94),
        "snapshot.aggregate",
    ),
    "resigned.leaf_count": (_resigned("leaf_count", lambda v: v + 1), "snapshot.leaf_count"),
}


@pytest.mark.parametrize("name", sorted(RESIGNED_TAMPERS))
def test_a_gateway_that_resigns_a_false_header_fails_the_full_check(
    gw: Gateway, snapshot_file: Path, tmp_path: Path, name: str
) -> None:
    edit, check = RESIGNED_TAMPERS[name]
    bad = tmp_path / "bad.json"
    bad.write_text(
        edit(snapshot_file.read_text(encoding="utf-8"), gw.inst.gateway_key_file), encoding="utf-8"
    )
    code, out = audit("verify-snapshot", bad, "--key", gw.key_file)
    assert code == 1, out
    assert out["check"] == check, out


SNAPSHOT_TAMPERS = {
    "header.leaf_count": (_header_edit("leaf_count", lambda v: v - 1), "header.signature"),
    "header.merkle_root": (_header_edit("merkle_root", lambda v: _flip(v, 10)), "header.signature"),
    "header.aggregate": (
        _header_edit("aggregates.balance_M0", lambda v: _flip(v, 95)),
        "header.signature",
    ),
    "header.signature": (
        _header_edit("signatures", lambda v: [{**v[0], "sig": _flip(v[0]["sig"], 3)}]),
        "header.signature",
    ),
    "leaf.commitment": (
        lambda t: _tamper_line(t, 1, lambda d: d["leaves"][2].__setitem__(1, d["leaves"][3][1])),
        None,
    ),
    "leaf.exposure_id": (
        lambda t: _tamper_line(t, 2, lambda d: d["leaves"][0].__setitem__(0, "forged-exposure")),
        "snapshot.merkle_root",
    ),
    "proof.scalar": (
        lambda t: _tamper_line(t, 1, lambda d: d["proofs"].__setitem__(0, _flip(d["proofs"][0], -3))),
        None,
    ),
    # A flipped bit inside a proof's point encoding is malformed input (exit 2) naming the proof.
    "proof.point": (
        lambda t: _tamper_line(t, 1, lambda d: d["proofs"].__setitem__(0, _flip(d["proofs"][0], 200))),
        "input",
    ),
}


@pytest.mark.parametrize("name", sorted(SNAPSHOT_TAMPERS))
def test_every_tampered_snapshot_is_rejected_naming_the_check(
    gw: Gateway, snapshot_file: Path, tmp_path: Path, name: str
) -> None:
    edit, check = SNAPSHOT_TAMPERS[name]
    bad = tmp_path / "bad.json"
    bad.write_text(edit(snapshot_file.read_text(encoding="utf-8")), encoding="utf-8")
    code, out = audit("verify-snapshot", bad, "--key", gw.key_file)
    assert code in (1, 2), out
    assert out["ok"] is False, out
    if check == "input":
        assert "proofs[" in out["error"], out  # the malformed proof is named
    if check is not None:
        assert out["check"] == check, out
    else:
        assert code == 1, out
        assert out["check"].startswith(("rangeproof.", "lanecircuit.", "snapshot.")), out


# -- investors: claims ----------------------------------------------------------------------------------
TRUE_CLAIMS = {
    # the deal's 90+ DPD trigger (registered: 300 bps) — free of budget
    "dpd90_balance_le_3pct": RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100),
    "dpd31_balance_le_25pct": RatioClaim("balance_dpd_31plus", "pool_balance", "<=", 25, 100),
    "pool_balance_ge_1000": BoundClaim("pool_balance", 100_000, None),
}


def test_true_claims_verify_offline_and_with_poolproof_audit(
    gw: Gateway, deal: dict[str, Any], tmp_path: Path
) -> None:
    truth = plain_metrics(deal["rows"])
    assert truth["balance_dpd_90plus"] * 100 <= 3 * truth["pool_balance"]  # the claims are true
    assert truth["balance_dpd_31plus"] * 100 <= 25 * truth["pool_balance"]
    for name, statement in TRUE_CLAIMS.items():
        resp = _claim(gw, "investor", statement)
        assert resp.status_code == 200, (name, resp.text)
        doc = resp.json()
        assert verify_claim_bundle(doc, gw.key) == statement
        code, out = audit(
            "verify-claim", _write(tmp_path, f"{name}.json", doc), "--key", gw.key_file, "--no-witness"
        )
        assert code == 0, out
        assert out["statement"] == statement.to_dict(), out


def test_false_claims_cannot_be_produced_and_all_get_the_same_answer(
    gw: Gateway, deal: dict[str, Any]
) -> None:
    # Both at registered triggers (no budget): 90+ balance >= 5 % and >= 3 % are false here.
    bodies = []
    for statement in (
        RatioClaim("balance_dpd_90plus", "pool_balance", ">=", 5, 100),
        RatioClaim("balance_dpd_90plus", "pool_balance", ">=", 3, 100),
    ):
        resp = _claim(gw, "investor2", statement)
        assert resp.status_code == 422
        bodies.append(resp.json())
    assert bodies[0] == bodies[1]
    assert bodies[0]["message"] == CANNOT_PROVE
    assert set(bodies[0]) <= {"code", "status", "message"}


def test_threshold_budget_is_enforced_with_the_uniform_refusal(gw: Gateway, deal: dict[str, Any]) -> None:
    inv = "investor2"
    for lo in (1, 2):  # the investor's budget is 2 unregistered thresholds per snapshot
        assert _claim(gw, inv, BoundClaim("pool_balance", lo, None)).status_code == 200
    assert _claim(gw, inv, BoundClaim("pool_balance", 1, None)).status_code == 200  # a repeat is free
    third = _claim(gw, inv, BoundClaim("pool_balance", 3, None))
    assert third.status_code == 403
    assert third.json()["message"] == REFUSED


def test_investors_get_servicer_report_figures_exactly_and_nothing_else_but_trustees_may(
    gw: Gateway, deal: dict[str, Any]
) -> None:
    # pool_balance is a servicer-report figure of the default policy: exact, through disclosure control.
    exact = _claim(gw, "investor", Disclosure("pool_balance"))
    assert exact.status_code == 200
    assert int(exact.json()["proof"]["value"]) == plain_metrics(deal["rows"])["pool_balance"]
    refused = _claim(gw, "investor", Disclosure("balance_dpd_90plus"))
    assert refused.status_code == 403
    assert "modes.threshold_for_the_rest" in refused.json()["message"]
    resp = _claim(gw, "trustee", Disclosure("pool_balance"))
    assert resp.status_code == 200
    verify_claim_bundle(resp.json(), gw.key)
    assert int(resp.json()["proof"]["value"]) == plain_metrics(deal["rows"])["pool_balance"]


def test_ratio_between_claim_verifies(gw: Gateway, deal: dict[str, Any]) -> None:
    t = plain_metrics(deal["rows"])
    assert t["balance_M3"] > 0
    resp = _claim(gw, "trustee", RatioBetweenClaim("balance_M3", "pool_balance", 0, 1, 1, 2))
    assert resp.status_code == 200
    verify_claim_bundle(resp.json(), gw.key)


def test_malformed_statements_and_nonces_get_422(gw: Gateway, deal: dict[str, Any]) -> None:
    inv = gw.clients["investor"]
    path = f"/pools/{POOL}/snapshots/{CUTOFF}/claims"
    good = RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100).to_dict()
    cases = [
        {"statement": {**good, "type": "nope"}, "nonce": secrets.token_hex(16)},
        {"statement": {**good, "metric_num": "no_such_metric"}, "nonce": secrets.token_hex(16)},
        {"statement": {**good, "value_bits": 8}, "nonce": secrets.token_hex(16)},
        {"statement": good, "nonce": "abcd"},
        {"statement": good},
    ]
    for body in cases:
        assert inv.post(path, json=body).status_code == 422, body


def test_claims_outside_scope_are_refused(gw: Gateway, deal: dict[str, Any]) -> None:
    outsider = gw.add("outsider", "cn-outsider", "investor", "/investor")
    resp = request_claim(outsider, POOL, CUTOFF, TRUE_CLAIMS["dpd90_balance_le_3pct"])
    unknown = request_claim(outsider, "NO-SUCH-POOL", CUTOFF, TRUE_CLAIMS["dpd90_balance_le_3pct"])
    assert resp.status_code == unknown.status_code == 404
    assert resp.json() == unknown.json()


FORBIDDEN_KEYS = {"lanes", "blinding", "leaves", "path", "leaf_index", "exposure_id", "obligor_pseudo_id"}


def _keys(doc: Any) -> set[str]:
    if isinstance(doc, dict):
        return set(doc) | {k for v in doc.values() for k in _keys(v)}
    if isinstance(doc, list):
        return {k for v in doc for k in _keys(v)}
    return set()


def test_investor_responses_carry_no_loan_level_field_or_opening(gw: Gateway, deal: dict[str, Any]) -> None:
    inv = gw.clients["investor"]
    responses = [
        inv.get(f"/pools/{POOL}/snapshots"),
        inv.get(f"/pools/{POOL}/snapshots/{CUTOFF}/header"),
        _claim(gw, "investor", TRUE_CLAIMS["dpd90_balance_le_3pct"]),
        _claim(gw, "investor", RatioClaim("balance_dpd_90plus", "pool_balance", ">=", 5, 100)),
        _claim(gw, "investor", Disclosure("pool_balance")),
    ]
    loan_fields = {
        f for f in deal["rows"][0] if f not in ("pool_id", "cutoff_date")
    }  # every tape field of a loan
    ids = {r["platform_loan_id"] for r in deal["rows"]} | {str(r["id_number"]) for r in deal["rows"]}
    for resp in responses:
        doc = resp.json()
        keys = _keys(doc)
        assert not keys & FORBIDDEN_KEYS, (resp.url, keys & FORBIDDEN_KEYS)
        assert not keys & loan_fields, (resp.url, keys & loan_fields)
        text = resp.text
        assert not any(i in text for i in ids), resp.url
    # The claim bundle is exactly header + statement + nonce + proof; the proof opens nothing.
    claim = responses[2].json()
    assert set(claim) == {"format", "header", "statement", "nonce", "proof"}
    assert set(claim["proof"]) == {"format", "kind", "n_bits", "range_proof"}
    for path in ("bundle", "metrics", "inclusion?platform_loan_id=x"):
        assert inv.get(f"/pools/{POOL}/snapshots/{CUTOFF}/{path}").status_code in (404, 405)


# -- plaintext metrics ------------------------------------------------------------------------------------
def test_metrics_report_equals_plain_computation_over_the_raw_tape(gw: Gateway, deal: dict[str, Any]) -> None:
    truth = plain_metrics(deal["rows"])
    assert all(truth[f"count_{b}"] > 0 for b in ("M0", "M1", "M2", "M3", "M3+"))  # a meaningful pool
    for who in ("platform", "trustee", "regulator"):
        report = expect(gw.clients[who].get(f"/pools/{POOL}/snapshots/{CUTOFF}/metrics"), 200, "metrics")
        assert report["metrics"] == truth
        assert report["ratios_bps"]["balance_dpd_90plus/pool_balance_bps"] == (
            10_000 * truth["balance_dpd_90plus"] // truth["pool_balance"]
        )
    assert set(DPD5_V1.metrics) == set(truth)


# -- borrowers: inclusion --------------------------------------------------------------------------------
def test_borrower_verifies_their_own_loan(gw: Gateway, deal: dict[str, Any], tmp_path: Path) -> None:
    loan = deal["loans"][0]
    resp = gw.clients["borrower"].get(
        f"/pools/{POOL}/snapshots/{CUTOFF}/inclusion", params={"platform_loan_id": loan["platform_loan_id"]}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    record, inc = body["record"], body["inclusion"]
    raw = next(r for r in deal["rows"] if r["platform_loan_id"] == loan["platform_loan_id"])
    assert record["platform_loan_id"] == raw["platform_loan_id"]
    assert record["id_number"] != raw["id_number"]
    assert "*" in record["id_number"]  # masked by default
    verified = verify_inclusion_bundle(inc, gw.key)
    assert verified.principal == raw["current_principal_fen"]
    assert verified.bucket == dpd_bucket(raw["days_past_due"])
    code, out = audit("verify-inclusion", _write(tmp_path, "inc.json", inc), "--key", gw.key_file)
    assert code == 0, out
    assert out["outstanding_principal"] == raw["current_principal_fen"], out


def test_borrower_cannot_get_another_borrowers_loan(gw: Gateway, deal: dict[str, Any]) -> None:
    mine = {deal["loans"][0]["obligor_pseudo_id"]}
    other = next(x for x in deal["loans"] if x["obligor_pseudo_id"] not in mine)
    resp = gw.clients["borrower"].get(
        f"/pools/{POOL}/snapshots/{CUTOFF}/inclusion", params={"platform_loan_id": other["platform_loan_id"]}
    )
    missing = gw.clients["borrower"].get(
        f"/pools/{POOL}/snapshots/{CUTOFF}/inclusion", params={"platform_loan_id": "NO-SUCH-LOAN"}
    )
    assert resp.status_code == missing.status_code == 404
    assert resp.json() == missing.json()  # another's loan looks exactly like no loan


def test_tampered_inclusion_bundles_are_rejected(gw: Gateway, deal: dict[str, Any], tmp_path: Path) -> None:
    loan = deal["loans"][0]
    inc = (
        gw.clients["borrower"]
        .get(
            f"/pools/{POOL}/snapshots/{CUTOFF}/inclusion",
            params={"platform_loan_id": loan["platform_loan_id"]},
        )
        .json()["inclusion"]
    )
    edits = {
        "value": lambda d: d["lanes"][0].__setitem__("value", d["lanes"][0]["value"] + 1 or 1),
        "blinding": lambda d: d["blindings"].__setitem__(1, _flip(d["blindings"][1], 63)),
        "value_moved": lambda d: (
            d["lanes"][5].__setitem__("value", 0),
            d["lanes"][6].__setitem__("value", 1),
        ),
        "path": lambda d: d["path"].__setitem__(0, _flip(d["path"][0], 5)),
        "leaf_index": lambda d: d.__setitem__("leaf_index", d["leaf_index"] + 1),
        "header": lambda d: d["header"].__setitem__("cutoff_date", "2020-01-01"),
    }
    for name, edit in edits.items():
        doc = json.loads(json.dumps(inc))
        edit(doc)
        code, out = audit("verify-inclusion", _write(tmp_path, f"{name}.json", doc), "--key", gw.key_file)
        assert code == 1, (name, out)
        assert out["check"] in ("merkle.inclusion", "inclusion.lanes", "header.signature"), (name, out)


# -- claim tampering --------------------------------------------------------------------------------------
def test_every_tampered_claim_bundle_is_rejected_naming_the_check(
    gw: Gateway, deal: dict[str, Any], tmp_path: Path
) -> None:
    doc = _claim(gw, "investor", TRUE_CLAIMS["dpd90_balance_le_3pct"]).json()
    edits = {
        "statement": (lambda d: d["statement"].__setitem__("p", 2), "claim.range"),
        "statement_op": (lambda d: d["statement"].__setitem__("q", 1000), None),
        "nonce": (lambda d: d.__setitem__("nonce", _flip(d["nonce"], 0)), "claim.range"),
        "proof": (
            lambda d: d["proof"].__setitem__("range_proof", _flip(d["proof"]["range_proof"], 300)),
            None,
        ),
        "header": (lambda d: d["header"].__setitem__("leaf_count", 1), "header.signature"),
        "signature": (
            lambda d: d["header"]["signatures"][0].__setitem__(
                "sig", _flip(d["header"]["signatures"][0]["sig"], 7)
            ),
            "header.signature",
        ),
        "aggregate": (
            lambda d: d["header"]["aggregates"].__setitem__(
                "balance_M3+", d["header"]["aggregates"]["balance_M0"]
            ),
            "header.signature",
        ),
    }
    for name, (edit, check) in edits.items():
        bad = json.loads(json.dumps(doc))
        edit(bad)
        code, out = audit(
            "verify-claim", _write(tmp_path, f"{name}.json", bad), "--key", gw.key_file, "--no-witness"
        )
        assert code in (1, 2), (name, out)
        assert out["ok"] is False, (name, out)
        if check is not None:
            assert out["check"] == check, (name, out)
        else:
            assert out["check"].startswith("claim.") or out["check"] == "input", (name, out)


# -- the snapshot log --------------------------------------------------------------------------------------
def test_next_month_is_chained_to_the_previous_header(
    gw: Gateway, deal: dict[str, Any], tmp_path: Path
) -> None:
    gw.submit(POOL, NEXT_CUTOFF, _rows(MONTH + 1))
    seal_dpd5(gw, POOL, NEXT_CUTOFF)
    listing = expect(gw.clients["investor"].get(f"/pools/{POOL}/snapshots"), 200, "list")
    assert [s["sequence"] for s in listing] == [1, 2]
    h2 = expect(gw.clients["investor"].get(f"/pools/{POOL}/snapshots/{NEXT_CUTOFF}/header"), 200, "header 2")
    assert h2["previous_header_hash"] == header_hash(deal["header"]).hex() == listing[0]["header_hash"]
    paths = [_write(tmp_path, f"h{i}.json", h) for i, h in enumerate((deal["header"], h2))]
    code, out = audit("verify-log", *paths, "--key", gw.key_file)
    assert code == 0, out
    assert out["entries"] == 2, out
    # An earlier cut-off can no longer be sealed after a later one.
    gw.submit(POOL, "2024-12-31", _rows(MONTH - 1)[:4])
    assert gw.clients["platform"].post(f"/pools/{POOL}/cutoffs/2024-12-31/seal").status_code == 409


def test_cli_claim_requests_and_verifies_with_the_trusted_key(
    gw: Gateway, deal: dict[str, Any], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from gateway.cli import cli

    statement = json.dumps(TRUE_CLAIMS["dpd90_balance_le_3pct"].to_dict())
    common = [
        "claim",
        "--url",
        gw.url,
        "--api-key",
        gw.clients["investor"].api_key,
        "--pool",
        POOL,
        "--no-witness",
    ]
    out = tmp_path / "claim.json"
    ok = CliRunner().invoke(
        cli,
        [*common, "--cutoff", CUTOFF, "--statement", statement, "--key", str(gw.key_file), "--out", str(out)],
    )
    assert ok.exit_code == 0, ok.output
    assert "OK: proven" in ok.output
    verify_claim_bundle(bundle.load_bundle(out), gw.key)
    false = json.dumps(RatioClaim("balance_dpd_90plus", "pool_balance", ">=", 5, 100).to_dict())
    refused = CliRunner().invoke(
        cli, [*common, "--cutoff", CUTOFF, "--statement", false, "--key", str(gw.key_file)]
    )
    assert refused.exit_code == 1
    assert CANNOT_PROVE in refused.output


def test_auditor_samples_any_leaf_and_it_matches_the_tape(
    gw: Gateway, deal: dict[str, Any], tmp_path: Path
) -> None:
    for index in (0, 17, N_LOANS - 1):
        resp = gw.clients["auditor"].get(f"/pools/{POOL}/snapshots/{CUTOFF}/leaves/{index}/inclusion")
        assert resp.status_code == 200, resp.text
        verified = verify_inclusion_bundle(resp.json(), gw.key)
        raw = deal["rows"][index]
        assert verified.leaf_index == index
        assert verified.principal == raw["current_principal_fen"]
        assert verified.bucket == dpd_bucket(raw["days_past_due"])
    assert (
        gw.clients["auditor"].get(f"/pools/{POOL}/snapshots/{CUTOFF}/leaves/{N_LOANS}/inclusion").status_code
        == 404
    )
    for who in ("investor", "platform"):
        assert gw.clients[who].get(f"/pools/{POOL}/snapshots/{CUTOFF}/leaves/0/inclusion").status_code in (
            404,
            405,
        )
