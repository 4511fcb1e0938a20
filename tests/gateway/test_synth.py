"""The synthetic platform: determinism, streaming, realistic distributions, and rule-valid rows."""

from __future__ import annotations

import csv
import gc
import io
import statistics
import sys
from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.synth import generate_months, generate_tape, monthly_cutoff, write_csv, write_jsonl
from policies.catalogue import TAPE_SCHEMA_V2_FIELDS
from tests.gateway.test_synth_rules import id_check_char, tape_rule_violations

CUT = date(2025, 6, 30)
LIVE = {"NORMAL", "OVERDUE", "DEFAULTED"}


def _tape(n: int, seed: int = 1, month: int = 0) -> list[dict]:
    return list(generate_tape(n, seed=seed, cutoff=CUT, pool_id="P1", month=month))


def _jsonl_bytes(n: int, seed: int, month: int = 0) -> bytes:
    buf = io.StringIO()
    write_jsonl(generate_tape(n, seed=seed, cutoff=CUT, pool_id="P1", month=month), buf)
    return buf.getvalue().encode()


def test_same_seed_gives_identical_bytes() -> None:
    assert _jsonl_bytes(2000, 42, month=3) == _jsonl_bytes(2000, 42, month=3)


def test_different_seeds_give_different_tapes() -> None:
    a, b = _tape(500, seed=1), _tape(500, seed=2)
    assert sum(x["id_number"] != y["id_number"] for x, y in zip(a, b, strict=True)) > 490


def test_tape_is_a_lazy_stream() -> None:
    rows = generate_tape(10**9, seed=1, cutoff=CUT, pool_id="P1")
    first = next(rows)
    assert first["platform_loan_id"] == "P1-000000000-0"


def test_streaming_holds_no_rows_behind() -> None:
    def stream() -> object:
        return generate_tape(30000, seed=3, cutoff=CUT, pool_id="P1")

    for _ in stream():  # warm the bounded calendar and schedule caches
        pass
    rows = stream()
    for _ in range(1000):
        next(rows)
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in rows:
        pass
    gc.collect()
    assert sys.getallocatedblocks() - before < 2000  # 29,000 more rows, (almost) no more live objects


def test_index_range_gives_the_same_rows_as_the_full_tape() -> None:
    full = _tape(300, month=2)
    part = list(generate_tape(300, seed=1, cutoff=CUT, pool_id="P1", month=2, indices=range(120, 180)))
    assert part == full[120:180]


@pytest.mark.parametrize("month", [0, 1, 5, 13])
def test_every_row_satisfies_the_tape_rules(month: int) -> None:
    cutoff = monthly_cutoff(CUT, month)
    rows = _tape(3000, seed=11, month=month)
    problems = Counter(v for r in rows for v in tape_rule_violations(r, cutoff))
    assert problems == Counter()
    assert len({r["platform_loan_id"] for r in rows}) == len(rows) == 3000
    assert all(tuple(r) == TAPE_SCHEMA_V2_FIELDS for r in rows)


def test_months_share_loans_and_terminal_statuses_are_absorbing() -> None:
    months = generate_months(2000, seed=5, start_cutoff=CUT, months=8, pool_id="P1")
    tapes = [list(rows) for _, rows in months]
    cutoffs = [monthly_cutoff(CUT, k) for k in range(8)]
    for k in range(7):
        for a, b in zip(tapes[k], tapes[k + 1], strict=True):
            if a["platform_loan_id"] == b["platform_loan_id"]:
                assert a["loan_status"] in LIVE  # a closed loan never reappears under its own id
                for f in ("origination_date", "original_principal_fen", "id_number", "term_months"):
                    assert a[f] == b[f]
                assert b["installments_paid"] >= a["installments_paid"]
                assert b["current_principal_fen"] <= a["current_principal_fen"]
                # DPD grows by at most the days between cut-offs unless cured (notes §6.4 item 6).
                assert b["days_past_due"] <= a["days_past_due"] + (cutoffs[k + 1] - cutoffs[k]).days
                if a["loan_status"] == "DEFAULTED":
                    assert b["loan_status"] in {"DEFAULTED", "CHARGED_OFF"}
            else:  # the slot revolved: its loan closed at k and a new one was bought at k+1
                assert a["loan_status"] not in LIVE
                assert b["pool_addition_date"] == cutoffs[k + 1].isoformat()
                assert cutoffs[k] < date.fromisoformat(b["origination_date"]) <= cutoffs[k + 1]


def test_generate_months_matches_generate_tape_month_k() -> None:
    months = list(generate_months(200, seed=9, start_cutoff=CUT, months=3, pool_id="P1"))
    assert [c for c, _ in months] == [date(2025, 6, 30), date(2025, 7, 31), date(2025, 8, 31)]
    assert list(months[2][1]) == list(generate_tape(200, seed=9, cutoff=CUT, pool_id="P1", month=2))


def test_monthly_cutoff_keeps_month_ends_and_clips_days() -> None:
    assert monthly_cutoff(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert monthly_cutoff(date(2024, 2, 29), 1) == date(2024, 3, 31)
    assert monthly_cutoff(date(2024, 1, 30), 1) == date(2024, 2, 29)
    assert monthly_cutoff(date(2024, 1, 15), -2) == date(2023, 11, 15)


def _shares(rows: list[dict]) -> tuple[float, float]:
    live = [r for r in rows if r["loan_status"] in LIVE]
    m1 = sum(1 <= r["days_past_due"] <= 30 for r in live) / len(live)
    m3p = sum(r["days_past_due"] > 90 for r in live) / len(live)
    return m1, m3p


@pytest.mark.parametrize("month", [6, 12])
def test_mature_month_delinquency_is_realistic(month: int) -> None:
    m1, m3p = _shares(_tape(20000, seed=7, month=month))
    assert 0.02 <= m1 <= 0.04
    assert 0.005 <= m3p <= 0.016


def test_first_cutoff_is_a_book_of_live_loans() -> None:
    rows = _tape(20000, seed=7)
    assert {r["loan_status"] for r in rows} <= LIVE
    m1, _ = _shares(rows)
    assert 0.015 <= m1 <= 0.04
    assert sum(r["loan_status"] == "NORMAL" for r in rows) / len(rows) > 0.94
    assert max(r["days_past_due"] for r in rows) <= 92


def test_contract_distributions_match_the_documented_ranges() -> None:
    rows = _tape(20000, seed=13)
    amounts = [r["original_principal_fen"] for r in rows]
    assert min(amounts) >= 10_000
    assert max(amounts) <= 5_000_000
    assert 250_000 <= statistics.median(amounts) <= 350_000  # median about RMB 3,000
    assert {r["term_months"] for r in rows} == {3, 6, 9, 12, 18, 24}
    aprs = [r["apr_all_in_bps"] for r in rows]
    assert min(aprs) >= 1000
    assert max(aprs) <= 3600
    assert 0.01 <= sum(a > 2400 for a in aprs) / len(aprs) <= 0.06
    ages = [date.fromisoformat(r["origination_date"]).year - int(r["birth_date"][:4]) for r in rows]
    assert min(ages) >= 18
    assert max(ages) <= 62
    assert 0.4 <= sum(a < 31 for a in ages) / len(ages) <= 0.6  # about half under 31


def test_provinces_follow_population() -> None:
    prov = Counter(r["region_code"][:2] for r in _tape(20000, seed=17))
    assert prov.most_common(1)[0][0] == "44"  # Guangdong, 126 million in the 2020 census
    assert 0.07 <= prov["44"] / 20000 <= 0.11
    assert prov["54"] / 20000 < 0.006  # Tibet, 3.6 million
    assert len(prov) == 31


def test_csv_has_a_header_and_empty_cells_for_null() -> None:
    rows = _tape(300, month=6)
    buf = io.StringIO()
    assert write_csv(rows, buf) == 300
    back = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert tuple(back[0]) == TAPE_SCHEMA_V2_FIELDS
    for r, b in zip(rows, back, strict=True):
        assert {k: (None if v == "" else v) for k, v in b.items()} == {
            k: (None if v is None else str(v)) for k, v in r.items()
        }


def test_csv_writer_refuses_floats_and_unknown_fields() -> None:
    row = _tape(1)[0]
    with pytest.raises(ValueError, match="strings or integers"):
        write_csv([row | {"current_principal_fen": 1.5}], io.StringIO())
    with pytest.raises(ValueError, match="outside the CSV header"):
        write_csv([row | {"cvv": "123"}], io.StringIO())


@pytest.mark.parametrize(
    "kwargs",
    [{"n_loans": -1}, {"month": -1}, {"pool_id": ""}, {"pool_id": "bad id"}, {"indices": range(5, 20)}],
)
def test_bad_arguments_are_refused(kwargs: dict) -> None:
    args = {"n_loans": 10, "seed": 1, "cutoff": CUT, "pool_id": "P1"} | kwargs
    with pytest.raises(ValueError, match=r"must be|indices"):
        generate_tape(**args)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(-(2**70), 2**70), index=st.integers(0, 10**6), month=st.integers(0, 30))
def test_any_id_number_passes_mod11_2_and_encodes_birth_date_and_gender(
    seed: int, index: int, month: int
) -> None:
    one = range(index, index + 1)
    (row,) = generate_tape(index + 1, seed=seed, cutoff=CUT, pool_id="P1", month=month, indices=one)
    idn = row["id_number"]
    assert len(idn) == 18
    assert idn[:17].isdigit()
    assert id_check_char(idn[:17]) == idn[17]
    assert idn[6:14] == row["birth_date"].replace("-", "")
    assert row["gender"] == ("M" if int(idn[16]) % 2 else "F")
    assert 900 <= int(idn[14:17]) <= 999  # the synthetic sequence block
    assert idn[:6] == row["region_code"]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**64), index=st.integers(0, 10**6))
def test_id_check_character_agrees_with_python_stdnum(seed: int, index: int) -> None:
    ric = pytest.importorskip("stdnum.cn.ric")
    (row,) = generate_tape(index + 1, seed=seed, cutoff=CUT, pool_id="P1", indices=range(index, index + 1))
    assert ric.calc_check_digit(row["id_number"]) == row["id_number"][17]
    assert ric.get_birth_date(row["id_number"]).isoformat() == row["birth_date"]


@pytest.mark.parametrize("month", [0, 7])
def test_ten_thousand_rows_pass_the_gateway_tape_validator(month: int) -> None:
    from gateway.ingest.pool_settings import CN_CONSUMER
    from gateway.ingest.validation import TapeValidator
    from gateway.schemas import rules_for

    validator = TapeValidator(rules_for(CN_CONSUMER), monthly_cutoff(CUT, month).isoformat())
    for i, row in enumerate(generate_tape(10_000, seed=21, cutoff=CUT, pool_id="CN1", month=month), start=1):
        validator.check(i, row)
    assert validator.report.rows_read == 10_000
    assert validator.report.errors == []


def test_the_gateway_validator_rejects_a_tampered_synthetic_id() -> None:
    from gateway.ingest.pool_settings import CN_CONSUMER
    from gateway.ingest.validation import TapeValidator
    from gateway.schemas import rules_for

    row = _tape(1)[0]
    bad = row["id_number"][:16] + str((int(row["id_number"][16]) + 2) % 10) + row["id_number"][17]
    validator = TapeValidator(rules_for(CN_CONSUMER), CUT.isoformat())
    validator.check(1, row | {"id_number": bad})
    assert [e.rule for e in validator.report.errors] == ["prc_id_checksum"]


def _luhn_valid(number: str) -> bool:
    total = 0
    for k, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if k % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_cards_are_unionpay_style_luhn_valid_and_mobiles_well_formed() -> None:
    rows = _tape(5000, seed=23)
    for r in rows:
        acct = r["repayment_account"]
        assert len(acct) == 19
        assert acct.startswith("62")
        assert _luhn_valid(acct)
        assert len(r["mobile"]) == 11
    assert not _luhn_valid(
        rows[0]["repayment_account"][:-1] + str((int(rows[0]["repayment_account"][-1]) + 1) % 10)
    )


def test_region_table_codes_are_real_gb_t_2260_codes() -> None:
    ric = pytest.importorskip("stdnum.cn.ric")
    from gateway.synth import _REGIONS

    for province, _population, cities in _REGIONS:
        for code, name in cities:
            place = ric.get_birth_place(f"{code}20200101001X")  # python-stdnum's bundled GB/T 2260 list
            assert place["province"] == province
            assert name in place["county"] or place["county"] in name


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_written_tapes_read_back_through_the_gateway_parsers_and_validate(fmt: str) -> None:
    from gateway.ingest.pool_settings import CN_CONSUMER
    from gateway.ingest.tape_formats import HashingReader, iter_tape
    from gateway.ingest.validation import TapeValidator
    from gateway.schemas import rules_for

    rules = rules_for(CN_CONSUMER)
    rows = _tape(2000, seed=29, month=4)
    buf = io.StringIO()
    (write_csv if fmt == "csv" else write_jsonl)(rows, buf)
    reader = HashingReader(io.BytesIO(buf.getvalue().encode()), 1 << 30)
    ints = [name for name, spec in rules.catalogue.items() if spec.type == "int"]
    validator = TapeValidator(rules, monthly_cutoff(CUT, 4).isoformat())
    parsed = 0
    for row_no, value, problem in iter_tape(fmt, reader, ints):
        assert problem is None
        validator.check(row_no, value)
        parsed += 1
    assert parsed == 2000
    assert validator.report.errors == []
