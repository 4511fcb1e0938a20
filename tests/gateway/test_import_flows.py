"""Period flows from a one-snapshot export: the amortisation schedule and the `[flows]` mapping table."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from gateway.importers.amortisation import scheduled_principal
from gateway.importers.lendingclub import import_lendingclub
from gateway.importers.mapped_csv import import_mapped_csv
from gateway.importers.mapping import MappingError, load_mapping
from gateway.importers.tape_v1 import write_csv
from gateway.mappings import mapping_path
from policies import PERIOD_FLOW_FIELDS, TAPE_SCHEMA_V1_FIELDS, TAPE_SCHEMA_V2_FIELDS


def test_the_whole_term_schedules_the_whole_principal() -> None:
    assert scheduled_principal(2_800_000, 65_253, 1407, 60, 60) == 2_800_000
    assert scheduled_principal(2_800_000, 65_253, 1407, 60, 99) == 2_800_000


def test_the_first_instalment_is_the_instalment_less_a_month_of_interest_rounded_half_up() -> None:
    # 2,800,000 x 1407 / 120,000 = 32,830 cents of interest; 65,253 - 32,830 = 32,423 of principal.
    assert scheduled_principal(2_800_000, 65_253, 1407, 60, 1) == 32_423
    # 10 x 6000 / 120,000 = 0.5 of interest rounds up to 1; 9 x 6000 / 120,000 = 0.45 rounds down to 0.
    assert scheduled_principal(10, 5, 6000, 10, 1) == 4
    assert scheduled_principal(9, 5, 6000, 10, 1) == 5


def test_an_instalment_below_the_interest_schedules_no_principal_before_the_last() -> None:
    assert scheduled_principal(1_000_000, 10, 1200, 12, 11) == 0
    assert scheduled_principal(1_000_000, 10, 1200, 12, 12) == 1_000_000


def test_no_instalment_due_schedules_nothing() -> None:
    assert scheduled_principal(1_000_000, 50_000, 1200, 12, 0) == 0


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="term"):
        scheduled_principal(1, 1, 1, 0, 1)


def _mapping(tmp_path: Path, flows: str) -> Path:
    text = mapping_path("lendingclub").read_text(encoding="utf-8")
    text = text.replace("[flows]\n", "[flows]\n" + flows + "\n", 1).replace(
        'period = "since_origination"\n', "", 1
    )
    p = tmp_path / "m.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_an_unknown_flow_period_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="since_origination"):
        load_mapping(_mapping(tmp_path, 'period = "since_last_month"'))


def test_flows_without_an_instalment_role_are_refused(tmp_path: Path) -> None:
    p = _mapping(tmp_path, 'period = "since_origination"')
    p.write_text(
        p.read_text(encoding="utf-8").replace('instalment = { column = "installment", type = "money" }\n', "")
    )
    with pytest.raises(MappingError, match="instalment"):
        load_mapping(p)


@pytest.fixture(scope="module")
def lc_rows() -> list[dict[str, object]]:
    return list(import_lendingclub())


def test_the_lending_club_sample_imports_as_tape_schema_v2(lc_rows: list[dict[str, object]]) -> None:
    assert all(all(isinstance(r[f], int) for f in PERIOD_FLOW_FIELDS) for r in lc_rows)


def test_principal_received_is_split_into_scheduled_and_unscheduled(lc_rows: list[dict[str, object]]) -> None:
    # Source line 2: $28,000 at 14.07 % for 60 months from Mar-2018, 984.14 principal paid, 3 instalments due.
    row = lc_rows[0]
    expected = scheduled_principal(2_800_000, 65_253, 1407, 60, 3)
    assert row["period_scheduled_principal_fen"] == min(expected, 98_414)
    assert row["period_scheduled_principal_fen"] + row["period_unscheduled_principal_fen"] == 98_414
    assert row["period_interest_fen"] == 101_519


def test_a_charged_off_loan_defaults_and_writes_off_its_unpaid_principal(
    lc_rows: list[dict[str, object]],
) -> None:
    charged = [r for r in lc_rows if r["loan_status"] == "CHARGED_OFF"]
    assert len(charged) == 7
    for r in charged:
        assert r["period_defaulted_principal_fen"] == r["period_written_off_fen"] > 0
        assert r["current_principal_fen"] == 0


def test_a_defaulted_loan_defaults_its_balance_and_writes_nothing_off(
    lc_rows: list[dict[str, object]],
) -> None:
    defaulted = [r for r in lc_rows if r["loan_status"] == "DEFAULTED"]
    assert len(defaulted) == 66
    assert all(r["period_defaulted_principal_fen"] == r["current_principal_fen"] for r in defaulted)
    assert all(r["period_written_off_fen"] == 0 for r in defaulted)


def test_the_loanstats_download_brings_its_late_fees_and_charge_offs() -> None:
    data = Path(__file__).parent / "data" / "lendingclub_loanstats_sample.csv"
    rows = list(
        import_mapped_csv(data, mapping_path("lendingclub-loanstats"), pool_id="LS", cutoff=date(2016, 6, 30))
    )
    # The sample's Charged Off rows: funded 5,600.00 less 1,210.11 received; 1,800.00 less 533.19.
    charged = sorted(r["period_written_off_fen"] for r in rows if r["loan_status"] == "CHARGED_OFF")
    assert charged == [180_000 - 53_319, 560_000 - 121_011]
    assert sorted(r["period_fees_fen"] for r in rows)[-1] == 1500  # total_rec_late_fee 15.0 on one row
    assert all(r["period_recoveries_fen"] == 0 for r in rows)  # the sample's recoveries column is all 0.0


def test_a_csv_tape_of_v2_rows_gets_the_v2_header(lc_rows: list[dict[str, object]]) -> None:
    v2, v1 = io.StringIO(), io.StringIO()
    write_csv(lc_rows[:3], v2)
    write_csv([{k: v for k, v in r.items() if not k.startswith("period_")} for r in lc_rows[:3]], v1)
    assert v2.getvalue().splitlines()[0] == ",".join(TAPE_SCHEMA_V2_FIELDS)
    assert v1.getvalue().splitlines()[0] == ",".join(TAPE_SCHEMA_V1_FIELDS)
