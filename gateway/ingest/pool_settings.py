"""Pool jurisdiction settings: currency, identity and region schemes, rate caps, DPD buckets, strata.

A pool's settings decide which tape fields are required and how they are validated. Two presets cover
the cases we ship: ``CN_CONSUMER`` (a Chinese e-commerce instalment pool, money in fen, PRC identity
fields required) and ``US_CONSUMER`` (a US personal-loan pool such as the Lending Club import, money in
cents, two-letter state codes as region, no identity fields).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from policies.catalogue import GATEWAY_DERIVED_FIELDS, TAPE_SCHEMA_V2_FIELDS
from proofs.lanes import BUCKETS as LANE_BUCKETS

from ..errors import GatewayError

# The fields the gateway derives (a platform may not submit them), owned by the classification
# catalogue, as are the lists of tape fields (``TAPE_SCHEMA_V1_FIELDS``, ``TAPE_SCHEMA_V2_FIELDS``).
DERIVED_FIELDS: tuple[str, ...] = GATEWAY_DERIVED_FIELDS

# Identity fields whose formats are jurisdiction-specific (PRC ID, PRC mobile).
IDENTITY_FIELDS: frozenset[str] = frozenset(
    {"obligor_name", "id_type", "id_number", "mobile", "birth_date", "gender"}
)

_CN_REQUIRED = frozenset(
    {
        "platform_loan_id",
        "obligor_name",
        "id_type",
        "id_number",
        "mobile",
        "region_code",
        "region_code_version",
        "birth_date",
        "gender",
        "consent_basis",
        "consent_version",
        "consent_time",
        "product_type",
        "origination_date",
        "first_due_date",
        "maturity_date",
        "term_months",
        "installments_total",
        "installments_paid",
        "repayment_method",
        "original_principal_fen",
        "nominal_rate_bps",
        "apr_all_in_bps",
        "current_principal_fen",
        "days_past_due",
        "overdue_principal_fen",
        "overdue_interest_fen",
        "loan_status",
        "five_tier_class",
        "pool_addition_date",
    }
)

_US_REQUIRED = frozenset(
    {
        "platform_loan_id",
        "region_code",
        "origination_date",
        "maturity_date",
        "term_months",
        "original_principal_fen",
        "nominal_rate_bps",
        "current_principal_fen",
        "days_past_due",
        "loan_status",
    }
)

DEFAULT_DPD_EDGES: tuple[int, ...] = (0, 30, 60, 90)

# DPD bucket rules, checked where a pool's settings are set (pool creation), never at seal time.
#: Buckets a pool has: the sealed lane set commits one balance and one count lane per bucket.
DPD_BUCKET_COUNT = len(LANE_BUCKETS)
#: Every bucket above the current one spans at least this many days: finer buckets would make the
#: DPD report a near-exact days-past-due histogram (a one-loan cell per day), which disclosure
#: control would then have to suppress almost entirely.
DPD_MIN_BUCKET_DAYS = 30
#: The largest edge: three years past due. A loan that late has been written off; a larger edge
#: (say 2^70) is a typing error that would otherwise only surface when the seal fails.
DPD_MAX_EDGE_DAYS = 1095


class PoolSettingsError(GatewayError, ValueError):
    """A pool setting breaks a rule; ``field`` and ``rule`` name which, the message says why."""

    http_status: ClassVar[int] = 422

    def __init__(self, field_name: str, rule: str, message: str) -> None:
        super().__init__(f"{field_name}: {message} (rule {rule})")
        self.field = field_name
        self.rule = rule


def check_dpd_edges(edges: Any, *, min_width_days: int = DPD_MIN_BUCKET_DAYS) -> tuple[int, ...]:
    """``edges`` as a tuple if they make sane DPD buckets, else :class:`PoolSettingsError`.

    Rules: exactly ``DPD_BUCKET_COUNT - 1`` integer edges (``dpd_edges.count``), the first 0 so that
    the first bucket is "current" (``dpd_edges.first_is_current``), strictly increasing
    (``dpd_edges.increasing``), each later bucket at least ``min_width_days`` wide and never less
    than ``DPD_MIN_BUCKET_DAYS`` (``dpd_edges.min_width``; the policy's ``dpd_min_bucket_days`` may
    ask for wider), the last at most ``DPD_MAX_EDGE_DAYS`` (``dpd_edges.max_edge``).
    """
    min_width = max(min_width_days, DPD_MIN_BUCKET_DAYS)
    want = DPD_BUCKET_COUNT - 1
    if not isinstance(edges, (list, tuple)) or len(edges) != want:
        n = len(edges) if isinstance(edges, (list, tuple)) else "no list of"
        raise PoolSettingsError(
            "dpd_edges", "dpd_edges.count", f"need exactly {want} edges ({DPD_BUCKET_COUNT} buckets), got {n}"
        )
    if not all(isinstance(e, int) and not isinstance(e, bool) for e in edges):
        raise PoolSettingsError("dpd_edges", "dpd_edges.integers", "edges must be whole days (integers)")
    if edges[0] != 0:
        raise PoolSettingsError(
            "dpd_edges",
            "dpd_edges.first_is_current",
            f"the first edge must be 0 (current loans), got {edges[0]}",
        )
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            raise PoolSettingsError(
                "dpd_edges", "dpd_edges.increasing", f"edges must be strictly increasing ({lo} then {hi})"
            )
        if hi - lo < min_width:
            raise PoolSettingsError(
                "dpd_edges",
                "dpd_edges.min_width",
                f"bucket {lo + 1}-{hi} is {hi - lo} days wide; every bucket above 0 must be at least "
                f"{min_width} days wide",
            )
    if edges[-1] > DPD_MAX_EDGE_DAYS:
        raise PoolSettingsError(
            "dpd_edges",
            "dpd_edges.max_edge",
            f"the last edge is {edges[-1]} days; at most {DPD_MAX_EDGE_DAYS} days is allowed",
        )
    return tuple(edges)


# Stratification band edges (docs/metrics.md, "Stratification"): each edge is the inclusive lower
# bound of the next band, so edges (600, 1200) make the bands 0-599, 600-1199 and 1200+.
#: Nominal-rate bands, basis points: below 6 %, 6-12 %, 12-18 %, 18-24 %, 24 % and above.
DEFAULT_RATE_BAND_EDGES_BPS: tuple[int, ...] = (600, 1200, 1800, 2400)
#: Remaining-term bands, months: under 6, 6-11, 12-23, 24-35, 36 and more.
DEFAULT_REMAINING_TERM_EDGES_MONTHS: tuple[int, ...] = (6, 12, 24, 36)
#: Current-balance bands of a CNY pool, fen: under 1,000 yuan, 1,000-4,999, 5,000-9,999,
#: 10,000-49,999, 50,000 and more (e-commerce instalments are small).
CN_BALANCE_BAND_EDGES_FEN: tuple[int, ...] = (100_000, 500_000, 1_000_000, 5_000_000)
#: Current-balance bands of a USD pool, cents: under $5,000, $5,000-9,999, $10,000-19,999,
#: $20,000-29,999, $30,000 and more (personal instalment loans up to $40,000).
US_BALANCE_BAND_EDGES_CENTS: tuple[int, ...] = (500_000, 1_000_000, 2_000_000, 3_000_000)
#: At most this many edges per dimension: more bands make one-loan cells that disclosure control
#: must suppress.
MAX_BAND_EDGES = 12


def check_band_edges(name: str, edges: Any) -> tuple[int, ...]:
    """``edges`` as a tuple if they make stratification bands, else :class:`PoolSettingsError`.

    Rules (``field`` is ``name``): a list of 1 to ``MAX_BAND_EDGES`` integers (``<name>.count``,
    ``<name>.integers``), each positive (``<name>.positive``; 0 would make an empty first band) and
    strictly increasing (``<name>.increasing``).
    """
    if not isinstance(edges, (list, tuple)) or not 1 <= len(edges) <= MAX_BAND_EDGES:
        raise PoolSettingsError(name, f"{name}.count", f"need 1 to {MAX_BAND_EDGES} edges in a list")
    if not all(isinstance(e, int) and not isinstance(e, bool) for e in edges):
        raise PoolSettingsError(name, f"{name}.integers", "edges must be integers")
    if edges[0] <= 0:
        raise PoolSettingsError(name, f"{name}.positive", f"the first edge must be positive, got {edges[0]}")
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            raise PoolSettingsError(
                name, f"{name}.increasing", f"edges must be strictly increasing ({lo} then {hi})"
            )
    return tuple(edges)


def band_label(edges: tuple[int, ...], value: int) -> str:
    """The band of ``value`` under ``edges`` (inclusive lower bounds): ``"600-1199"``, ``"2400+"``."""
    lo = 0
    for edge in edges:
        if value < edge:
            return f"{lo}-{edge - 1}"
        lo = edge
    return f"{lo}+"


# Labels as in the catalogue's dpd_bucket enum (M0 = current, M1 = 1-30, ..., M3+ = over 90).
DEFAULT_DPD_LABELS: tuple[str, ...] = ("M0", "M1", "M2", "M3", "M3+")


@dataclass(frozen=True)
class PoolConfig:
    """Jurisdiction settings of one pool.

    ``dpd_edges`` are inclusive upper bounds of all buckets but the last: the default ``(0, 30, 60, 90)``
    gives buckets ``0``, ``1-30``, ``31-60``, ``61-90`` and ``90+``. Money fields (names ending ``_fen``)
    are integers in the minor unit of ``currency`` (fen for CNY, cents for USD).
    """

    name: str
    jurisdiction: str  # "CN" or "US"
    currency: str  # ISO 4217
    minor_unit: str  # "fen", "cent"
    minor_per_major: int
    region_scheme: str  # "GB/T 2260" or "US-STATE"
    id_scheme: str | None  # "GB 11643" or None (no identity fields accepted)
    apr_reject_bps: int
    apr_flag_bps: int
    dpd_edges: tuple[int, ...] = DEFAULT_DPD_EDGES
    dpd_labels: tuple[str, ...] = DEFAULT_DPD_LABELS
    default_days: int = 90
    min_age_years: int | None = 18
    max_original_principal: int | None = None
    required_fields: frozenset[str] = field(default_factory=frozenset)
    #: The per-loan cap on outstanding principal and on each period flow (minor units): the bound the
    #: concentration figure proves the largest loan below. ``None``: the original-principal cap if set.
    balance_cap_fen: int | None = None
    rate_band_edges_bps: tuple[int, ...] = DEFAULT_RATE_BAND_EDGES_BPS
    balance_band_edges_fen: tuple[int, ...] = US_BALANCE_BAND_EDGES_CENTS
    remaining_term_edges_months: tuple[int, ...] = DEFAULT_REMAINING_TERM_EDGES_MONTHS

    def __post_init__(self) -> None:
        if self.jurisdiction not in ("CN", "US"):
            raise ValueError(f"jurisdiction must be CN or US, got {self.jurisdiction!r}")
        check_dpd_edges(self.dpd_edges)
        labels = self.dpd_labels
        if len(labels) != len(self.dpd_edges) + 1 or len(set(labels)) != len(labels):
            raise PoolSettingsError(
                "dpd_labels",
                "dpd_labels.one_per_bucket",
                "need one distinct label per bucket (len(dpd_edges) + 1)",
            )
        if not all(isinstance(x, str) and 0 < len(x) <= 16 for x in labels):
            raise PoolSettingsError("dpd_labels", "dpd_labels.short_text", "labels must be 1-16 characters")
        if not 0 <= self.apr_flag_bps <= self.apr_reject_bps:
            raise ValueError("need 0 <= apr_flag_bps <= apr_reject_bps")
        if self.default_days < 1:
            raise ValueError("default_days must be >= 1")
        unknown = set(self.required_fields) - set(TAPE_SCHEMA_V2_FIELDS)
        if unknown:
            raise ValueError(f"required_fields names unknown tape fields: {sorted(unknown)}")
        cap = self.balance_cap_fen
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise PoolSettingsError(
                "balance_cap_fen", "balance_cap_fen.positive", "the per-loan cap must be a positive integer"
            )
        check_band_edges("rate_band_edges_bps", self.rate_band_edges_bps)
        check_band_edges("balance_band_edges_fen", self.balance_band_edges_fen)
        check_band_edges("remaining_term_edges_months", self.remaining_term_edges_months)

    @property
    def per_loan_cap(self) -> int | None:
        """The cap on one loan's outstanding principal and on each of its period flows (minor units).

        ``balance_cap_fen`` if set, else ``max_original_principal`` (no loan's balance exceeds what
        it lent), else ``None`` (no cap beyond the integer range).
        """
        return self.balance_cap_fen if self.balance_cap_fen is not None else self.max_original_principal

    @property
    def dpd_ranges(self) -> tuple[str, ...]:
        """Human ranges of the buckets, e.g. ``("0", "1-30", "31-60", "61-90", "91+")``."""
        names = [str(self.dpd_edges[0]) if self.dpd_edges[0] == 0 else f"0-{self.dpd_edges[0]}"]
        for lo, hi in zip(self.dpd_edges, self.dpd_edges[1:], strict=False):
            names.append(f"{lo + 1}-{hi}")
        names.append(f"{self.dpd_edges[-1] + 1}+")
        return tuple(names)

    def dpd_bucket(self, days_past_due: int) -> str:
        """The bucket label (``dpd_labels``) for a non-negative days-past-due count."""
        for i, edge in enumerate(self.dpd_edges):
            if days_past_due <= edge:
                return self.dpd_labels[i]
        return self.dpd_labels[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists for tuples and sets), the inverse of :meth:`from_dict`."""
        d = dataclasses.asdict(self)
        d["dpd_edges"] = list(self.dpd_edges)
        d["dpd_labels"] = list(self.dpd_labels)
        d["required_fields"] = sorted(self.required_fields)
        for name in _BAND_SETTINGS:
            d[name] = list(getattr(self, name))
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolConfig:
        """Build from :meth:`to_dict` output; raises ``ValueError``/``TypeError`` on bad settings."""
        d = dict(data)
        d["dpd_edges"] = tuple(d.get("dpd_edges", DEFAULT_DPD_EDGES))
        d["dpd_labels"] = tuple(str(x) for x in d.get("dpd_labels", DEFAULT_DPD_LABELS))
        d["required_fields"] = frozenset(d.get("required_fields", ()))
        for name in _BAND_SETTINGS:
            if name in d and isinstance(d[name], list):
                d[name] = tuple(d[name])
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown pool settings: {sorted(unknown)}")
        return cls(**d)

    def with_overrides(self, **changes: Any) -> PoolConfig:
        """A copy with some settings replaced (validated again)."""
        return dataclasses.replace(self, **changes)


_BAND_SETTINGS = ("rate_band_edges_bps", "balance_band_edges_fen", "remaining_term_edges_months")

CN_CONSUMER = PoolConfig(
    name="CN_CONSUMER",
    jurisdiction="CN",
    currency="CNY",
    minor_unit="fen",
    minor_per_major=100,
    region_scheme="GB/T 2260",
    id_scheme="GB 11643",
    apr_reject_bps=3600,
    apr_flag_bps=2400,
    # RMB 200,000 per-borrower cap on internet unsecured consumer credit (classification notes §6.3).
    max_original_principal=20_000_000,
    required_fields=_CN_REQUIRED,
    balance_band_edges_fen=CN_BALANCE_BAND_EDGES_FEN,
)

US_CONSUMER = PoolConfig(
    name="US_CONSUMER",
    jurisdiction="US",
    currency="USD",
    minor_unit="cent",
    minor_per_major=100,
    region_scheme="US-STATE",
    id_scheme=None,
    apr_reject_bps=3600,
    apr_flag_bps=3600,
    min_age_years=None,
    required_fields=_US_REQUIRED,
)

PRESETS: dict[str, PoolConfig] = {"CN_CONSUMER": CN_CONSUMER, "US_CONSUMER": US_CONSUMER}
