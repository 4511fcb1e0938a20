"""``poolproof-audit verify-eligibility`` on files: holds, does not hold, a tampered statement, and
the completeness check against the audited snapshot bundle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proofs import audit_cli
from proofs.eligibility import prove_eligibility
from proofs.group import get_group
from proofs.signing import public_key_to_pem
from tests.eligibility_util import Period, deal_text, linked_lane_set, registered, seal_period, tape_rows

GROUP = get_group()


@pytest.fixture(scope="module")
def period() -> Iterator[Period]:
    with registered(linked_lane_set()) as lanes:
        yield seal_period(lanes, tape_rows())


def _files(tmp_path: Path, p: Period, doc: dict[str, Any], **criteria: Any) -> dict[str, str]:
    files = {
        "bundle": tmp_path / "eligibility.json",
        "deal": tmp_path / "deal.toml",
        "key": tmp_path / "gateway.pub",
        "header": tmp_path / "header.json",
        "snapshot": tmp_path / "snapshot.jsonl",
    }
    files["bundle"].write_text(json.dumps(doc))
    files["deal"].write_text(deal_text(**criteria))
    files["key"].write_bytes(public_key_to_pem(p.sealed.key.public_key()))
    files["header"].write_text(json.dumps(p.sealed.header))
    files["snapshot"].write_text(p.sealed.bundle_text)
    return {k: str(v) for k, v in files.items()}


def _run(f: dict[str, str], *extra: str) -> int:
    return audit_cli.main(
        ["verify-eligibility", f["bundle"], "--deal", f["deal"], "--key", f["key"], "--json",
         "--accept-lane-set", linked_lane_set().name, *extra]
    )  # fmt: skip


def _prove(p: Period, **criteria: Any) -> dict[str, Any]:
    from proofs.deal import parse_deal_text

    deal = parse_deal_text(deal_text(**criteria))
    return prove_eligibility(p.header, deal, p.purchased(GROUP), p.collections(), p.sealed.key, ipa_rounds=0)


def test_holds_with_the_header_and_with_the_snapshot(
    period: Period, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with registered(period.lanes):
        f = _files(tmp_path, period, _prove(period))
        assert _run(f, "--header", f["header"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "HOLDS"
        assert "eligibility.purchase_price" in out["checked"]
        records = tmp_path / "records.json"
        records.write_text(
            json.dumps({r.exposure_id: {a: int(getattr(r, a)) for a in (
                "nominal_rate_bps", "apr_bps", "original_term_months", "remaining_term_months")}
                for r in period.tape.itertuples()})
        )  # fmt: skip
        assert _run(f, "--snapshot", f["snapshot"], "--records", str(records)) == 0
        out = json.loads(capsys.readouterr().out)
        assert "eligibility.inclusion" in out["checked"]
        assert "eligibility.records" in out["checked"]


def test_does_not_hold_is_reported_and_a_tampered_statement_fails(
    period: Period, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with registered(period.lanes):
        f = _files(tmp_path, period, _prove(period, max_balance_fen=1_500_000), max_balance_fen=1_500_000)
        assert _run(f, "--header", f["header"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "DOES NOT HOLD"
        assert out["failed"] == ["balance"]
        doc = _prove(period)
        doc["purchased"] += 1
        f = _files(tmp_path, period, doc)
        assert _run(f, "--header", f["header"]) == 1
        err = json.loads(capsys.readouterr().out)
        assert err["check"] == "eligibility.signature"
        f = _files(tmp_path, period, _prove(period))
        Path(f["deal"]).write_text(deal_text(max_balance_fen=3_000_000))
        assert _run(f, "--header", f["header"]) == 1
        assert json.loads(capsys.readouterr().out)["check"] == "deal.binding"
