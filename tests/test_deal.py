"""The deal file: validation that names key and rule, canonical hashing, and the header binding."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from proofs.deal import (
    DEAL_FORMAT,
    DealFileError,
    bind_deal,
    check_deal_binding,
    deal_hash,
    load_deal,
    parse_deal,
    parse_deal_text,
)
from proofs.errors import VerificationError

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "deal.toml"


def example_doc() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def test_the_example_deal_loads_with_every_section() -> None:
    deal = load_deal(EXAMPLE)
    assert deal.deal_id == "PP-2026-1"
    assert deal.closing_date == "2024-06-30"
    assert [t.id for t in deal.tranches] == ["A", "B", "SUB"]
    kinds = [t.kind for t in deal.triggers]
    assert kinds == ["cumulative_default_rate", "delinquency_31plus_3m", "excess_spread"]
    assert deal.trigger("dq31_3m").cure_periods == 3
    assert deal.trigger("cdr").cure_periods is None
    assert deal.purchase_criteria.excluded_regions == ("54", "65")
    assert deal.priority_of_payments[-1] == "residual"


def test_the_hash_ignores_comments_key_order_and_date_spelling() -> None:
    text = EXAMPLE.read_text()
    bare_date = text.replace('closing_date = "2024-06-30"', "closing_date = 2024-06-30")
    reordered = "# another comment\n" + bare_date
    assert deal_hash(parse_deal_text(reordered)) == deal_hash(load_deal(EXAMPLE))


def test_the_hash_changes_with_any_term_of_the_deal() -> None:
    base = deal_hash(parse_deal(example_doc()))
    for edit in (
        lambda d: d["triggers"][0].__setitem__("level_bps", 601),
        lambda d: d["tranches"][0].__setitem__("coupon_bps", 351),
        lambda d: d.__setitem__("version", 2),
        lambda d: d["priority_of_payments"].__setitem__("principal_mode", "sequential"),
        lambda d: d["purchase_criteria"].__setitem__("excluded_regions", ["54"]),
        lambda d: d["purchase_criteria"].__setitem__("legal_rate_cap_bps", 3000),
    ):
        doc = example_doc()
        edit(doc)
        assert deal_hash(parse_deal(doc)) != base


def _error(doc: dict[str, Any]) -> DealFileError:
    with pytest.raises(DealFileError) as info:
        parse_deal(doc)
    return info.value


@pytest.mark.parametrize(
    ("edit", "key_path", "rule"),
    [
        (lambda d: d.__setitem__("format", "poolproof/deal/v9"), "format", "format"),
        (lambda d: d.pop("closing_date"), "closing_date", "required"),
        (lambda d: d.__setitem__("closing_date", "30/06/2024"), "closing_date", "type"),
        (lambda d: d.__setitem__("initial_pool_balance_fen", 1.5), "initial_pool_balance_fen", "type"),
        (lambda d: d.__setitem__("initial_pool_balance_fen", 0), "initial_pool_balance_fen", "range"),
        (lambda d: d.__setitem__("colour", "blue"), "colour", "unknown_key"),
        (lambda d: d["purchase_criteria"].__setitem__("apr_bps", [0, 3600]),
         "purchase_criteria.apr_bps", "legal_cap"),
        (lambda d: d["purchase_criteria"].__setitem__("nominal_rate_bps", [900, 100]),
         "purchase_criteria.nominal_rate_bps", "range"),
        (lambda d: d["purchase_criteria"].__setitem__("excluded_regions", ["54", "54"]),
         "purchase_criteria.excluded_regions", "unique"),
        (lambda d: d["triggers"][1].__setitem__("kind", "moon_phase"), "triggers[1].kind", "choice"),
        (lambda d: d["triggers"][0].__setitem__("cure_periods", 2), "triggers[0].cure_periods", "no_cure"),
        (lambda d: d["triggers"][2].__setitem__("cure_periods", 2), "triggers[2].cure_periods", "no_cure"),
        (lambda d: d["triggers"][1].__setitem__("level_bps", 0), "triggers[1].level_bps", "range"),
        (lambda d: d["triggers"][1].__setitem__("id", "cdr"), "triggers[1].id", "unique"),
        (lambda d: d["tranches"][0].__setitem__("balance_fen", 10**12), "tranches", "collateral"),
        (lambda d: d["concentration_limits"][0].__setitem__("dimension", "star_sign"),
         "concentration_limits[0].dimension", "choice"),
        (lambda d: d["priority_of_payments"]["steps"].remove("reserve"),
         "priority_of_payments.steps", "step"),
        (lambda d: d["priority_of_payments"]["steps"].reverse(), "priority_of_payments.steps", "order"),
        (lambda d: d["priority_of_payments"].__setitem__(
            "steps",
            ["senior_fees", "interest:B", "interest:A", "interest:SUB", "reserve", "principal", "residual"]),
         "priority_of_payments.steps", "order"),
        (lambda d: d["priority_of_payments"].__setitem__("principal_mode", "lottery"),
         "priority_of_payments.principal_mode", "choice"),
    ],
)  # fmt: skip
def test_a_broken_rule_names_the_key_and_the_rule(edit: Any, key_path: str, rule: str) -> None:
    doc = example_doc()
    edit(doc)
    err = _error(doc)
    assert (err.key_path, err.rule) == (key_path, rule)
    assert key_path in str(err)


def test_a_file_error_names_the_line_of_the_key(tmp_path: Path) -> None:
    bad = EXAMPLE.read_text().replace("level_bps = 400", "level_bps = -5")
    path = tmp_path / "deal.toml"
    path.write_text(bad)
    with pytest.raises(DealFileError) as info:
        load_deal(path)
    line = bad.splitlines().index("level_bps = -5") + 1
    assert info.value.line == line
    assert f"deal.toml:{line}: [triggers[1].level_bps] range" in str(info.value)


def test_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "deal.toml"
    path.write_text(f'format = "{DEAL_FORMAT}"\ndeal_id = \n')
    with pytest.raises(DealFileError, match="syntax") as info:
        load_deal(path)
    assert info.value.line == 2


def test_a_missing_file_is_a_deal_file_error(tmp_path: Path) -> None:
    with pytest.raises(DealFileError, match="cannot read file"):
        load_deal(tmp_path / "absent.toml")


def test_a_bound_header_checks_against_its_deal_only() -> None:
    deal = load_deal(EXAMPLE)
    header = {"format": "poolproof/snapshot-header/v1", "pool_id": "SYNTH", "signatures": []}
    bound = bind_deal(header, deal)
    assert "signatures" not in bound  # signed afterwards, so the signature covers the binding
    check_deal_binding(bound, deal)
    other = copy.deepcopy(example_doc())
    other["triggers"][0]["level_bps"] = 700
    with pytest.raises(VerificationError, match=r"deal\.binding"):
        check_deal_binding(bound, parse_deal(other))
    with pytest.raises(VerificationError, match="names no deal"):
        check_deal_binding(header, deal)
