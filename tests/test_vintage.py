"""Vintage curves over a synthetic revolving pool sealed month after month: every point against plain
pandas from the raw tapes, a malicious prover for every property the curve claims, tampering of every
bundle field.

The chain is the platform simulator's pool (``gateway.synth``) sealed under the pool statement with
a stratification table over ``region`` and ``vintage``; the reference reads the raw JSONL tapes with
pandas only (the loan states of ``tests/reference/abs_metrics.py``, no gateway code).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.importers.tape_v1 import write_jsonl
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.loan_facts import loan_facts, statement_lane_set
from gateway.synth import generate_tape, monthly_cutoff
from proofs import bundle
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import ORDER
from proofs.lanes import LaneSet
from proofs.loan_facts import LoanFacts
from proofs.sealing import seal_pool
from proofs.snapshot import SealParams, SnapshotContext, build_header, header_hash, loan_blindings
from proofs.strata import Table
from proofs.vintage import (
    RATES,
    PointRequest,
    months_on_book,
    prove_vintage_curve,
    verify_vintage_curve,
)
from tests.reference import abs_metrics as ref

START = date(2024, 6, 30)
POOL = "SYNTH-V"
DIMS = ("region", "vintage")
#: 24 loans, seed 24, five cut-offs: seasoned cohorts 2023-Q3 .. 2024-Q2, defaults (2023-Q3),
#: prepayments (2024-Q1 .. 2024-Q3) and revolving purchases (new 2024-Q3 and 2024-Q4 loans) from the
#: third month, so the newest cohorts are absent from the first tables and their entered principal grows.
N_LOANS, SEED, MONTHS = 24, 24, 5
NONCE = b"vintage-test-nonce"
BPS = 10_000


@dataclass
class SealedPool:
    key: Ed25519PrivateKey
    headers: list[dict[str, Any]]
    tables: list[Table]
    facts: list[list[LoanFacts]]
    seeds: list[bytes]
    lanes: LaneSet
    tapes: list[Path]
    cutoffs: list[date]
    keep: tempfile.TemporaryDirectory[str]

    def openings(self, cohort: str) -> list[tuple[list[int], list[int]] | None]:
        """The gateway's side: per snapshot the cohort cell's lane totals and input blinding sums."""
        out: list[tuple[list[int], list[int]] | None] = []
        for facts, seed in zip(self.facts, self.seeds, strict=True):
            members = [f for f in facts if f.labels["vintage"] == cohort]
            if not members:
                out.append(None)
                continue
            totals = [sum(col) for col in zip(*(self.lanes.facts_values(f) for f in members), strict=True)]
            blind = [
                sum(col) % ORDER
                for col in zip(
                    *(loan_blindings(seed, f.exposure_id, self.lanes) for f in members), strict=True
                )
            ]
            out.append((totals, blind))
        return out


def _record(row: dict[str, Any], cutoff: date) -> dict[str, Any]:
    return {**row, "exposure_id": row["platform_loan_id"], "cutoff_date": cutoff.isoformat()}


def seal_chain(
    pool_id: str = POOL, months: int = MONTHS, key: Ed25519PrivateKey | None = None, n_loans: int = N_LOANS
) -> SealedPool:
    keep = tempfile.TemporaryDirectory(prefix="poolproof-vintage-")
    key = key or Ed25519PrivateKey.generate()
    lanes = statement_lane_set(CN_CONSUMER)
    params = SealParams(lane_set=lanes.name, chunk_log2=5, ipa_rounds=2, strata_dimensions=DIMS)
    pool = SealedPool(key, [], [], [], [], lanes, [], [], keep)
    previous: bytes | None = None
    for k in range(months):
        cutoff = monthly_cutoff(START, k)
        rows = list(generate_tape(n_loans, seed=SEED, cutoff=START, pool_id=pool_id, month=k))
        path = Path(keep.name) / f"tape-{k}.jsonl"
        write_jsonl(iter(rows), str(path))
        facts = [loan_facts(_record(r, cutoff), CN_CONSUMER) for r in rows]
        facts = [
            LoanFacts(f.exposure_id, f.state, f.balance, f.flows, {d: f.labels[d] for d in DIMS})
            for f in facts
        ]
        context = SnapshotContext(f"S-{k}", pool_id, cutoff.isoformat(), lanes.name)
        seed = os.urandom(32)
        outcome = seal_pool(facts, context=context, params=params, seed=seed, sink=lambda _: None)
        assert outcome.strata is not None
        header = build_header(
            context=context,
            params=params,
            sequence=k + 1,
            previous_header_hash=previous,
            sealed_at=f"{cutoff.isoformat()}T23:00:00Z",
            leaf_count=outcome.leaf_count,
            merkle_root=outcome.merkle_root,
            currency="CNY",
            dpd_bucket_edges=(0, 30, 60, 90),
            aggregates=outcome.aggregates,
            policy_version="test-policy",
            packed_sums=outcome.packed_sums,
            aggregate_proof=outcome.aggregate_proof,
            strata_field=outcome.strata.header_field(),
        )
        header = bundle.sign_document(key, "snapshot-header", header)
        previous = header_hash(header)
        pool.headers.append(header)
        pool.tables.append(outcome.strata)
        pool.facts.append(facts)
        pool.seeds.append(seed)
        pool.tapes.append(path)
        pool.cutoffs.append(cutoff)
    return pool


@functools.cache
def sealed_pool() -> SealedPool:
    return seal_chain()


@pytest.fixture(scope="module")
def pool() -> SealedPool:
    return sealed_pool()


@functools.cache
def _exact_bundle(cohort: str) -> dict[str, Any]:
    pool = sealed_pool()
    return prove_vintage_curve(
        pool.headers, pool.key.public_key(), pool.tables, cohort, pool.openings(cohort), {}, NONCE
    )


def exact_bundle(cohort: str) -> dict[str, Any]:
    """The all-exact curve of ``cohort`` on the shared chain (proven once; a fresh copy each call)."""
    return copy.deepcopy(_exact_bundle(cohort))


def curve_bundle(
    pool: SealedPool,
    cohort: str,
    requests: dict[tuple[int, str], PointRequest] | None = None,
    *,
    headers: list[dict[str, Any]] | None = None,
    tables: list[Table] | None = None,
    openings: list[Any] | None = None,
) -> dict[str, Any]:
    return prove_vintage_curve(
        headers if headers is not None else pool.headers,
        pool.key.public_key(),
        tables if tables is not None else pool.tables,
        cohort,
        openings if openings is not None else pool.openings(cohort),
        requests or {},
        NONCE,
    )


# --- the plain-pandas reference ---------------------------------------------------------------------------
def raw_tape(path: Path) -> pd.DataFrame:
    """A raw tape as pandas reads it: the loan id, its cohort, state, balance and flows."""
    with open(path, encoding="utf-8") as f:
        t = pd.DataFrame([json.loads(line) for line in f if line.strip()])
    dpd = t["days_past_due"].fillna(0).astype(int)
    df = pd.DataFrame({"loan": t["platform_loan_id"].astype(str)})
    df["cohort"] = [ref.quarter(date.fromisoformat(o)) for o in t["origination_date"]]
    df["state"] = [ref.state_of(s, d) for s, d in zip(t["loan_status"], dpd, strict=True)]
    df["balance"] = t["current_principal_fen"].astype("int64")
    for name in ref.FLOWS:
        df[name] = t[f"period_{name}_fen"].astype("int64")
    return df


def reference_points(pool: SealedPool, cohort: str) -> list[dict[str, int]]:
    """Every point of the cohort's curve on the shared chain's raw tapes."""
    return reference_curve(pool.tapes, pool.cutoffs, cohort)


def reference_curve(paths: list[Path], cutoffs: list[date], cohort: str) -> list[dict[str, int]]:
    """Every point of the cohort's curve by the written definition (docs/metrics.md "Vintage curves")
    from raw tapes, oldest first: the tape index, months on book, both numerators, the entered
    principal ``E`` and, beside it, the entry balances summed loan by loan."""
    tapes = [raw_tape(p) for p in paths]
    outstanding_states = {"M0", "M1", "M2", "M3", "M3+", "DEFAULTED"}
    points: list[dict[str, int]] = []
    num = {rate: 0 for rate in RATES}
    entered = 0
    prev_outstanding = 0
    seen: set[str] = set()
    entry_direct = 0
    started = False
    for k, t in enumerate(tapes):
        c = t[t["cohort"] == cohort]
        for rate, flow in RATES.items():
            num[rate] += int(c[flow].sum())
        outstanding = int(c.loc[c["state"].isin(outstanding_states), "balance"].sum())
        beginning = outstanding + int(
            (c["scheduled_principal"] + c["unscheduled_principal"] + c["written_off"]).sum()
        )
        entered += beginning - prev_outstanding
        prev_outstanding = outstanding
        new = c[~c["loan"].isin(seen)]
        entry_direct += int(
            (
                new["balance"]
                + new["scheduled_principal"]
                + new["unscheduled_principal"]
                + new["written_off"]
            ).sum()
        )
        seen |= set(new["loan"])
        started = started or len(c) > 0
        if started:
            points.append(
                {
                    "index": k,
                    "months_on_book": 12 * (cutoffs[k].year - int(cohort[:4]))
                    + cutoffs[k].month
                    - (3 * int(cohort[-1]) - 2),
                    "cumulative_default_rate": num["cumulative_default_rate"],
                    "cumulative_prepayment_rate": num["cumulative_prepayment_rate"],
                    "entered": entered,
                    "entered_direct": entry_direct,
                }
            )
    return points


def cohorts(pool: SealedPool) -> list[str]:
    return sorted({f.labels["vintage"] for facts in pool.facts for f in facts})


# --- the reference agrees ---------------------------------------------------------------------------------
def test_the_pool_has_cohorts_with_defaults_prepayments_and_late_entries(pool: SealedPool) -> None:
    """The fixture exercises what the curve must handle (otherwise the other tests prove little)."""
    all_points = {c: reference_points(pool, c) for c in cohorts(pool)}
    assert len(all_points) >= 3
    assert any(p[-1]["cumulative_default_rate"] > 0 for p in all_points.values())
    assert any(p[-1]["cumulative_prepayment_rate"] > 0 for p in all_points.values())
    assert any(p and p[0]["index"] > 0 for p in all_points.values()), "no cohort enters later"
    late = [c for c, p in all_points.items() if p and p[0]["index"] > 0]
    assert any(len({q["entered"] for q in all_points[c]}) > 1 for c in late + list(all_points)), (
        "no cohort whose entered principal grows"
    )


@pytest.mark.parametrize("which", [0, 1, -1])
def test_every_point_equals_the_pandas_definition(pool: SealedPool, which: int) -> None:
    cs = cohorts(pool)
    # the oldest cohort, a seasoned one and the newest (a revolving purchase cohort)
    cohort = cs[which]
    doc = exact_bundle(cohort)
    got = verify_vintage_curve(doc, pool.key.public_key(), pool_id=POOL, cohort=cohort, nonce=NONCE)
    want = reference_points(pool, cohort)
    assert len(got) == len(want) * len(RATES)
    for j, point in enumerate(want):
        for r, rate in enumerate(RATES):
            v = got[j * len(RATES) + r]
            assert v.mode == "exact"
            assert v.rate == rate
            assert v.cutoff_date == pool.cutoffs[point["index"]].isoformat()
            assert v.months_on_book == point["months_on_book"]
            assert v.numerator == point[rate]
            assert v.denominator == point["entered"]
            # The roll-forward holds on the synthetic tapes: entered principal is the entry balances.
            assert v.denominator == point["entered_direct"]


def test_months_on_book_counts_from_the_quarters_first_month() -> None:
    assert months_on_book("2024-Q1", "2024-01-31") == 0
    assert months_on_book("2024-Q1", "2024-03-31") == 2
    assert months_on_book("2023-Q4", "2024-06-30") == 8
    with pytest.raises(EncodingError):
        months_on_book("2024-Q5", "2024-06-30")


def _bps_bounds(exact: Fraction) -> tuple[int, int]:
    """The basis-point bounds around ``exact``: ``lo/10^4 <= exact <= hi/10^4``, ``lo < hi``."""
    hi = math.ceil(exact * BPS)
    lo = math.floor(exact * BPS)
    return (lo, hi) if lo < hi else (lo - 1, hi)


def test_threshold_points_hold_at_the_pandas_rate(pool: SealedPool) -> None:
    cohort = max(cohorts(pool), key=lambda c: reference_points(pool, c)[-1]["cumulative_prepayment_rate"])
    last = reference_points(pool, cohort)[-1]
    k, rate = last["index"], "cumulative_prepayment_rate"
    exact = Fraction(last[rate], last["entered"])
    assert exact > 0
    lo, hi = _bps_bounds(exact)
    requests = {
        (k, rate): PointRequest("threshold", "<=", hi, BPS),
        (k, "cumulative_default_rate"): PointRequest("threshold", ">=", 0, 1),
    }
    doc = curve_bundle(pool, cohort, requests)
    got = [v for v in verify_vintage_curve(doc, pool.key.public_key()) if v.mode == "threshold"]
    assert [(v.months_on_book, v.rate, v.op, v.p, v.q) for v in got] == [
        (last["months_on_book"], "cumulative_default_rate", ">=", 0, 1),
        (last["months_on_book"], rate, "<=", hi, BPS),
    ]
    doc = curve_bundle(pool, cohort, {(k, rate): PointRequest("threshold", ">=", lo, BPS)})
    verify_vintage_curve(doc, pool.key.public_key())
    # Past the true rate on either side, nothing can be proven.
    with pytest.raises(ProvingError):
        curve_bundle(pool, cohort, {(k, rate): PointRequest("threshold", "<=", lo, BPS)})
    with pytest.raises(ProvingError):
        curve_bundle(pool, cohort, {(k, rate): PointRequest("threshold", ">=", hi, BPS)})


# --- a malicious prover ------------------------------------------------------------------------------
def _present_cohort(pool: SealedPool) -> str:
    return next(c for c in cohorts(pool) if all(o is not None for o in pool.openings(c)))


def _late_cohort(pool: SealedPool) -> str:
    return next(c for c in cohorts(pool) if pool.openings(c)[0] is None)


def _expect(check: str, doc: dict[str, Any], pool: SealedPool, **kw: Any) -> None:
    with pytest.raises(VerificationError) as err:
        verify_vintage_curve(doc, pool.key.public_key(), **kw)
    assert err.value.check == check, str(err.value)


def test_a_row_from_another_cell_is_rejected(pool: SealedPool) -> None:
    cohort = _present_cohort(pool)
    other = next(c for c in cohorts(pool) if c != cohort and pool.openings(c)[1] is not None)
    doc = exact_bundle(cohort)
    doc["cells"][1] = exact_bundle(other)["cells"][1]
    _expect("vintage.cell", doc, pool)
    # a region row standing in for the cohort's
    doc = exact_bundle(cohort)
    region_row = next(r for r in pool.tables[1].rows if r.dimension == "region")
    doc["cells"][1]["row"] = region_row.to_dict()
    _expect("vintage.cell", doc, pool)


def test_a_row_with_a_wrong_audit_path_is_rejected(pool: SealedPool) -> None:
    cohort = _present_cohort(pool)
    doc = exact_bundle(cohort)
    path = doc["cells"][2]["path"]
    path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
    _expect("strata.row", doc, pool)
    doc = exact_bundle(cohort)
    doc["cells"][2]["index"] ^= 1
    _expect("strata.row", doc, pool)


def test_a_row_with_altered_sums_is_rejected(pool: SealedPool) -> None:
    """A gateway that shrinks the cohort's committed sums (fewer defaults) breaks the row's path."""
    cohort = _present_cohort(pool)
    doc = exact_bundle(cohort)
    row = doc["cells"][3]["row"]
    other = next(r for r in pool.tables[3].rows if (r.dimension, r.cell) != ("vintage", cohort))
    row["sums"] = other.to_dict()["sums"]
    _expect("strata.row", doc, pool)


def test_a_skipped_period_is_rejected(pool: SealedPool) -> None:
    cohort = _present_cohort(pool)
    # leaving a month out of the chain
    headers = pool.headers[:2] + pool.headers[3:]
    doc = exact_bundle(cohort)
    doc["headers"] = headers
    doc["cells"] = doc["cells"][:2] + doc["cells"][3:]
    doc["points"] = doc["points"][:2] + doc["points"][3:]
    _expect("chain.link", doc, pool)
    # starting after the pool's first snapshot
    doc = exact_bundle(cohort)
    doc["headers"], doc["cells"], doc["points"] = doc["headers"][1:], doc["cells"][1:], doc["points"][1:]
    _expect("chain.anchor", doc, pool)
    # claiming the cohort absent in a month it has loans: no neighbours bracket a present cell
    doc = exact_bundle(cohort)
    late = _late_cohort(pool)
    doc["cells"][2] = exact_bundle(late)["cells"][0]  # an absence proof from another month's table
    _expect("strata.row", doc, pool)
    i, _ = pool.tables[2].row("vintage", cohort)
    table = pool.tables[2]

    def neighbour(j: int) -> dict[str, Any]:
        return {"row": table.rows[j].to_dict(), "index": j, "path": [h.hex() for h in table.audit_path(j)]}

    # the real rows either side of the cohort's, passed off as adjacent
    forged = {"absent": {"lower": neighbour(i - 1), "upper": neighbour(i + 1)}}
    doc = exact_bundle(cohort)
    doc["cells"][2] = forged
    _expect("vintage.absence", doc, pool)
    # dropping a point
    doc = exact_bundle(cohort)
    doc["points"].pop(1)
    _expect("vintage.points", doc, pool)


def test_a_header_from_another_pool_is_rejected(pool: SealedPool) -> None:
    other = seal_chain("OTHER-POOL", months=2, key=pool.key, n_loans=6)
    cohort = _present_cohort(pool)
    doc = exact_bundle(cohort)
    doc["headers"][1] = other.headers[1]
    _expect("chain.pool", doc, pool)
    # and a curve of the other pool does not pass for this pool's
    theirs = curve_bundle(other, next(c for c in cohorts(other) if other.openings(c)[0] is not None))
    _expect("vintage.request", theirs, pool, pool_id=POOL)


def test_an_inflated_or_deflated_exact_point_is_rejected(pool: SealedPool) -> None:
    cohort = _present_cohort(pool)
    for side in ("numerator", "denominator"):
        doc = exact_bundle(cohort)
        entry = doc["points"][-1]["rates"]["cumulative_default_rate"][side]
        entry["value"] += 1
        entry["proof"]["value"] = type(entry["proof"]["value"])(entry["value"])
        _expect(f"vintage.{side}", doc, pool)


def test_a_proof_for_one_point_does_not_stand_for_another(pool: SealedPool) -> None:
    cohort = _present_cohort(pool)
    doc = exact_bundle(cohort)
    a, b = doc["points"][1]["rates"], doc["points"][2]["rates"]
    a["cumulative_prepayment_rate"] = copy.deepcopy(b["cumulative_prepayment_rate"])
    with pytest.raises(VerificationError) as err:
        verify_vintage_curve(doc, pool.key.public_key())
    assert err.value.check.startswith("vintage.")
    # nor with another nonce
    doc = exact_bundle(cohort)
    doc["nonce"] = b"another-nonce".hex()
    _expect("vintage.numerator", doc, pool)
    _expect("vintage.request", exact_bundle(cohort), pool, nonce=b"another")


def test_a_threshold_made_for_one_rate_does_not_verify_for_a_lower_one(pool: SealedPool) -> None:
    cohort = max(cohorts(pool), key=lambda c: reference_points(pool, c)[-1]["cumulative_prepayment_rate"])
    last = reference_points(pool, cohort)[-1]
    rate = "cumulative_prepayment_rate"
    lo, hi = _bps_bounds(Fraction(last[rate], last["entered"]))
    doc = curve_bundle(pool, cohort, {(last["index"], rate): PointRequest("threshold", "<=", hi, BPS)})
    entry = doc["points"][-1]["rates"][rate]
    entry["p"] = lo  # the same proof, now claiming a rate below the true one
    _expect("vintage.threshold", doc, pool)
    entry["p"], entry["op"] = hi, ">="  # or the other direction
    _expect("vintage.threshold", doc, pool)


# --- tampering of every bundle field ----------------------------------------------------------------------
def _walk(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every scalar leaf's path in the bundle (headers excluded: they are signed, tested below)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _walk(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _walk(v, (*path, i))
    else:
        out.append(path)
    return out


def _alter(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return {"x": 1}
    if isinstance(value, str):
        if value and all(ch in "0123456789abcdef" for ch in value):
            pos = len(value) // 2
            return value[:pos] + ("0" if value[pos] != "0" else "1") + value[pos + 1 :]
        return value + "x"
    raise AssertionError(type(value))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


@functools.cache
def _tamper_base() -> dict[str, Any]:
    """A curve with every kind of entry: absence proofs, present cells, exact, threshold, suppressed."""
    pool = sealed_pool()
    late = _late_cohort(pool)
    k = len(pool.headers) - 1
    requests = {
        (k, "cumulative_default_rate"): PointRequest("threshold", "<=", 1, 1),
        (k - 1, "cumulative_prepayment_rate"): PointRequest("suppressed"),
    }
    return curve_bundle(pool, late, requests)


def _tamper_paths(doc: dict[str, Any], every: bool) -> list[tuple[Any, ...]]:
    paths = [p for p in _walk(doc) if p[0] != "headers"]
    # every field of one header too (each header is signed: any change breaks it)
    paths += [p for p in _walk(doc) if p[:2] == ("headers", 1)]
    if every:
        return paths
    # the first and last occurrence of every field shape (list indices folded)
    shapes: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for p in paths:
        shapes.setdefault(tuple("*" if isinstance(x, int) else x for x in p), []).append(p)
    return [group[0] for group in shapes.values()]


def _check_tampering(pool: SealedPool, every: bool) -> None:
    doc = copy.deepcopy(_tamper_base())
    got = verify_vintage_curve(doc, pool.key.public_key())
    assert {v.mode for v in got} == {"exact", "threshold", "suppressed"}
    assert any("absent" in c for c in doc["cells"])
    assert any("row" in c for c in doc["cells"])
    paths = _tamper_paths(doc, every)
    assert len(paths) > 40
    for path in paths:
        bad = copy.deepcopy(doc)
        _set(bad, path, _alter(_get(doc, path)))
        with pytest.raises((VerificationError, EncodingError)):
            verify_vintage_curve(bad, pool.key.public_key())
    # removing a member, or adding one
    for path in [("nonce",), ("cells", 0, "absent"), ("points", 0, "rates", "cumulative_default_rate")]:
        bad = copy.deepcopy(doc)
        del _get(bad, path[:-1])[path[-1]]
        with pytest.raises((VerificationError, EncodingError)):
            verify_vintage_curve(bad, pool.key.public_key())
    bad = copy.deepcopy(doc)
    bad["points"][0]["extra"] = 1
    with pytest.raises(EncodingError):
        verify_vintage_curve(bad, pool.key.public_key())


def test_every_kind_of_bundle_field_altered_is_rejected(pool: SealedPool) -> None:
    _check_tampering(pool, every=False)


@pytest.mark.slow
def test_every_bundle_field_altered_is_rejected(pool: SealedPool) -> None:
    _check_tampering(pool, every=True)


def test_another_gateway_key_is_rejected(pool: SealedPool) -> None:
    doc = exact_bundle(_present_cohort(pool))
    with pytest.raises(VerificationError) as err:
        verify_vintage_curve(doc, Ed25519PrivateKey.generate().public_key())
    assert err.value.check == "header.signature"


def test_the_cli_verifies_a_curve_and_names_the_failed_check(pool: SealedPool, tmp_path: Path) -> None:
    import argparse

    from proofs.signing import public_key_to_pem
    from proofs.vintage_cli import add_arguments, verify_vintage

    cohort = _present_cohort(pool)
    key = tmp_path / "gateway.pub"
    key.write_bytes(public_key_to_pem(pool.key.public_key()))
    good = tmp_path / "curve.json"
    good.write_text(json.dumps(exact_bundle(cohort)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--key")
    add_arguments(parser)
    args = parser.parse_args([str(good), "--key", str(key), "--expect-cohort", cohort])
    out = verify_vintage(args)
    want = reference_points(pool, cohort)
    assert len(out["points"]) == len(want) * len(RATES)
    first = want[0]
    shown = f"cumulative_default_rate: {first['cumulative_default_rate']} / {first['entered']}"
    assert shown in out["points"][0]
    bad_doc = exact_bundle(cohort)
    bad_doc["cells"][1]["index"] ^= 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_doc))
    with pytest.raises(VerificationError) as err:
        verify_vintage(parser.parse_args([str(bad), "--key", str(key)]))
    assert err.value.check == "strata.row"


def test_poolproof_audit_verify_vintage_exits_0_and_names_a_failure(pool: SealedPool, tmp_path: Path) -> None:
    from proofs.audit_cli import main
    from proofs.exit_codes import ExitCode
    from proofs.signing import public_key_to_pem

    cohort = _present_cohort(pool)
    key = tmp_path / "gateway.pub"
    key.write_bytes(public_key_to_pem(pool.key.public_key()))
    good = tmp_path / "curve.json"
    good.write_text(json.dumps(exact_bundle(cohort)))
    assert main(["verify-vintage", str(good), "--key", str(key), "--expect-cohort", cohort]) == 0
    bad_doc = exact_bundle(cohort)
    bad_doc["cells"][1]["index"] ^= 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_doc))
    assert main(["verify-vintage", str(bad), "--key", str(key)]) == ExitCode.FAILED


def test_the_investors_report_draws_the_verified_curve_and_refuses_a_tampered_one(
    pool: SealedPool, tmp_path: Path
) -> None:
    from fractions import Fraction

    from proofs.report import render_report
    from proofs.witness import WitnessPolicy

    cohort = _present_cohort(pool)
    (tmp_path / f"vintage-{cohort}.json").write_text(json.dumps(exact_bundle(cohort)))
    result = render_report(
        tmp_path, pool.key.public_key(), out=tmp_path / "r.html", witnesses=WitnessPolicy.unwitnessed()
    )
    assert not result.failures
    drawn = {
        (family.key, fig.cutoff): fig.value
        for family in result.model.curves
        for series in family.curves
        if series.label == cohort
        for fig in series.figures
    }
    want = reference_points(pool, cohort)
    for point in want:
        if point["entered"] == 0:
            continue
        for rate in RATES:
            key = (f"vintage-{rate}", f"m{point['months_on_book']:02d}")
            assert drawn[key] == Fraction(point[rate], point["entered"])  # the plain pandas definition
    doc = exact_bundle(cohort)
    doc["cells"][1]["index"] ^= 1
    (tmp_path / f"vintage-{cohort}.json").write_text(json.dumps(doc))
    result = render_report(
        tmp_path, pool.key.public_key(), out=tmp_path / "r.html", witnesses=WitnessPolicy.unwitnessed()
    )
    assert [u.check for u in result.failures] == ["strata.row"]
    assert result.exit_code == 1
    assert not result.model.curves
