"""The field catalogue: tape schema v1 coverage, classification invariants, forbidden names, validation."""

from pathlib import Path

import pytest

from policies import (
    DEFAULT_CATALOGUE,
    GATEWAY_DERIVED_FIELDS,
    TAPE_SCHEMA_V1_FIELDS,
    CatalogueError,
    ForbiddenFieldError,
    load_catalogue,
)


def test_every_tape_schema_v1_and_gateway_field_is_catalogued_and_permitted() -> None:
    for name in TAPE_SCHEMA_V1_FIELDS + GATEWAY_DERIVED_FIELDS:
        assert name in DEFAULT_CATALOGUE, name
        assert not DEFAULT_CATALOGUE[name].forbidden, name
        assert not DEFAULT_CATALOGUE.is_forbidden(name), name


@pytest.mark.parametrize(
    ("name", "level", "category", "pipl"),
    [
        ("id_number", 3, "C2", True),
        ("repayment_account", 3, "C2", True),
        ("mobile", 3, "C2", False),
        ("current_principal_fen", 3, "C2", False),
        ("consent_basis", 2, "C1", False),
        ("exposure_id", 2, "C1", False),
        ("pool_addition_date", 2, "C1", False),
    ],
)
def test_levels_and_categories_follow_reference_6_3(name: str, level: int, category: str, pipl: bool) -> None:
    spec = DEFAULT_CATALOGUE[name]
    assert (spec.level, spec.category, spec.pipl_sensitive) == (level, category, pipl)


def test_money_fields_are_int_minor_units_and_rates_bps() -> None:
    for name, spec in DEFAULT_CATALOGUE.items():
        if name.endswith("_fen"):
            assert (spec.type, spec.unit) == ("int", "minor"), name
        if name.endswith("_bps"):
            assert (spec.type, spec.unit) == ("int", "bps"), name


def test_authentication_data_is_level_4_c3_and_forbidden() -> None:
    auth = DEFAULT_CATALOGUE.with_tag("authentication")
    assert {"password", "card_pin", "cvv", "otp", "face_template"} <= set(auth)
    for name in auth:
        spec = DEFAULT_CATALOGUE[name]
        assert (spec.level, spec.category, spec.forbidden) == (4, "C3", True)
        assert name in DEFAULT_CATALOGUE.forbidden_names


@pytest.mark.parametrize(
    "name",
    ["cardPIN", "Login-Password", "CVV2", "cvn2", "otp_code", "face_template_v2", "user_pwd", "SMS Code"],
)
def test_forbidden_patterns_match_case_insensitively(name: str) -> None:
    assert DEFAULT_CATALOGUE.is_forbidden(name)


@pytest.mark.parametrize("name", ["shipping_address", "opinion", "spinner", "mobile", "topics", "id_number"])
def test_forbidden_patterns_do_not_catch_ordinary_names(name: str) -> None:
    assert not DEFAULT_CATALOGUE.is_forbidden(name)


def test_check_ingestible_names_forbidden_fields_only() -> None:
    with pytest.raises(ForbiddenFieldError, match="'cvv'") as info:
        DEFAULT_CATALOGUE.check_ingestible(["mobile", "cvv", "unknown_field"])
    assert info.value.names == ("cvv",)
    DEFAULT_CATALOGUE.check_ingestible(TAPE_SCHEMA_V1_FIELDS)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "cat.toml"
    p.write_text('format = "poolproof/catalogue/v1"\n[fields]\n' + body, encoding="utf-8")
    return p


def test_bad_level_is_rejected_naming_file_key_and_line(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        'a = { type = "int", level = 3, category = "C2" }\n'
        'b = { type = "int", level = 7, category = "C2" }\n',
    )
    with pytest.raises(CatalogueError) as info:
        load_catalogue(p)
    err = info.value
    assert (err.key_path, err.line) == ("fields.b.level", 4)
    assert str(p) in str(err)
    assert "1..5" in str(err)


def test_unforbidden_c3_field_is_rejected(tmp_path: Path) -> None:
    p = _write(tmp_path, 'secret = { type = "string", level = 4, category = "C3" }\n')
    with pytest.raises(CatalogueError, match="must be forbidden"):
        load_catalogue(p)


def test_permitted_field_matching_a_forbidden_pattern_is_rejected(tmp_path: Path) -> None:
    body = 'x = { type = "int", level = 1, category = "C1" }\n'
    p = tmp_path / "cat.toml"
    p.write_text(
        'format = "poolproof/catalogue/v1"\n[forbidden_names]\ntokens = ["pin"]\n[fields]\n'
        + body
        + 'card_pin = { type = "string", level = 3, category = "C2" }\n',
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError, match="rename"):
        load_catalogue(p)


def test_toml_syntax_error_reports_line(tmp_path: Path) -> None:
    p = _write(tmp_path, 'a = { type = "int", level = 3, category = \n')
    with pytest.raises(CatalogueError, match="TOML syntax error") as info:
        load_catalogue(p)
    assert info.value.line == 3
