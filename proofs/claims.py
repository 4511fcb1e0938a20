"""Claims on aggregate commitments: ratio and bound claims by range proofs, disclosures by opening proofs.

A verifier holds one commitment per *metric* (a public linear combination of lane aggregates that
it computed itself by summing leaf commitments). A claim is a statement about the committed metric
values; the prover (gateway) holds their openings.

**Range claims.** Every range claim compiles to one or two *linear constraints*
``x_j = Σ c_ji·M_i + d_j >= 0`` with public integer coefficients (DESIGN.md "Claims on aggregates"):

* :class:`RatioClaim` ``A/B <= p/q`` is ``p·B − q·A >= 0``; ``A/B >= p/q`` is ``q·A − p·B >= 0``
  (the cross-multiplied form: for ``B = 0`` it says ``A = 0`` resp. nothing);
* :class:`BoundClaim` ``lo <= A <= hi`` is ``A − lo >= 0`` and ``hi − A >= 0`` (one side may be absent);
* :class:`RatioBetweenClaim` ``lo_p/lo_q <= A/B <= hi_p/hi_q`` is both ratio constraints.

For each constraint both sides compute the derived commitment ``D_j = Σ c_ji·C_i + d_j·G``, which
commits to ``x_j mod r`` with blinding ``Σ c_ji·r_i``; one aggregated Bulletproofs range proof
(m = number of constraints) shows every ``x_j mod r`` lies in ``[0, 2^k)``.

*Why this proves the real inequality.* Each statement declares ``value_bits``: every metric it
names is an integer in ``[0, 2^value_bits)``. The verifier must make sure this holds for the
commitments it passes in — for an aggregate of ``N`` range-proven leaves of ``n``-bit lanes with
coefficient sum ``s``, ``s·N·(2^n − 1) < 2^value_bits`` (see :func:`metric_value_bits`). Then the
real integer ``x_j`` lies in ``[−neg_j, pos_j]`` where ``pos_j``/``neg_j`` sum the positive/negative
terms at their extremes. ``k`` is the smallest allowed size with ``pos_j < 2^k`` (so honest
claims are provable), and the statement is rejected unless ``2^k + neg_j <= r``. If ``x_j`` were
negative, ``x_j mod r = r + x_j >= r − neg_j >= 2^k`` and no range proof could exist (Bulletproofs
soundness); so an accepted proof implies ``x_j >= 0`` over the integers, i.e. the claimed inequality.

**Disclosures.** :class:`Disclosure` reveals a metric's exact value ``v``: the proof is ``v`` plus a
Schnorr proof of knowledge (Schnorr, J. Cryptology 1991) of ``ρ`` with ``C − v·G = ρ·H``, made
non-interactive with the same transcript. By binding of ``C`` this shows ``C`` commits to ``v``.
Unlike handing out the raw opening, it keeps the blinding secret and binds the answer to the
request ``context`` like every other claim (DESIGN.md says "the opening"; see docs/decisions.md).

**Transcript.** ``Transcript(b"poolproof/claim/v1")`` absorbs, in order: ``context`` (the caller
passes snapshot header hash and requester nonce), the canonical statement bytes, every named
metric and its commitment, then for range claims ``k``, ``m`` and the derived commitments before
the range proof (which absorbs its own generator set and messages); for disclosures the value and
the nonce commitment ``R`` before the challenge.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from proofs import bundle
from proofs.bulletproofs import RangeProof, prove_range, verify_range
from proofs.canonical import MAX_SAFE_INTEGER, canonical_json
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.generators import pedersen_bases
from proofs.group import (
    ORDER,
    POINT_BYTES,
    SCALAR_BYTES,
    Group,
    Point,
    ScalarSource,
    random_scalar,
    scalar_from_bytes,
)
from proofs.pedersen import Opening, commit, commit_opening
from proofs.transcript import Transcript

#: Transcript protocol label (name and version) of claim proofs.
PROTOCOL: Final = b"poolproof/claim/v1"
#: Bundle kind and version of serialised claim proofs (``"format": "poolproof/claim-proof/v1"``).
PROOF_KIND: Final = "claim-proof"
PROOF_VERSION: Final = 1
#: Range-proof bit sizes a claim may use (Bulletproofs needs m·k a power of two).
ALLOWED_BITS: Final = (8, 16, 32, 64, 128)
#: A 128-bit range is proven as two 64-bit limbs (see :func:`prove_claim`).
_LIMB_BITS: Final = 64
#: Largest declared metric size; keeps every constraint far from wrapping mod r.
MAX_VALUE_BITS: Final = 64
#: A pool metric (up to 64 characters) or a cell's metric, ``strata/<dimension>/<cell>/<metric>``
#: (:mod:`proofs.cell_claims`).
_METRIC_RE: Final = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9_.+/-]{0,63}|strata/[a-z][a-z0-9_]{0,31}/[A-Za-z0-9][A-Za-z0-9_.+-]{0,47}/[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}"
)

# -- statements ----------------------------------------------------------------------------------


def _check_metric(name: object, field: str) -> None:
    if not isinstance(name, str) or not _METRIC_RE.fullmatch(name):
        raise ValueError(f"{field}: metric name must match {_METRIC_RE.pattern}")


def _check_int(value: object, field: str, minimum: int = 0, maximum: int = MAX_SAFE_INTEGER) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field}: expected an int, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{field}: {value} is outside [{minimum}, {maximum}]")


def _check_value_bits(value_bits: object) -> None:
    _check_int(value_bits, "value_bits", 1, MAX_VALUE_BITS)


@dataclass(frozen=True)
class Constraint:
    """``Σ coeff·metric + constant >= 0`` over the integers (the compiled form of a range claim)."""

    terms: tuple[tuple[str, int], ...]
    constant: int

    def value(self, values: Mapping[str, int]) -> int:
        """The real integer ``x`` for plaintext metric values."""
        return sum(c * values[m] for m, c in self.terms) + self.constant

    def commitment(self, group: Group, commitments: Mapping[str, Point]) -> Point:
        """``D = Σ coeff·C_metric + constant·G``: commits to ``x mod r``."""
        g, _ = pedersen_bases(group)
        points = [commitments[m] for m, _ in self.terms] + [g]
        return group.msm(points, [c for _, c in self.terms] + [self.constant])

    def blinding(self, openings: Mapping[str, Opening]) -> int:
        """The blinding of :meth:`commitment`: ``Σ coeff·r_metric mod r``."""
        return sum(c * openings[m].blinding for m, c in self.terms) % ORDER

    def extremes(self, value_bits: int) -> tuple[int, int]:
        """``(pos, neg)`` with ``x`` in ``[−neg, pos]`` whenever every metric is in ``[0, 2^value_bits)``."""
        top = (1 << value_bits) - 1
        pos = sum(c for _, c in self.terms if c > 0) * top + max(self.constant, 0)
        neg = sum(-c for _, c in self.terms if c < 0) * top + max(-self.constant, 0)
        return pos, neg


def _range_bits(constraints: Sequence[Constraint], value_bits: int) -> int:
    """Smallest allowed ``k`` with every ``pos < 2^k``; checks ``2^k + neg <= r`` (see module docstring)."""
    need = max(c.extremes(value_bits)[0] for c in constraints).bit_length()
    for k in ALLOWED_BITS:
        if need <= k:
            if any((1 << k) + c.extremes(value_bits)[1] > ORDER for c in constraints):
                raise ValueError("claim could wrap modulo r")  # pragma: no cover - impossible with the caps
            return k
    raise ValueError(
        f"claim needs {need}-bit range proofs; at most {ALLOWED_BITS[-1]} are supported "
        "(lower value_bits or the ratio's p and q)"
    )


def _check_provable(value_bits: int, constraints: Sequence[Constraint]) -> None:
    """Raise ``ValueError`` unless ``value_bits`` is allowed and ``constraints`` fit an allowed range size."""
    _check_value_bits(value_bits)
    _range_bits(constraints, value_bits)


def _statement_dict(kind: str, statement: ClaimStatement) -> dict[str, Any]:
    """``{"type": kind}`` followed by the statement's fields, in declaration order."""
    return {"type": kind, **{f.name: getattr(statement, f.name) for f in dataclasses.fields(statement)}}


@dataclass(frozen=True)
class _MetricRatio:
    """The two metrics of a ratio ``metric_num / metric_den``, checked to be distinct metric names."""

    metric_num: str
    metric_den: str

    def __post_init__(self) -> None:
        _check_metric(self.metric_num, "metric_num")
        _check_metric(self.metric_den, "metric_den")
        if self.metric_num == self.metric_den:
            raise ValueError("metric_num and metric_den must differ")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics this claim is about, in transcript order."""
        return (self.metric_num, self.metric_den)


@dataclass(frozen=True)
class RatioClaim(_MetricRatio):
    """``metric_num / metric_den  op  p / q`` with ``op`` ``"<="`` or ``">="`` (cross-multiplied)."""

    op: Literal["<=", ">="]
    p: int
    q: int
    value_bits: int = 48

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.op not in ("<=", ">="):
            raise ValueError("op must be '<=' or '>='")
        _check_int(self.p, "p", 0)
        _check_int(self.q, "q", 1)
        _check_provable(self.value_bits, self.constraints())

    def constraints(self) -> tuple[Constraint, ...]:
        """``p·B − q·A >= 0`` for ``<=``; ``q·A − p·B >= 0`` for ``>=``."""
        a, b = self.metric_num, self.metric_den
        if self.op == "<=":
            return (Constraint(((b, self.p), (a, -self.q)), 0),)
        return (Constraint(((a, self.q), (b, -self.p)), 0),)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (also the canonical statement bytes, via :func:`statement_bytes`)."""
        return _statement_dict("ratio", self)


@dataclass(frozen=True)
class BoundClaim:
    """``lo <= metric <= hi``; either bound may be ``None`` (one-sided), not both."""

    metric: str
    lo: int | None
    hi: int | None
    value_bits: int = 48

    def __post_init__(self) -> None:
        _check_metric(self.metric, "metric")
        if self.lo is None and self.hi is None:
            raise ValueError("a bound claim needs lo, hi or both")
        if self.lo is not None:
            _check_int(self.lo, "lo")
        if self.hi is not None:
            _check_int(self.hi, "hi")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError("lo must not exceed hi")
        _check_provable(self.value_bits, self.constraints())

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics this claim is about, in transcript order."""
        return (self.metric,)

    def constraints(self) -> tuple[Constraint, ...]:
        """``metric − lo >= 0`` and/or ``hi − metric >= 0``."""
        out = []
        if self.lo is not None:
            out.append(Constraint(((self.metric, 1),), -self.lo))
        if self.hi is not None:
            out.append(Constraint(((self.metric, -1),), self.hi))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return _statement_dict("bound", self)


@dataclass(frozen=True)
class RatioBetweenClaim(_MetricRatio):
    """``lo_p/lo_q <= metric_num/metric_den <= hi_p/hi_q`` (two constraints, one m=2 proof)."""

    lo_p: int
    lo_q: int
    hi_p: int
    hi_q: int
    value_bits: int = 48

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int(self.lo_p, "lo_p", 0)
        _check_int(self.lo_q, "lo_q", 1)
        _check_int(self.hi_p, "hi_p", 0)
        _check_int(self.hi_q, "hi_q", 1)
        if self.lo_p * self.hi_q > self.hi_p * self.lo_q:
            raise ValueError("lower ratio must not exceed the upper ratio")
        _check_provable(self.value_bits, self.constraints())

    def constraints(self) -> tuple[Constraint, ...]:
        """``lo_q·A − lo_p·B >= 0`` and ``hi_p·B − hi_q·A >= 0``."""
        a, b = self.metric_num, self.metric_den
        return (
            Constraint(((a, self.lo_q), (b, -self.lo_p)), 0),
            Constraint(((b, self.hi_p), (a, -self.hi_q)), 0),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return _statement_dict("ratio_between", self)


@dataclass(frozen=True)
class Disclosure:
    """Reveal the exact value of ``metric`` (the proof carries the value)."""

    metric: str

    def __post_init__(self) -> None:
        _check_metric(self.metric, "metric")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics this claim is about."""
        return (self.metric,)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return _statement_dict("disclosure", self)


RangeClaim = RatioClaim | BoundClaim | RatioBetweenClaim
ClaimStatement = RatioClaim | BoundClaim | RatioBetweenClaim | Disclosure


def statement_bytes(statement: ClaimStatement) -> bytes:
    """The canonical encoding of a statement: RFC 8785 canonical JSON of ``statement.to_dict()``."""
    return canonical_json(statement.to_dict())


def statement_from_dict(doc: object) -> ClaimStatement:
    """Parse a statement's JSON form (inverse of ``to_dict``).

    Raises:
        EncodingError: unknown type, missing/unknown/ill-typed members, or an invalid statement.
    """
    if not isinstance(doc, Mapping):
        raise EncodingError("statement: expected an object")
    kind = doc.get("type")
    fields: dict[str, tuple[type[Any], ...]]
    cls: type[ClaimStatement]
    if kind == "ratio":
        cls, fields = RatioClaim, {"metric_num": (str,), "metric_den": (str,), "op": (str,), "p": (int,),
                                   "q": (int,), "value_bits": (int,)}  # fmt: skip
    elif kind == "bound":
        cls = BoundClaim
        fields = {"metric": (str,), "lo": (int, type(None)), "hi": (int, type(None)), "value_bits": (int,)}
    elif kind == "ratio_between":
        cls, fields = RatioBetweenClaim, {"metric_num": (str,), "metric_den": (str,), "lo_p": (int,),
                                          "lo_q": (int,), "hi_p": (int,), "hi_q": (int,),
                                          "value_bits": (int,)}  # fmt: skip
    elif kind == "disclosure":
        cls, fields = Disclosure, {"metric": (str,)}
    else:
        raise EncodingError(f"statement.type: unknown claim type {str(kind)[:40]!r}")
    extra = set(doc) - set(fields) - {"type"}
    if extra:
        raise EncodingError(f"statement.{sorted(extra)[0]}: unknown member")
    kwargs: dict[str, Any] = {}
    for name, types in fields.items():
        if name not in doc:
            raise EncodingError(f"statement.{name}: missing")
        value = doc[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise EncodingError(f"statement.{name}: wrong type {type(value).__name__}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise EncodingError(f"statement: {exc}") from None


def metric_value_bits(leaf_count: int, lane_bits: int, coefficient_sum: int = 1) -> int:
    """Bits needed for a metric summing ``coefficient_sum`` lanes of ``lane_bits`` over ``leaf_count`` leaves.

    A verifier uses this to check a statement's ``value_bits`` against the snapshot it verifies:
    the metric is at most ``coefficient_sum · leaf_count · (2^lane_bits − 1)``.
    """
    _check_int(leaf_count, "leaf_count", 0, 2**62)
    _check_int(lane_bits, "lane_bits", 1, 64)
    _check_int(coefficient_sum, "coefficient_sum", 1, 2**16)
    return max(1, (coefficient_sum * leaf_count * ((1 << lane_bits) - 1)).bit_length())


# -- proofs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimProof:
    """A proof of one claim statement.

    Range claims carry ``n_bits`` (k) and the serialised aggregated range proof; disclosures carry
    the disclosed ``value`` and the Schnorr proof ``(nonce_commitment, response)``.
    """

    kind: Literal["range", "disclosure"]
    n_bits: int | None = None
    range_proof: bytes | None = None
    value: int | None = None
    nonce_commitment: Point | None = None
    response: int | None = None
    high_limbs: tuple[Point, ...] | None = None

    def __post_init__(self) -> None:
        range_fields = (self.n_bits, self.range_proof)
        disclosure_fields = (self.value, self.nonce_commitment, self.response)
        if self.kind == "range":
            ok = None not in range_fields and disclosure_fields == (None, None, None)
        elif self.kind == "disclosure":
            ok = None not in disclosure_fields and range_fields == (None, None)
        else:
            raise ValueError("kind must be 'range' or 'disclosure'")
        if not ok:
            raise ValueError(f"a {self.kind} proof needs exactly the {self.kind} fields")
        if (self.high_limbs is not None) != (self.kind == "range" and self.n_bits == 2 * _LIMB_BITS):
            raise ValueError("high_limbs go with 128-bit range proofs, and only with them")

    def to_dict(self) -> dict[str, Any]:
        """The bundle form (``"format": "poolproof/claim-proof/v1"``, lowercase hex binary fields)."""
        doc: dict[str, Any] = {"format": bundle.format_string(PROOF_KIND, PROOF_VERSION), "kind": self.kind}
        if self.kind == "range":
            assert self.n_bits is not None  # guaranteed by __post_init__
            assert self.range_proof is not None
            doc["n_bits"] = self.n_bits
            doc["range_proof"] = bundle.encode_bytes(self.range_proof)
            if self.high_limbs is not None:
                doc["high_limbs"] = [bundle.encode_bytes(p.to_bytes()) for p in self.high_limbs]
        else:
            assert self.value is not None  # guaranteed by __post_init__
            assert self.nonce_commitment is not None
            assert self.response is not None
            doc["value"] = str(self.value)  # decimal string: values may exceed 2^53
            doc["nonce_commitment"] = bundle.encode_bytes(self.nonce_commitment.to_bytes())
            doc["response"] = bundle.encode_bytes(self.response.to_bytes(SCALAR_BYTES, "big"))
        return doc

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes of :meth:`to_dict` (with a final newline)."""
        return bundle.dump_bundle(self.to_dict())

    @classmethod
    def from_dict(cls, group: Group, doc: object) -> ClaimProof:
        """Parse and check the bundle form.

        Raises:
            EncodingError: wrong format/version, unknown or missing members, bad hex, a point not
                in G1, a non-canonical scalar or value.
        """
        if not isinstance(doc, Mapping):
            raise EncodingError("(document): expected a JSON object")
        kind = doc.get("kind")
        fmt = bundle.Const(bundle.format_string(PROOF_KIND, PROOF_VERSION))
        if kind == "range":
            schema = bundle.Object(
                {
                    "format": fmt,
                    "kind": bundle.Const("range"),
                    "n_bits": bundle.Int(min(ALLOWED_BITS), max(ALLOWED_BITS)),
                    "range_proof": bundle.Bytes(max_length=1 << 20),
                    "high_limbs": bundle.ListOf(bundle.Bytes(POINT_BYTES), 1, 2),
                },
                optional=frozenset({"high_limbs"}),
            )
            bundle.check_document(doc, PROOF_KIND, {PROOF_VERSION}, schema)
            if doc["n_bits"] not in ALLOWED_BITS:
                raise EncodingError(f"n_bits: must be one of {ALLOWED_BITS}")
            if ("high_limbs" in doc) != (doc["n_bits"] == 2 * _LIMB_BITS):
                raise EncodingError("high_limbs: present exactly for 128-bit range proofs")
            data = bundle.decode_bytes(doc["range_proof"], "range_proof")
            limbs = None
            if "high_limbs" in doc:
                limbs = tuple(
                    group.decode_point(bundle.decode_bytes(h, f"high_limbs[{i}]"), allow_identity=True)
                    for i, h in enumerate(doc["high_limbs"])
                )
            return cls("range", n_bits=doc["n_bits"], range_proof=data, high_limbs=limbs)
        if kind == "disclosure":
            schema = bundle.Object(
                {
                    "format": fmt,
                    "kind": bundle.Const("disclosure"),
                    "value": bundle.Str(78, r"0|[1-9][0-9]*"),
                    "nonce_commitment": bundle.Bytes(POINT_BYTES),
                    "response": bundle.Bytes(SCALAR_BYTES),
                }
            )
            bundle.check_document(doc, PROOF_KIND, {PROOF_VERSION}, schema)
            value = int(doc["value"])
            if value >= ORDER:
                raise EncodingError("value: not below the group order")
            nonce = group.decode_point(bundle.decode_bytes(doc["nonce_commitment"], "nonce_commitment"))
            response = scalar_from_bytes(bundle.decode_bytes(doc["response"], "response"))
            return cls("disclosure", value=value, nonce_commitment=nonce, response=response)
        raise EncodingError(f"kind: expected 'range' or 'disclosure', got {str(kind)[:40]!r}")

    @classmethod
    def from_bytes(cls, group: Group, data: bytes) -> ClaimProof:
        """Parse :meth:`to_bytes` output. Raises :class:`EncodingError` on malformed input."""
        return cls.from_dict(group, bundle.load_bundle(bytes(data)))


def _start_transcript(
    statement: ClaimStatement, commitments: Mapping[str, Point], context: bytes
) -> Transcript:
    t = Transcript(PROTOCOL)
    t.append_message(b"context", bytes(context))
    t.append_message(b"statement", statement_bytes(statement))
    for metric in statement.metrics:
        t.append_message(b"metric", metric.encode())
        t.append_point(b"commitment", commitments[metric])
    return t


def _bind_range(t: Transcript, k: int, derived: Sequence[Point]) -> None:
    t.append_u64(b"n_bits", k)
    t.append_u64(b"m", len(derived))
    t.append_points(b"derived", derived)


def _schnorr_challenge(t: Transcript, value: int, nonce_commitment: Point) -> int:
    t.append_scalar(b"value", value)
    t.append_point(b"nonce", nonce_commitment)
    return t.challenge_scalar(b"challenge")


def prove_claim(
    group: Group,
    statement: ClaimStatement,
    openings_by_metric: Mapping[str, Opening],
    *,
    context: bytes,
    rng: ScalarSource | None = None,
) -> ClaimProof:
    """Prove ``statement`` about the metrics whose openings are given; ``context`` binds the request.

    Raises:
        ProvingError: "claim does not hold" for a false statement; a metric without an opening;
            a metric value outside ``[0, 2^value_bits)``.
    """
    missing = [m for m in statement.metrics if m not in openings_by_metric]
    if missing:
        raise ProvingError(f"no opening for metric {missing[0]!r}")
    openings = {m: openings_by_metric[m] for m in statement.metrics}
    commitments = {m: commit_opening(group, o) for m, o in openings.items()}
    t = _start_transcript(statement, commitments, context)
    draw = rng or random_scalar

    if isinstance(statement, Disclosure):
        o = openings[statement.metric]
        _, h = pedersen_bases(group)
        nonce = draw() % ORDER
        nonce_commitment = nonce * h
        c = _schnorr_challenge(t, o.value, nonce_commitment)
        response = (nonce + c * o.blinding) % ORDER
        return ClaimProof("disclosure", value=o.value, nonce_commitment=nonce_commitment, response=response)

    bound = 1 << statement.value_bits
    for m, o in openings.items():
        if o.value >= bound:
            raise ProvingError(f"metric {m!r} exceeds the declared bound 2^{statement.value_bits}")
    constraints = statement.constraints()
    k = _range_bits(constraints, statement.value_bits)
    values = {m: o.value for m, o in openings.items()}
    xs = [c.value(values) for c in constraints]
    if any(x < 0 for x in xs):
        raise ProvingError("claim does not hold")
    derived = [c.commitment(group, commitments) for c in constraints]
    _bind_range(t, k, derived)
    blindings = [c.blinding(openings) for c in constraints]
    if k <= _LIMB_BITS:
        proof, vs = prove_range(group, xs, blindings, k, t, rng=rng)
        if list(vs) != derived:  # pragma: no cover - would be a bug in this module or in bulletproofs
            raise ProvingError("internal error: range-proof commitments differ from the derived commitments")
        return ClaimProof("range", n_bits=k, range_proof=proof.to_bytes())
    # k = 128: x = x_lo + 2^64·x_hi. Commit to x_hi with a fresh blinding; the verifier derives
    # C_lo = D − 2^64·C_hi, and one m = 2·len(xs) proof shows every limb is in [0, 2^64), hence
    # x mod r is in [0, 2^128) and the argument of the module docstring applies with k = 128.
    shift = 1 << _LIMB_BITS
    highs = [x >> _LIMB_BITS for x in xs]
    lows = [x & (shift - 1) for x in xs]
    high_blindings = [draw() % ORDER for _ in xs]
    high_commitments = tuple(commit(group, v, r) for v, r in zip(highs, high_blindings, strict=True))
    low_blindings = [(b - shift * rh) % ORDER for b, rh in zip(blindings, high_blindings, strict=True)]
    t.append_points(b"high_limbs", high_commitments)
    proof, _ = prove_range(group, lows + highs, low_blindings + high_blindings, _LIMB_BITS, t, rng=rng)
    return ClaimProof("range", n_bits=k, range_proof=proof.to_bytes(), high_limbs=high_commitments)


def verify_claim(
    group: Group,
    statement: ClaimStatement,
    commitments_by_metric: Mapping[str, Point],
    proof: ClaimProof,
    *,
    context: bytes,
) -> None:
    """Check ``proof`` for ``statement`` against the verifier's own metric commitments; return ``None``.

    The caller must have checked that every named metric is below ``2^statement.value_bits``
    (:func:`metric_value_bits`); see the module docstring for why that makes the proof sound.

    Raises:
        VerificationError: ``claim.commitment`` (a metric has no commitment), ``claim.kind``
            (proof type does not fit the statement), ``claim.bits`` (wrong range size),
            ``claim.encoding`` (malformed range proof), ``claim.range`` (range proof rejected),
            ``claim.disclosure`` (Schnorr check failed).
    """
    missing = [m for m in statement.metrics if m not in commitments_by_metric]
    if missing:
        raise VerificationError("claim.commitment", f"no commitment for metric {missing[0]!r}")
    commitments = {m: commitments_by_metric[m] for m in statement.metrics}
    t = _start_transcript(statement, commitments, context)

    if isinstance(statement, Disclosure):
        if proof.kind != "disclosure":
            raise VerificationError("claim.kind", "a disclosure needs a disclosure proof")
        assert proof.value is not None  # guaranteed by ClaimProof.__post_init__
        assert proof.nonce_commitment is not None
        assert proof.response is not None
        if not 0 <= proof.value < ORDER or not 0 <= proof.response < ORDER:
            raise VerificationError("claim.disclosure", "value or response out of range")
        c = _schnorr_challenge(t, proof.value, proof.nonce_commitment)
        g, h = pedersen_bases(group)
        target = commitments[statement.metric] - proof.value * g
        if proof.response * h != proof.nonce_commitment + c * target:
            raise VerificationError("claim.disclosure", "the commitment does not open to the disclosed value")
        return

    if proof.kind != "range":
        raise VerificationError("claim.kind", "a range claim needs a range proof")
    constraints = statement.constraints()
    k = _range_bits(constraints, statement.value_bits)
    if proof.n_bits != k:
        raise VerificationError("claim.bits", f"statement needs {k}-bit range proofs, not {proof.n_bits}")
    assert proof.range_proof is not None
    derived = [c.commitment(group, commitments) for c in constraints]
    _bind_range(t, k, derived)
    targets, n_bits = derived, k
    if k > _LIMB_BITS:
        if proof.high_limbs is None or len(proof.high_limbs) != len(constraints):
            raise VerificationError("claim.bits", "a 128-bit claim needs one high limb per constraint")
        shift = 1 << _LIMB_BITS
        lows = [d - shift * h for d, h in zip(derived, proof.high_limbs, strict=True)]
        t.append_points(b"high_limbs", proof.high_limbs)
        targets, n_bits = lows + list(proof.high_limbs), _LIMB_BITS
    try:
        rp = RangeProof.from_bytes(group, proof.range_proof, m=len(targets), n_bits=n_bits)
    except EncodingError as exc:
        raise VerificationError("claim.encoding", f"malformed range proof: {exc}") from None
    try:
        verify_range(group, targets, n_bits, rp, t)
    except VerificationError as exc:
        raise VerificationError("claim.range", str(exc)) from None
