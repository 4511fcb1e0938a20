"""The deal definition: a ``poolproof/deal/v1`` TOML file, validated, versioned and hashed.

A deal file says what a securitisation promises: its closing date and initial pool balance, the
revolving period and the criteria a purchased loan must meet, concentration limits, the triggers
that switch the deal to accelerated amortisation or default (with their levels and cure rules), the
tranches, fees, reserve account and the priority of payments (docs/deal.md).

:func:`load_deal` reads a file and :func:`parse_deal` a parsed document; both check every key and
raise :class:`DealFileError` naming the dotted key path, the rule that failed and, for a file, the
line. Nothing is half-loaded. :func:`deal_hash` is SHA-256 over the domain-separated RFC 8785
canonical JSON of the *validated* deal (:meth:`Deal.to_dict`), so comments, key order and TOML
spelling do not change it and every figure the deal governs can name the exact deal it used:
:func:`bind_deal` puts the hash into a header's ``extensions`` member and :func:`check_deal_binding`
checks it.

This module is pure: no I/O beyond reading the file it is given, no Flask, no database.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from proofs.canonical import document_hash
from proofs.errors import EncodingError, VerificationError

DEAL_FORMAT: Final = "poolproof/deal/v1"
DEAL_HASH_DOMAIN: Final = "deal/v1"
#: The member of a header (or any signed document) that carries bindings to governing documents.
EXTENSIONS: Final = "extensions"
#: The key of the deal binding inside ``extensions``.
DEAL_EXTENSION: Final = "deal"

#: What a trigger measures (docs/deal.md "Triggers"); each is breached when the figure is *above*
#: its level, except ``excess_spread`` which is breached when the period's excess spread is below 0.
TRIGGER_KINDS: Final = ("cumulative_default_rate", "delinquency_31plus_3m", "excess_spread")
#: What a trigger in effect does to the deal.
TRIGGER_EFFECTS: Final = ("sequential", "accelerated_amortisation", "event_of_default")
#: Waterfall steps other than tranche interest (``interest:<tranche>``).
PLAIN_STEPS: Final = ("senior_fees", "reserve", "principal", "residual")
PRINCIPAL_MODES: Final = ("sequential", "pro_rata")
CONCENTRATION_DIMENSIONS: Final = ("region", "obligor", "product_type", "rate_band", "original_term")

#: Largest amount in minor units a deal may name (2^53 − 1: exact in every JSON reader).
MAX_AMOUNT: Final = 2**53 - 1
#: Basis points are at most 100 % unless a key says otherwise.
MAX_BPS: Final = 10_000
_ID_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")
_POOL_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_TOML_LINE: Final = re.compile(r"at line (\d+)")


class DealFileError(EncodingError):
    """A deal file or document that breaks a rule.

    ``key_path`` is the dotted TOML key (``"triggers[1].level_bps"``), ``rule`` a stable name of the
    broken rule (``"required"``, ``"type"``, ``"range"``, ``"unknown_key"``, ...), ``line`` the 1-based
    line when known.
    """

    def __init__(self, key_path: str, rule: str, problem: str, *, path: str = "", line: int | None = None):
        self.key_path = key_path
        self.rule = rule
        self.problem = problem
        self.path = path
        self.line = line
        where = f"{path}:{line}: " if path and line is not None else f"{path}: " if path else ""
        key = f"[{key_path}] " if key_path else ""
        super().__init__(f"{where}{key}{rule}: {problem}")


# -- the deal -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """An inclusive integer range ``[lo, hi]``."""

    lo: int
    hi: int

    def holds(self, value: int) -> bool:
        """True iff ``lo <= value <= hi``."""
        return self.lo <= value <= self.hi


@dataclass(frozen=True)
class PurchaseCriteria:
    """What a loan must satisfy at purchase during the revolving period."""

    max_days_past_due: int
    legal_rate_cap_bps: int
    nominal_rate_bps: Bounds
    apr_bps: Bounds
    original_term_months: Bounds
    remaining_term_months: Bounds
    max_balance_fen: int
    excluded_regions: tuple[str, ...]


@dataclass(frozen=True)
class ConcentrationLimit:
    """At most ``max_share_bps`` of the outstanding balance in any one cell of ``dimension``."""

    id: str
    dimension: str
    max_share_bps: int


@dataclass(frozen=True)
class Trigger:
    """One trigger: what it measures, its level, what it does when in effect and how it cures.

    ``level_bps`` is the level as a fraction ``level_bps / 10000`` (0 for ``excess_spread``, whose
    level is zero by definition). ``cure_periods`` is the number of consecutive periods without a
    breach after which a trigger in effect stops being in effect; ``None`` means it never cures.
    """

    id: str
    kind: str
    level_bps: int
    effect: str
    cure_periods: int | None


@dataclass(frozen=True)
class Tranche:
    """A class of notes: its initial balance and annual coupon, paid monthly (30/360)."""

    id: str
    balance_fen: int
    coupon_bps: int


@dataclass(frozen=True)
class Fees:
    """Senior fees paid first each period: a fixed amount and an annual rate on the notes' balance."""

    fixed_fen: int
    servicing_bps: int


@dataclass(frozen=True)
class Reserve:
    """The reserve account: its balance at closing and the target it is topped up to."""

    initial_fen: int
    target_fen: int


@dataclass(frozen=True)
class Deal:
    """A validated deal definition (:func:`parse_deal`)."""

    deal_id: str
    version: int
    pool_id: str
    currency: str
    closing_date: str
    initial_pool_balance_fen: int
    revolving_periods: int
    purchase_criteria: PurchaseCriteria
    concentration_limits: tuple[ConcentrationLimit, ...]
    triggers: tuple[Trigger, ...]
    tranches: tuple[Tranche, ...]
    fees: Fees
    reserve: Reserve
    priority_of_payments: tuple[str, ...]
    principal_mode: str

    def trigger(self, trigger_id: str) -> Trigger:
        """The trigger called ``trigger_id``. Raises ``KeyError`` if the deal has none."""
        for t in self.triggers:
            if t.id == trigger_id:
                return t
        raise KeyError(f"deal {self.deal_id} has no trigger {trigger_id!r}")

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form (what :func:`deal_hash` hashes): every field, defaults filled in."""
        c = self.purchase_criteria
        return {
            "format": DEAL_FORMAT,
            "deal_id": self.deal_id,
            "version": self.version,
            "pool_id": self.pool_id,
            "currency": self.currency,
            "closing_date": self.closing_date,
            "initial_pool_balance_fen": self.initial_pool_balance_fen,
            "revolving_periods": self.revolving_periods,
            "purchase_criteria": {
                "max_days_past_due": c.max_days_past_due,
                "legal_rate_cap_bps": c.legal_rate_cap_bps,
                "nominal_rate_bps": [c.nominal_rate_bps.lo, c.nominal_rate_bps.hi],
                "apr_bps": [c.apr_bps.lo, c.apr_bps.hi],
                "original_term_months": [c.original_term_months.lo, c.original_term_months.hi],
                "remaining_term_months": [c.remaining_term_months.lo, c.remaining_term_months.hi],
                "max_balance_fen": c.max_balance_fen,
                "excluded_regions": list(c.excluded_regions),
            },
            "concentration_limits": [
                {"id": x.id, "dimension": x.dimension, "max_share_bps": x.max_share_bps}
                for x in self.concentration_limits
            ],
            "triggers": [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "level_bps": t.level_bps,
                    "effect": t.effect,
                    "cure_periods": t.cure_periods,
                }
                for t in self.triggers
            ],
            "tranches": [
                {"id": t.id, "balance_fen": t.balance_fen, "coupon_bps": t.coupon_bps} for t in self.tranches
            ],
            "fees": {"fixed_fen": self.fees.fixed_fen, "servicing_bps": self.fees.servicing_bps},
            "reserve": {"initial_fen": self.reserve.initial_fen, "target_fen": self.reserve.target_fen},
            "priority_of_payments": {
                "steps": list(self.priority_of_payments),
                "principal_mode": self.principal_mode,
            },
        }


# -- validation -----------------------------------------------------------------------------------


def _locate(text: str, key_path: str) -> int | None:
    """Best-effort 1-based line of ``key_path`` in a deal file (tables, arrays of tables, ``key =``)."""
    parts = [p for p in key_path.split(".") if p]
    lines = text.splitlines()
    start = 0
    for depth, part in enumerate(parts):
        m = re.fullmatch(r"([A-Za-z0-9_]+)\[(\d+)\]", part)
        if m:
            header = re.compile(
                r"^\s*\[\[\s*" + re.escape(".".join([*parts[:depth], m.group(1)])) + r"\s*\]\]"
            )
            seen = -1
            for i in range(start, len(lines)):
                if header.match(lines[i]):
                    seen += 1
                    if seen == int(m.group(2)):
                        start = i
                        break
            else:
                return None
            continue
        table = re.compile(r"^\s*\[\s*" + re.escape(".".join(parts[: depth + 1])) + r"\s*\]")
        key = re.compile(r"^\s*" + re.escape(part) + r"\s*=")
        for i in range(start, len(lines)):
            if table.match(lines[i]) or key.match(lines[i]):
                start = i
                break
        else:
            return start + 1 if depth else None
    return start + 1


class _Checker:
    """Reads one deal document, raising :class:`DealFileError` at the first broken rule."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, key_path: str, rule: str, problem: str) -> DealFileError:
        line = _locate(self.text, key_path) if self.text and key_path else None
        return DealFileError(key_path, rule, problem, path=self.path, line=line)

    def table(self, doc: Mapping[str, Any], key: str, where: str, allowed: set[str]) -> Mapping[str, Any]:
        path = f"{where}.{key}" if where else key
        if key not in doc:
            raise self.fail(path, "required", f"the table [{path}] is required")
        value = doc[key]
        if not isinstance(value, dict):
            raise self.fail(path, "type", "expected a table")
        self.known(value, allowed, path)
        return value

    def tables(
        self, doc: Mapping[str, Any], key: str, allowed: set[str], *, minimum: int
    ) -> list[Mapping[str, Any]]:
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, "type", f"expected an array of tables [[{key}]]")
        if len(value) < minimum:
            raise self.fail(
                key, "required", f"at least {minimum} [[{key}]] entr{'y' if minimum == 1 else 'ies'}"
            )
        for i, v in enumerate(value):
            self.known(v, allowed, f"{key}[{i}]")
        return value

    def known(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for k in table:
            if k not in allowed:
                path = f"{where}.{k}" if where else k
                raise self.fail(
                    path, "unknown_key", f"unknown key {k!r}; allowed: {', '.join(sorted(allowed))}"
                )

    def integer(
        self, table: Mapping[str, Any], key: str, where: str, lo: int = 0, hi: int = MAX_AMOUNT,
        default: int | None = None,
    ) -> int:  # fmt: skip
        path = f"{where}.{key}" if where else key
        if key not in table:
            if default is not None:
                return default
            raise self.fail(path, "required", f"{key} is required")
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, "type", f"expected an integer, got {type(value).__name__}")
        if not lo <= value <= hi:
            raise self.fail(path, "range", f"{value} is outside [{lo}, {hi}]")
        return value

    def string(self, table: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> str:
        path = f"{where}.{key}" if where else key
        if key not in table:
            raise self.fail(path, "required", f"{key} is required")
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(path, "type", f"expected a string, got {type(value).__name__}")
        if not pattern.fullmatch(value):
            raise self.fail(path, "pattern", f"{value[:40]!r} does not match {pattern.pattern}")
        return value

    def choice(self, table: Mapping[str, Any], key: str, where: str, options: Sequence[str]) -> str:
        path = f"{where}.{key}" if where else key
        value = table.get(key)
        if key not in table:
            raise self.fail(path, "required", f"{key} is required (one of {', '.join(options)})")
        if value not in options:
            raise self.fail(path, "choice", f"{str(value)[:40]!r} is not one of {', '.join(options)}")
        return str(value)

    def day(self, table: Mapping[str, Any], key: str) -> str:
        if key not in table:
            raise self.fail(key, "required", f"{key} is required")
        value = table[key]
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise self.fail(key, "type", "expected an ISO 8601 date (YYYY-MM-DD)")

    def bounds(self, table: Mapping[str, Any], key: str, where: str, hi: int) -> Bounds:
        path = f"{where}.{key}"
        value = table.get(key)
        if key not in table:
            raise self.fail(path, "required", f"{key} is required as [min, max]")
        if (
            not isinstance(value, list)
            or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
        ):
            raise self.fail(path, "type", "expected [min, max], two integers")
        lo, up = value
        if not 0 <= lo <= up <= hi:
            raise self.fail(path, "range", f"expected 0 <= min <= max <= {hi}, got [{lo}, {up}]")
        return Bounds(lo, up)


_TOP: Final = {
    "format", "deal_id", "version", "pool_id", "currency", "closing_date", "initial_pool_balance_fen",
    "revolving_periods", "purchase_criteria", "concentration_limits", "triggers", "tranches", "fees",
    "reserve", "priority_of_payments",
}  # fmt: skip
_CRITERIA: Final = {
    "max_days_past_due", "nominal_rate_bps", "apr_bps", "original_term_months", "remaining_term_months",
    "max_balance_fen", "excluded_regions", "legal_rate_cap_bps",
}  # fmt: skip


def _criteria(ck: _Checker, doc: Mapping[str, Any]) -> PurchaseCriteria:
    where = "purchase_criteria"
    t = ck.table(doc, where, "", set(_CRITERIA))
    cap = ck.integer(t, "legal_rate_cap_bps", where, 1, MAX_BPS)
    nominal = ck.bounds(t, "nominal_rate_bps", where, MAX_BPS)
    apr = ck.bounds(t, "apr_bps", where, MAX_BPS)
    for key, b in (("nominal_rate_bps", nominal), ("apr_bps", apr)):
        if b.hi > cap:
            raise ck.fail(
                f"{where}.{key}", "legal_cap", f"the upper bound {b.hi} exceeds legal_rate_cap_bps {cap}"
            )
    regions = t.get("excluded_regions", [])
    if not isinstance(regions, list) or not all(isinstance(r, str) and r for r in regions):
        raise ck.fail(f"{where}.excluded_regions", "type", "expected a list of non-empty region codes")
    if len(set(regions)) != len(regions):
        raise ck.fail(f"{where}.excluded_regions", "unique", "a region is listed twice")
    return PurchaseCriteria(
        max_days_past_due=ck.integer(t, "max_days_past_due", where, 0, 10_000),
        legal_rate_cap_bps=cap,
        nominal_rate_bps=nominal,
        apr_bps=apr,
        original_term_months=ck.bounds(t, "original_term_months", where, 600),
        remaining_term_months=ck.bounds(t, "remaining_term_months", where, 600),
        max_balance_fen=ck.integer(t, "max_balance_fen", where, 1),
        excluded_regions=tuple(sorted(regions)),
    )


def _unique_ids(ck: _Checker, entries: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    ids = [ck.string(e, "id", f"{key}[{i}]", _ID_RE) for i, e in enumerate(entries)]
    for i, x in enumerate(ids):
        if x in ids[:i]:
            raise ck.fail(f"{key}[{i}].id", "unique", f"id {x!r} is used twice")
    return ids


def _triggers(ck: _Checker, doc: Mapping[str, Any]) -> tuple[Trigger, ...]:
    entries = ck.tables(doc, "triggers", {"id", "kind", "level_bps", "effect", "cure_periods"}, minimum=0)
    ids = _unique_ids(ck, entries, "triggers")
    out = []
    for i, (e, tid) in enumerate(zip(entries, ids, strict=True)):
        where = f"triggers[{i}]"
        kind = ck.choice(e, "kind", where, TRIGGER_KINDS)
        if kind == "excess_spread":
            level = ck.integer(e, "level_bps", where, 0, 0, default=0)
        else:
            level = ck.integer(e, "level_bps", where, 1, MAX_BPS)
        effect = ck.choice(e, "effect", where, TRIGGER_EFFECTS)
        cure: int | None = None
        if "cure_periods" in e:
            cure = ck.integer(e, "cure_periods", where, 1, 120)
            if kind == "cumulative_default_rate":
                # A cumulative figure never falls (defaults only add up), so a cure rule on it could
                # only fire by a change of definition: refuse it rather than pretend.
                raise ck.fail(f"{where}.cure_periods", "no_cure", "a cumulative default trigger cannot cure")
            if effect == "event_of_default":
                raise ck.fail(f"{where}.cure_periods", "no_cure", "an event of default does not cure")
        out.append(Trigger(tid, kind, level, effect, cure))
    return tuple(out)


def _tranches(ck: _Checker, doc: Mapping[str, Any]) -> tuple[Tranche, ...]:
    entries = ck.tables(doc, "tranches", {"id", "balance_fen", "coupon_bps"}, minimum=1)
    ids = _unique_ids(ck, entries, "tranches")
    return tuple(
        Tranche(
            tid,
            ck.integer(e, "balance_fen", f"tranches[{i}]", 1),
            ck.integer(e, "coupon_bps", f"tranches[{i}]", 0, 5_000),
        )
        for i, (e, tid) in enumerate(zip(entries, ids, strict=True))
    )


def _priority(
    ck: _Checker, doc: Mapping[str, Any], tranches: Sequence[Tranche]
) -> tuple[tuple[str, ...], str]:
    where = "priority_of_payments"
    t = ck.table(doc, where, "", {"steps", "principal_mode"})
    steps = t.get("steps")
    path = f"{where}.steps"
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise ck.fail(path, "type", "expected a list of step names")
    expected = [*PLAIN_STEPS, *(f"interest:{x.id}" for x in tranches)]
    for s in steps:
        if s not in expected:
            raise ck.fail(path, "step", f"unknown step {s[:40]!r}; steps are {', '.join(expected)}")
    for s in expected:
        if steps.count(s) != 1:
            raise ck.fail(path, "step", f"step {s!r} must appear exactly once")
    if steps[-1] != "residual":
        raise ck.fail(path, "order", "residual must be the last step")
    interest = [s for s in steps if s.startswith("interest:")]
    if interest != [f"interest:{x.id}" for x in tranches]:
        raise ck.fail(path, "order", "tranche interest must be paid in tranche (seniority) order")
    if steps.index("senior_fees") > steps.index(interest[0]):
        raise ck.fail(path, "order", "senior fees come before tranche interest")
    mode = ck.choice(t, "principal_mode", where, PRINCIPAL_MODES)
    return tuple(steps), mode


def parse_deal(doc: Mapping[str, Any], *, path: str = "", text: str = "") -> Deal:
    """Validate a parsed deal document; return the :class:`Deal`.

    ``path`` and ``text`` (the file name and source) only make errors point at a line.

    Raises:
        DealFileError: the first key that breaks a rule, with the key path and the rule's name.
    """
    ck = _Checker(path, text)
    if not isinstance(doc, Mapping):
        raise ck.fail("", "type", "a deal is a TOML table")
    ck.known(doc, set(_TOP), "")
    if doc.get("format") != DEAL_FORMAT:
        raise ck.fail("format", "format", f"expected format = {DEAL_FORMAT!r}")
    deal_id = ck.string(doc, "deal_id", "", _ID_RE)
    version = ck.integer(doc, "version", "", 1, 1_000_000)
    pool_id = ck.string(doc, "pool_id", "", _POOL_RE)
    currency = ck.string(doc, "currency", "", re.compile(r"[A-Z]{3}"))
    closing = ck.day(doc, "closing_date")
    initial = ck.integer(doc, "initial_pool_balance_fen", "", 1)
    revolving = ck.integer(doc, "revolving_periods", "", 0, 120)
    criteria = _criteria(ck, doc)
    limits_doc = ck.tables(doc, "concentration_limits", {"id", "dimension", "max_share_bps"}, minimum=0)
    limit_ids = _unique_ids(ck, limits_doc, "concentration_limits")
    limits = tuple(
        ConcentrationLimit(
            lid,
            ck.choice(e, "dimension", f"concentration_limits[{i}]", CONCENTRATION_DIMENSIONS),
            ck.integer(e, "max_share_bps", f"concentration_limits[{i}]", 1, MAX_BPS),
        )
        for i, (e, lid) in enumerate(zip(limits_doc, limit_ids, strict=True))
    )
    triggers = _triggers(ck, doc)
    tranches = _tranches(ck, doc)
    notes = sum(t.balance_fen for t in tranches)
    if notes > initial:
        raise ck.fail(
            "tranches",
            "collateral",
            f"the tranches total {notes}, more than the initial pool balance {initial}",
        )
    fees_doc = ck.table(doc, "fees", "", {"fixed_fen", "servicing_bps"})
    fees = Fees(
        ck.integer(fees_doc, "fixed_fen", "fees"), ck.integer(fees_doc, "servicing_bps", "fees", 0, 1_000)
    )
    reserve_doc = ck.table(doc, "reserve", "", {"initial_fen", "target_fen"})
    reserve = Reserve(
        ck.integer(reserve_doc, "initial_fen", "reserve"), ck.integer(reserve_doc, "target_fen", "reserve")
    )
    steps, mode = _priority(ck, doc, tranches)
    return Deal(
        deal_id, version, pool_id, currency, closing, initial, revolving, criteria, limits, triggers,
        tranches, fees, reserve, steps, mode,
    )  # fmt: skip


def load_deal(path: str | Path) -> Deal:
    """Read and validate a deal TOML file.

    Raises:
        DealFileError: unreadable file, TOML syntax error (with its line) or a broken rule.
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DealFileError("", "read", f"cannot read file: {exc.strerror or exc}", path=str(p)) from None
    except UnicodeDecodeError as exc:
        raise DealFileError("", "encoding", f"not UTF-8 (byte offset {exc.start})", path=str(p)) from None
    return parse_deal_text(text, path=str(p))


def parse_deal_text(text: str, *, path: str = "") -> Deal:
    """Parse and validate deal TOML source. Raises :class:`DealFileError`."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        raise DealFileError(
            "", "syntax", f"TOML syntax error: {exc}", path=path, line=int(match.group(1)) if match else None
        ) from None
    return parse_deal(doc, path=path, text=text)


# -- the hash and its binding ---------------------------------------------------------------------


def deal_hash(deal: Deal) -> bytes:
    """SHA-256 of the domain-separated canonical JSON of :meth:`Deal.to_dict` (32 bytes)."""
    return document_hash(DEAL_HASH_DOMAIN, deal.to_dict())


def deal_binding(deal: Deal) -> dict[str, Any]:
    """The ``extensions.deal`` member that binds a document to ``deal``."""
    return {"deal_id": deal.deal_id, "version": deal.version, "deal_hash": deal_hash(deal).hex()}


def bind_deal(doc: Mapping[str, Any], deal: Deal) -> dict[str, Any]:
    """A copy of ``doc`` (unsigned) with ``extensions.deal`` set to :func:`deal_binding` ``(deal)``.

    Sign the result afterwards: the binding is part of what the signature covers.
    """
    ext = dict(doc.get(EXTENSIONS) or {})
    ext[DEAL_EXTENSION] = deal_binding(deal)
    return {**{k: v for k, v in doc.items() if k != "signatures"}, EXTENSIONS: ext}


def check_deal_binding(doc: Mapping[str, Any], deal: Deal) -> None:
    """Check that ``doc`` names exactly ``deal`` in ``extensions.deal``; return ``None``.

    Raises:
        VerificationError: ``deal.binding`` (no binding, or another deal, version or hash).
    """
    ext = doc.get(EXTENSIONS)
    bound = ext.get(DEAL_EXTENSION) if isinstance(ext, Mapping) else None
    if not isinstance(bound, Mapping):
        raise VerificationError("deal.binding", "the document names no deal (extensions.deal is missing)")
    expected = deal_binding(deal)
    for key in ("deal_id", "version", "deal_hash"):
        if bound.get(key) != expected[key]:
            raise VerificationError(
                "deal.binding",
                f"the document is bound to {key} {str(bound.get(key))[:80]!r}, not {expected[key]!r}",
            )
