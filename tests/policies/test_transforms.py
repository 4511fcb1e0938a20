"""Transforms: mask presets (JR/T 0171 display conventions), generalisations, keyed pseudonyms."""

import datetime as dt
import hashlib

import pytest

from policies import MASK_PRESETS, Transform, apply_mask, derive_pseudonym_key, pseudonym
from policies.transforms import compile_generalize, compile_pseudonymize, mask_spec_from


@pytest.mark.parametrize(
    ("preset", "value", "masked"),
    [
        ("prc_id", "11010519491231002X", "110105********002X"),
        ("mobile", "+86 138-1234-5678", "138****5678"),
        ("mobile", "008613812345678", "138****5678"),
        ("bank_card", "6222 0212 3456 7890 123", "622202*********0123"),
        ("name", "张三丰", "张**"),
        ("name", "张", "*"),
        ("address", "北京市朝阳区建国路88号3单元502", "北京市朝阳区****"),
        ("address", "somewhere 12", "****"),
        ("prc_id", "1234", "****"),
    ],
)
def test_mask_presets(preset: str, value: str, masked: str) -> None:
    assert apply_mask(value, MASK_PRESETS[preset]) == masked


def test_custom_mask_table_and_bad_parameters() -> None:
    spec = mask_spec_from({"keep_first": 3, "keep_last": 4, "mask_char": "#"})
    assert apply_mask("11010519491231002X", spec) == "110###########002X"
    with pytest.raises(ValueError, match="keep_first"):
        mask_spec_from({"keep_first": -1})
    with pytest.raises(ValueError, match="mask_char"):
        mask_spec_from({"mask_char": "a"})
    with pytest.raises(ValueError, match="unknown mask key"):
        mask_spec_from({"keep": 1})


def test_money_bands_in_minor_units() -> None:
    fn = compile_generalize({"kind": "bands", "edges": [300000, 500000]})
    assert [fn(v, {}) for v in (0, 299999, 300000, 499999, 500000, None)] == [
        "<300000",
        "<300000",
        "[300000,500000)",
        "[300000,500000)",
        ">=500000",
        None,
    ]


def test_age_band_from_birth_date_or_prc_id_at_origination() -> None:
    fn = compile_generalize({"kind": "age_band", "edges": [18, 25, 30], "as_of_field": "origination_date"})
    rec = {"origination_date": "2024-01-02"}
    assert fn("1999-01-03", rec) == "[18,25)"  # 24 the day before the birthday
    assert fn("1999-01-02", rec) == "[25,30)"
    assert fn("11010519990102002X", rec) == "[25,30)"
    assert fn(dt.date(2010, 1, 1), rec) == "<18"
    assert fn("not a date", rec) is None
    assert fn("1999-01-02", {}) is None


def test_region_to_province_or_city_and_dates_to_month_or_year() -> None:
    assert compile_generalize({"kind": "region", "level": "province"})("110105", {}) == "11"
    assert compile_generalize({"kind": "region", "level": "city"})("110105", {}) == "1101"
    assert compile_generalize({"kind": "date", "grain": "month"})("2024-06-30", {}) == "2024-06"
    assert compile_generalize({"kind": "date", "grain": "year"})(dt.date(2024, 6, 30), {}) == "2024"


def test_enum_map_and_address_region() -> None:
    fn = compile_generalize({"kind": "enum_map", "mapping": {"STUDENT": "NOT_EMPLOYED"}, "default": "OTHER"})
    assert (fn("STUDENT", {}), fn("RETIRED", {})) == ("NOT_EMPLOYED", "OTHER")
    addr = compile_generalize({"kind": "address_region"})
    assert addr("广东省深圳市南山区科技园", {}) == "广东省深圳市"
    assert addr("no marker here", {}) is None


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "bands", "edges": [5, 5]},
        {"kind": "region", "level": "street"},
        {"kind": "date", "grain": "day"},
        {"kind": "nope"},
        {"kind": "bands", "edges": []},
    ],
)
def test_bad_generalisation_parameters_are_rejected(params: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked through the policy loader tests
        compile_generalize(params)


def _hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """RFC 2104 HMAC written out, as an independent check of the pseudonym construction."""
    block = 64
    k = key.ljust(block, b"\x00") if len(key) <= block else hashlib.sha256(key).digest().ljust(block, b"\x00")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in k) + msg).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in k) + inner).digest()


def test_rfc4231_case_2_through_the_independent_hmac() -> None:
    mac = _hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert mac.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_pseudonym_is_domain_separated_hmac_sha256() -> None:
    key = bytes(range(32))
    want = _hmac_sha256(key, b"poolproof/pseudonym/v1\x00id_number\x0011010519491231002X").hex()[:32]
    assert pseudonym(key, "id_number", "11010519491231002x ") == want
    assert compile_pseudonymize(key, "id_number")("11010519491231002X", {}) == want
    assert pseudonym(key, "exposure_id", "11010519491231002X") != want


def test_pseudonym_keys_differ_per_recipient_and_deal() -> None:
    master = b"m" * 32
    keys = {derive_pseudonym_key(master, r, d) for r in ("ra-1", "ra-2") for d in ("deal-a", "deal-b")}
    assert len(keys) == 4
    with pytest.raises(ValueError, match="32 bytes"):
        derive_pseudonym_key(b"short", "ra-1", "deal-a")


def test_transform_order_is_restrictiveness() -> None:
    order = [
        Transform.parse(t) for t in ("raw", "mask", "generalise", "pseudonymise", "aggregate_only", "deny")
    ]
    assert order == sorted(order)
    assert [t.emits_value for t in order] == [True, True, True, True, False, False]
    with pytest.raises(ValueError, match="unknown transform"):
        Transform.parse("blur")
