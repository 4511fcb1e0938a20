"""Tape schema v2: the period flows, their row rules, one schema per tape, and the pool settings they use."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from gateway.ingest.pipeline import TapeRejected, ingest_tape
from gateway.ingest.pool_settings import (
    CN_CONSUMER,
    US_CONSUMER,
    PoolConfig,
    PoolSettingsError,
    band_label,
)
from gateway.ingest.rules import compile_rules, cross_field_errors
from gateway.ingest.validation import RowValidator
from gateway.storage.records import NotFound, create_pool, current_tape, get_pool, pool_keys, snapshot_loans
from policies import DEFAULT_CATALOGUE, PERIOD_FLOW_FIELDS, TAPE_SCHEMA_V1_FIELDS, TAPE_SCHEMA_V2_FIELDS

from .helpers import CUTOFF, Instance, cn_row, jsonl, make_instance

ZERO_FLOWS = dict.fromkeys(PERIOD_FLOW_FIELDS, 0)


def _v2(**overrides: Any) -> dict[str, Any]:
    return cn_row(1, **{**ZERO_FLOWS, **overrides})


def _rules(row: dict[str, Any], cfg: PoolConfig = CN_CONSUMER) -> set[tuple[str, str]]:
    _, errors = RowValidator(compile_rules(cfg, DEFAULT_CATALOGUE), CUTOFF).validate(row)
    return {(f, r) for f, r, _ in errors}


def test_tape_schema_v2_is_v1_and_the_seven_period_flows_in_the_catalogue() -> None:
    assert TAPE_SCHEMA_V2_FIELDS[: len(TAPE_SCHEMA_V1_FIELDS)] == TAPE_SCHEMA_V1_FIELDS
    assert len(PERIOD_FLOW_FIELDS) == 7
    for name in PERIOD_FLOW_FIELDS:
        spec = DEFAULT_CATALOGUE[name]
        assert (spec.type, spec.unit, spec.level, spec.category) == ("int", "minor", 3, "C2")
        assert "period_flow" in spec.tags


def test_a_v1_row_and_a_v2_row_both_pass() -> None:
    assert _rules(cn_row(1)) == set()
    assert _rules(_v2(period_scheduled_principal_fen=50_000, period_interest_fen=4_000)) == set()


def test_a_negative_flow_is_refused() -> None:
    assert ("period_interest_fen", "range") in _rules(_v2(period_interest_fen=-1))


def test_a_row_with_some_flows_names_each_missing_one() -> None:
    row = cn_row(1, period_interest_fen=10)
    got = _rules(row)
    assert {f for f, r in got if r == "period_flows_together"} == set(PERIOD_FLOW_FIELDS) - {
        "period_interest_fen"
    }


def test_a_flow_above_the_pools_per_loan_cap_is_refused() -> None:
    cfg = CN_CONSUMER.with_overrides(balance_cap_fen=400_000)
    assert ("period_unscheduled_principal_fen", "per_loan_cap") in _rules(
        _v2(period_unscheduled_principal_fen=400_001), cfg
    )
    assert _rules(_v2(period_unscheduled_principal_fen=250_000), cfg) == set()


def test_a_balance_above_the_per_loan_cap_is_refused() -> None:
    cfg = CN_CONSUMER.with_overrides(balance_cap_fen=300_000)
    assert ("current_principal_fen", "per_loan_cap") in _rules(cn_row(1), cfg)


@pytest.mark.parametrize("status", ["CHARGED_OFF", "PREPAID_IN_FULL", "MATURED_PAID", "REPURCHASED"])
def test_a_terminal_status_with_principal_left_is_refused(status: str) -> None:
    errors = cross_field_errors(cn_row(1, loan_status=status), CN_CONSUMER, CUTOFF)
    assert ("current_principal_fen", "terminal_balance") in {(f, r) for f, r, _ in errors}
    ok = cross_field_errors(cn_row(1, loan_status=status, current_principal_fen=0), CN_CONSUMER, CUTOFF)
    assert "terminal_balance" not in {r for _, r, _ in ok}


@pytest.mark.parametrize("flow", ["period_defaulted_principal_fen", "period_recoveries_fen"])
def test_default_flows_only_on_a_defaulted_or_charged_off_loan(flow: str) -> None:
    row = _v2(**{flow: 1000})
    assert (flow, "flow_status") in {(f, r) for f, r, _ in cross_field_errors(row, CN_CONSUMER, CUTOFF)}
    for status in ("DEFAULTED", "CHARGED_OFF"):
        row = _v2(**{flow: 1000, "loan_status": status, "current_principal_fen": 0})
        assert "flow_status" not in {r for _, r, _ in cross_field_errors(row, CN_CONSUMER, CUTOFF)}


def test_a_write_off_only_on_a_charged_off_loan() -> None:
    row = _v2(period_written_off_fen=1000, loan_status="DEFAULTED", days_past_due=120)
    assert ("period_written_off_fen", "flow_status") in {
        (f, r) for f, r, _ in cross_field_errors(row, CN_CONSUMER, CUTOFF)
    }
    row = _v2(period_written_off_fen=1000, loan_status="CHARGED_OFF", current_principal_fen=0)
    assert cross_field_errors(row, CN_CONSUMER, CUTOFF) == []


def test_principal_leaving_a_loan_in_one_period_is_at_most_what_it_lent() -> None:
    row = _v2(period_scheduled_principal_fen=300_000, period_unscheduled_principal_fen=300_002)
    assert ("period_scheduled_principal_fen", "amount_order") in {
        (f, r) for f, r, _ in cross_field_errors(row, CN_CONSUMER, CUTOFF)
    }


# --- one schema per tape, recorded on the stored tape -------------------------------------------------------
@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    inst = make_instance(tmp_path)
    inst.add_platform("plat1")
    db = inst.db()
    try:
        create_pool(db, inst.master(), "P1", "plat1", CN_CONSUMER)
    finally:
        db.conn.close()
    return inst


def _ingest(inst: Instance, rows: list[dict[str, Any]]) -> Any:
    db = inst.db()
    try:
        ingest_tape(
            db,
            get_pool(db, "P1"),
            pool_keys(db, inst.master(), "P1"),
            CUTOFF,
            io.BytesIO(jsonl(rows)),
            "jsonl",
            submitted_by="t",
            max_bytes=10**8,
            workers=0,
        )
        tape, loans = snapshot_loans(db, inst.master(), "P1", CUTOFF)
        return tape, [loan.record for loan in loans]
    finally:
        db.conn.close()


def test_a_v2_tape_is_stored_as_v2_with_its_flows(inst: Instance) -> None:
    rows = [cn_row(i, **{**ZERO_FLOWS, "period_interest_fen": 100 * i}) for i in (1, 2)]
    tape, records = _ingest(inst, rows)
    assert tape.stats["tape_schema"] == "poolproof/tape/v2"
    assert [r["period_interest_fen"] for r in records] == [100, 200]


def test_a_v1_tape_stays_valid_and_is_stored_as_v1(inst: Instance) -> None:
    tape, records = _ingest(inst, [cn_row(1), cn_row(2)])
    assert tape.stats["tape_schema"] == "poolproof/tape/v1"
    assert "period_interest_fen" not in records[0]


def test_a_tape_mixing_v1_and_v2_rows_is_refused_at_the_first_row_of_the_other_kind(inst: Instance) -> None:
    with pytest.raises(TapeRejected) as exc:
        _ingest(inst, [_v2(), cn_row(2), cn_row(3)])
    [problem] = exc.value.report.errors
    assert (problem.row, problem.rule) == (2, "tape_schema")
    assert "row 1" in problem.message
    db = inst.db()
    try:
        assert db.conn.execute("SELECT COUNT(*) FROM loans").fetchone()[0] == 0
        with pytest.raises(NotFound):
            current_tape(db, "P1", CUTOFF)
    finally:
        db.conn.close()


# --- pool settings ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"balance_cap_fen": 0}, "balance_cap_fen.positive"),
        ({"rate_band_edges_bps": ()}, "rate_band_edges_bps.count"),
        ({"rate_band_edges_bps": (0, 600)}, "rate_band_edges_bps.positive"),
        ({"balance_band_edges_fen": (500, 500)}, "balance_band_edges_fen.increasing"),
        ({"remaining_term_edges_months": (6.5,)}, "remaining_term_edges_months.integers"),
    ],
)
def test_bad_strata_and_cap_settings_are_refused_naming_field_and_rule(
    change: dict[str, Any], rule: str
) -> None:
    with pytest.raises(PoolSettingsError) as exc:
        US_CONSUMER.with_overrides(**change)
    assert exc.value.rule == rule
    assert exc.value.http_status == 422
    assert exc.value.field == next(iter(change))


def test_the_per_loan_cap_is_the_balance_cap_else_the_original_principal_cap() -> None:
    assert CN_CONSUMER.per_loan_cap == CN_CONSUMER.max_original_principal
    assert CN_CONSUMER.with_overrides(balance_cap_fen=5).per_loan_cap == 5
    assert US_CONSUMER.per_loan_cap is None


def test_new_settings_survive_their_json_form_and_old_stored_settings_still_load() -> None:
    cfg = US_CONSUMER.with_overrides(balance_cap_fen=4_000_000, rate_band_edges_bps=(1000, 2000))
    assert PoolConfig.from_dict(cfg.to_dict()) == cfg
    old = {
        k: v for k, v in US_CONSUMER.to_dict().items() if k not in ("balance_cap_fen", "rate_band_edges_bps")
    }
    assert PoolConfig.from_dict(old) == US_CONSUMER


@pytest.mark.parametrize(
    ("value", "label"),
    [(0, "0-599"), (599, "0-599"), (600, "600-1199"), (2399, "1800-2399"), (2400, "2400+")],
)
def test_band_labels_take_each_edge_as_the_lower_bound_of_the_next_band(value: int, label: str) -> None:
    assert band_label((600, 1200, 1800, 2400), value) == label
