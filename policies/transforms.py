"""Field transforms: raw, mask, generalise, pseudonymise, aggregate-only, deny.

A transform is compiled once from its parameters into a plain function ``fn(value, record) -> value``
(``record`` is the whole input row, needed only by transforms that read a reference date); the view
layer then applies it per record. ``None`` passes through every value transform unchanged (an absent
value reveals nothing more than the field's presence in the schema).

Anchors (reference notes §2.1, §3.2): Apache Ranger's mask vocabulary (show-first/last-n, year-only
dates), Google SDP bucketing / time-part extraction / keyed hash, and the Chinese display conventions
of JR/T 0171-2020 Appendix A as practised (ID 6+4, mobile 3+4, bank card 6+4, surname only, address
down to district).
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import hashlib
import hmac
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import PseudonymKeyError

FieldFn = Callable[[object, Mapping[str, object]], object]
"""A compiled transform: ``fn(value, record) -> transformed value``."""


class Transform(enum.IntEnum):
    """What a party receives for a field, ordered from least to most restrictive.

    The order is the conflict-resolution order: when several rules apply, the greatest wins.
    ``MASK`` reveals some characters of the value, ``GENERALIZE`` a band or prefix, ``PSEUDONYMIZE`` only
    equality (a per-recipient keyed hash), ``AGGREGATE_ONLY`` nothing at record level (only in cohorts
    that pass the aggregate guard), ``DENY`` nothing at all.
    """

    RAW = 0
    MASK = 1
    GENERALIZE = 2
    PSEUDONYMIZE = 3
    AGGREGATE_ONLY = 4
    DENY = 5

    @property
    def label(self) -> str:
        """The lower-case name used in policy files and logs (``"aggregate_only"``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Transform:
        """Parse a policy-file transform name (``"raw"``, ``"mask"``, ...); raises ``ValueError``."""
        norm = text.strip().lower().replace("-", "_")
        if norm == "generalise":
            norm = "generalize"
        if norm == "pseudonymise":
            norm = "pseudonymize"
        for t in cls:
            if t.label == norm:
                return t
        raise ValueError(f"unknown transform {text!r}; expected one of {', '.join(t.label for t in cls)}")

    @property
    def emits_value(self) -> bool:
        """True if a record view carries some form of the value (raw, masked, generalised, pseudonym)."""
        return self <= Transform.PSEUDONYMIZE


# --------------------------------------------------------------------------------------------- mask


@dataclass(frozen=True)
class MaskSpec:
    """A display mask.

    ``kind="keep"``: keep ``keep_first`` and ``keep_last`` characters (after removing ``strip_chars``
    and the first matching ``strip_prefixes``), replace every other character with ``mask_char``,
    preserving length. A value too short to hide anything (``len <= keep_first + keep_last``) is masked
    entirely. ``kind="address"``: keep the text up to and including the last district-level marker
    (区, 县, 旗, 市) found within the first ``max_keep`` characters, and replace the rest with
    ``mask_char * 4``; with no marker the whole value becomes ``mask_char * 4``.
    """

    kind: str = "keep"
    keep_first: int = 0
    keep_last: int = 0
    mask_char: str = "*"
    strip_chars: str = ""
    strip_prefixes: tuple[str, ...] = ()
    max_keep: int = 24


MASK_PRESETS: dict[str, MaskSpec] = {
    # PRC resident ID: first 6 (address code) + last 4; hides the birth-date block (itself C2).
    "prc_id": MaskSpec(keep_first=6, keep_last=4, strip_chars=" -"),
    # Mobile: 3 + 4 (138****1234) after stripping +86 / 0086, spaces and dashes.
    "mobile": MaskSpec(keep_first=3, keep_last=4, strip_chars=" -", strip_prefixes=("+86", "0086")),
    # Bank card: BIN (first 6) + last 4.
    "bank_card": MaskSpec(keep_first=6, keep_last=4, strip_chars=" -"),
    # Name: surname (first character) only.
    "name": MaskSpec(keep_first=1, keep_last=0),
    # Address: down to district.
    "address": MaskSpec(kind="address"),
    # Everything masked.
    "full": MaskSpec(),
}

_DISTRICT_MARKERS = ("区", "县", "旗", "市")
_CITY_MARKERS = ("市", "州", "盟", "地区")


def mask_spec_from(params: str | Mapping[str, Any]) -> MaskSpec:
    """Build a :class:`MaskSpec` from a preset name or a table; raises ``ValueError`` on bad params."""
    if isinstance(params, str):
        if params not in MASK_PRESETS:
            raise ValueError(f"unknown mask preset {params!r}; presets: {', '.join(sorted(MASK_PRESETS))}")
        return MASK_PRESETS[params]
    allowed = {
        "preset",
        "kind",
        "keep_first",
        "keep_last",
        "mask_char",
        "strip_chars",
        "strip_prefixes",
        "max_keep",
    }
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"unknown mask key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )
    base = MASK_PRESETS[params["preset"]] if "preset" in params else MaskSpec()
    kind = params.get("kind", base.kind)
    if kind not in ("keep", "address"):
        raise ValueError(f"mask kind must be 'keep' or 'address', got {kind!r}")
    kf = params.get("keep_first", base.keep_first)
    kl = params.get("keep_last", base.keep_last)
    mk = params.get("max_keep", base.max_keep)
    for name, v in (("keep_first", kf), ("keep_last", kl), ("max_keep", mk)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"mask {name} must be a non-negative integer, got {v!r}")
    ch = params.get("mask_char", base.mask_char)
    if not isinstance(ch, str) or len(ch) != 1 or ch.isalnum():
        raise ValueError(f"mask_char must be one non-alphanumeric character, got {ch!r}")
    sc = params.get("strip_chars", base.strip_chars)
    sp = params.get("strip_prefixes", list(base.strip_prefixes))
    if not isinstance(sc, str):
        raise ValueError("strip_chars must be a string")
    if not isinstance(sp, list | tuple) or not all(isinstance(x, str) for x in sp):
        raise ValueError("strip_prefixes must be a list of strings")
    return MaskSpec(
        kind=kind,
        keep_first=kf,
        keep_last=kl,
        mask_char=ch,
        strip_chars=sc,
        strip_prefixes=tuple(sp),
        max_keep=mk,
    )


def apply_mask(value: object, spec: MaskSpec) -> str:
    """Mask ``value`` (converted with ``str``) according to ``spec``; see :class:`MaskSpec`."""
    text = value if isinstance(value, str) else str(value)
    if spec.kind == "address":
        head = text[: spec.max_keep]
        cut = max((head.rfind(m) + len(m) for m in _DISTRICT_MARKERS if m in head), default=0)
        return text[:cut] + spec.mask_char * 4
    if spec.strip_chars:
        text = text.translate({ord(c): None for c in spec.strip_chars})
    for prefix in spec.strip_prefixes:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    n = len(text)
    kf, kl = spec.keep_first, spec.keep_last
    if n <= kf + kl:
        return spec.mask_char * n
    return text[:kf] + spec.mask_char * (n - kf - kl) + (text[n - kl :] if kl else "")


def compile_mask(spec: MaskSpec) -> FieldFn:
    """A field function applying :func:`apply_mask` (``None`` passes through)."""

    def fn(value: object, record: Mapping[str, object]) -> object:
        return None if value is None else apply_mask(value, spec)

    return fn


# ---------------------------------------------------------------------------------------- generalise

GENERALIZE_KINDS = ("bands", "age_band", "region", "date", "enum_map", "address_region")


def _int_list(v: Any, what: str) -> list[int]:
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise ValueError(f"{what} must be a non-empty list of integers")
    if any(b <= a for a, b in itertools.pairwise(v)):
        raise ValueError(f"{what} must be strictly increasing")
    return list(v)


def _band_labeller(edges: Sequence[int]) -> Callable[[int], str]:
    labels = [f"<{edges[0]}"]
    labels += [f"[{a},{b})" for a, b in itertools.pairwise(edges)]
    labels.append(f">={edges[-1]}")

    def label(x: int) -> str:
        return labels[bisect.bisect_right(edges, x)]

    return label


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _birth_date(value: object) -> dt.date | None:
    """A birth date from a date value or from an 18-character PRC ID (GB 11643-1999 digits 7-14)."""
    if isinstance(value, str) and len(value) == 18 and value[:17].isdigit():
        try:
            return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
        except ValueError:
            return None
    return _as_date(value)


def _whole_years(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def compile_generalize(params: Mapping[str, Any]) -> FieldFn:
    """Compile a generalisation; raises ``ValueError`` naming the bad parameter.

    Kinds:

    * ``bands``: ``edges = [..]`` (integers, minor units for money); output ``"[a,b)"``, ``"<a"``, ``">=b"``.
    * ``age_band``: ``edges`` in years, age in whole years at the record's ``as_of_field`` date (default
      ``origination_date``) from a birth date or an 18-digit PRC ID; unknown → ``None``.
    * ``region``: ``level = "province"`` (first 2 digits of the GB/T 2260 code) or ``"city"`` (first 4).
    * ``date``: ``grain = "month"`` (``YYYY-MM``) or ``"year"`` (``YYYY``).
    * ``enum_map``: ``mapping = {value = bucket}``, ``default`` bucket for anything else.
    * ``address_region``: keep an address up to its first city-level marker (市, 州, 盟, 地区), else ``None``.
    """
    kind = params.get("kind")
    if kind not in GENERALIZE_KINDS:
        raise ValueError(f"generalize kind must be one of {', '.join(GENERALIZE_KINDS)}, got {kind!r}")
    if kind == "bands":
        label = _band_labeller(_int_list(params.get("edges"), "bands edges"))

        def bands(value: object, record: Mapping[str, object]) -> object:
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                return None
            return label(value)

        return bands
    if kind == "age_band":
        age_label = _band_labeller(_int_list(params.get("edges"), "age_band edges"))
        as_of = params.get("as_of_field", "origination_date")
        if not isinstance(as_of, str):
            raise ValueError("age_band as_of_field must be a field name")

        def age_band(value: object, record: Mapping[str, object]) -> object:
            if value is None:
                return None
            born, on = _birth_date(value), _as_date(record.get(as_of))
            if born is None or on is None:
                return None
            return age_label(_whole_years(born, on))

        return age_band
    if kind == "region":
        level = params.get("level")
        if level not in ("province", "city"):
            raise ValueError(f"region level must be 'province' or 'city', got {level!r}")
        width = 2 if level == "province" else 4

        def region(value: object, record: Mapping[str, object]) -> object:
            if value is None:
                return None
            text = value if isinstance(value, str) else str(value)
            return text[:width] if len(text) >= width and text[:width].isdigit() else None

        return region
    if kind == "date":
        grain = params.get("grain")
        if grain not in ("month", "year"):
            raise ValueError(f"date grain must be 'month' or 'year', got {grain!r}")
        width = 7 if grain == "month" else 4

        def date(value: object, record: Mapping[str, object]) -> object:
            d = _as_date(value)
            return None if d is None else d.isoformat()[:width]

        return date
    if kind == "enum_map":
        mapping = params.get("mapping")
        default = params.get("default")
        if not isinstance(mapping, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise ValueError("enum_map mapping must be a table of string -> string")
        if default is not None and not isinstance(default, str):
            raise ValueError("enum_map default must be a string")
        table = dict(mapping)

        def enum_map(value: object, record: Mapping[str, object]) -> object:
            if value is None:
                return None
            return table.get(value, default) if isinstance(value, str) else default

        return enum_map

    def address_region(value: object, record: Mapping[str, object]) -> object:
        if not isinstance(value, str):
            return None
        cut = min((value.find(m) + len(m) for m in _CITY_MARKERS if m in value), default=0)
        return value[:cut] if cut else None

    return address_region


# ------------------------------------------------------------------------------------- pseudonymise

PSEUDONYM_DOMAIN = b"poolproof/pseudonym/v1"
PSEUDONYM_HEX_CHARS = 32  # 128 bits: collision-free in practice for pools of millions of rows.
MIN_KEY_BYTES = 16


def pseudonym(key: bytes, field: str, value: object) -> str:
    """The pseudonym of ``value`` in ``field`` for the holder of ``key``.

    ``HMAC-SHA-256(key, "poolproof/pseudonym/v1" 0x00 field 0x00 normalised value)`` (RFC 2104,
    FIPS 180-4), first 128 bits in hex. The key is one per recipient and deal, so two recipients
    cannot join their views and one recipient cannot join across deals. The normalisation strips
    surrounding space and upper-cases (an ID check character ``x`` equals ``X``).
    """
    text = value if isinstance(value, str) else str(value)
    msg = PSEUDONYM_DOMAIN + b"\x00" + field.encode() + b"\x00" + text.strip().upper().encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]


def check_pseudonym_key(key: bytes | None) -> bytes:
    """Return ``key`` if usable as a recipient pseudonym key; raises :class:`PseudonymKeyError`."""
    if key is None:
        raise PseudonymKeyError("this view pseudonymises fields: pass the recipient's pseudonym_key")
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"pseudonym_key must be at least {MIN_KEY_BYTES} bytes")
    return bytes(key)


def compile_pseudonymize(key: bytes, field: str) -> FieldFn:
    """A field function computing :func:`pseudonym` with a precomputed HMAC state (same output)."""
    base = hmac.new(key, PSEUDONYM_DOMAIN + b"\x00" + field.encode() + b"\x00", hashlib.sha256)

    def fn(value: object, record: Mapping[str, object]) -> object:
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value)
        h = base.copy()
        h.update(text.strip().upper().encode())
        return h.hexdigest()[:PSEUDONYM_HEX_CHARS]

    return fn


def derive_pseudonym_key(master_secret: bytes, recipient_id: str, deal_id: str) -> bytes:
    """Derive the per-recipient, per-deal pseudonym key with HKDF-SHA-256 (RFC 5869).

    The gateway keeps ``master_secret`` (level 4, encrypted at rest); the policy never stores keys.
    Raises ``ValueError`` for a master secret shorter than 32 bytes.
    """
    if len(master_secret) < 32:
        raise ValueError("master_secret must be at least 32 bytes")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    info = b"poolproof/pseudonym-key/v1\x00" + recipient_id.encode() + b"\x00" + deal_id.encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_secret)
