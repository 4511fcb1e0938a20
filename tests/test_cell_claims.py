"""Claims about one stratification cell: exact and threshold claims over a cell's committed row,
checked against pandas, with tampering of every part of the cell evidence and a malicious prover."""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd
import pytest

from proofs.cell_claims import cell_metric, cell_opening, parse_cell_metric, prove_cell, verify_cells
from proofs.claim_bundle import ExpectedClaim, metric_opening, prove_claim_bundle, verify_claim_answer
from proofs.claims import BoundClaim, Disclosure, RatioClaim
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import ORDER, get_group, random_scalar
from proofs.loan_facts import LoanFacts
from proofs.snapshot import Header, loan_blindings, verify_header
from tests.snapshot_util import Sealed, seal_in_memory
from tests.test_strata import DIMS, LANES, make_facts

NONCE = b"cell-claim-nonce"


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal_in_memory(
        make_facts(40, seed=9), chunk_log2=3, lane_set=LANES.name, ipa_rounds=2, strata_dimensions=DIMS
    )


@pytest.fixture(scope="module")
def header(sealed: Sealed) -> Header:
    return verify_header(sealed.header, sealed.key.public_key())


def _members(sealed: Sealed, dimension: str, cell: str) -> list[LoanFacts]:
    return [f for f in sealed.loans if f.labels[dimension] == cell]  # type: ignore[union-attr]


def _rng() -> Any:
    return lambda: int.from_bytes(os.urandom(64), "big") % ORDER


def _evidence(
    sealed: Sealed, header: Header, dimension: str, cell: str
) -> tuple[dict[str, Any], list[int], list[int]]:
    """The gateway's side: the cell's openings from its loans, then the evidence."""
    members = _members(sealed, dimension, cell)
    totals = [sum(col) for col in zip(*(LANES.facts_values(f) for f in members), strict=True)]
    blinding_sums = [
        sum(col) % ORDER
        for col in zip(*(loan_blindings(sealed.seed, f.exposure_id, LANES) for f in members), strict=True)
    ]
    rhos = [random_scalar() for _ in LANES.lanes]
    assert sealed.outcome.strata is not None
    doc = prove_cell(
        get_group(), header, sealed.outcome.strata, dimension, cell, totals, blinding_sums, rhos, _rng()
    )
    return doc, totals, rhos


def _claim(sealed: Sealed, header: Header, statement: Any, cells: list[tuple[str, str]]) -> dict[str, Any]:
    docs, openings = [], {}
    for dimension, cell in cells:
        doc, totals, rhos = _evidence(sealed, header, dimension, cell)
        docs.append(doc)
        for m in statement.metrics:
            parsed = parse_cell_metric(m)
            if parsed is not None and parsed[:2] == (dimension, cell):
                openings[m] = cell_opening(header, parsed[2], totals, rhos)
    values, blindings = sealed.outcome.lane_value_sums, sealed.outcome.lane_blinding_sums
    for m in statement.metrics:
        if parse_cell_metric(m) is None:
            openings[m] = metric_opening(LANES, m, values, blindings)
    return prove_claim_bundle(get_group(), header, statement, openings, NONCE, cells=docs)


def _verify(sealed: Sealed, doc: dict[str, Any], statement: Any) -> Any:
    from proofs.witness import WitnessPolicy

    return verify_claim_answer(
        doc,
        sealed.key.public_key(),
        witnesses=WitnessPolicy.unwitnessed(),
        expected=ExpectedClaim(nonce=NONCE, statement=statement),
    )


def _frame(sealed: Sealed) -> pd.DataFrame:
    return pd.DataFrame(
        [{**f.labels, "balance": f.balance, "state": f.state_name} for f in sealed.loans]  # type: ignore[union-attr]
    )


@pytest.mark.slow  # every cell of every dimension; tests/e2e/test_statement_v2_proven.py claims cells in CI
def test_every_cells_exact_balance_and_count_equal_a_pandas_groupby(sealed: Sealed, header: Header) -> None:
    frame = _frame(sealed)
    active = frame[frame["state"].isin(["M0", "M1", "M2", "M3", "M3+", "DEFAULTED"])]
    for dim in ("region",):
        balances = frame.groupby(dim)["balance"].sum()
        counts = active.groupby(dim).size()
        for cell, balance in balances.items():
            statement = Disclosure(cell_metric(dim, str(cell), "outstanding_balance"))
            doc = _claim(sealed, header, statement, [(dim, str(cell))])
            _verify(sealed, doc, statement)
            assert int(doc["proof"]["value"]) == balance
            count = Disclosure(cell_metric(dim, str(cell), "active_loan_count"))
            doc = _claim(sealed, header, count, [(dim, str(cell))])
            _verify(sealed, doc, count)
            assert int(doc["proof"]["value"]) == counts.get(cell, 0)


def test_a_ratio_of_a_cell_to_the_pool_verifies(sealed: Sealed, header: Header) -> None:
    """The top region's share of the pool balance, proven against a bound (concentration)."""
    frame = _frame(sealed)
    by_region = frame.groupby("region")["balance"].sum()
    top, top_balance = str(by_region.idxmax()), int(by_region.max())
    total = int(frame["balance"].sum())
    share = RatioClaim(
        cell_metric("region", top, "outstanding_balance"), "outstanding_balance", "<=", top_balance, total
    )
    _verify(sealed, _claim(sealed, header, share, [("region", top)]), share)
    # ... and the prover cannot prove a share below the true one.
    tighter = RatioClaim(
        cell_metric("region", top, "outstanding_balance"), "outstanding_balance", "<=", top_balance - 1, total
    )
    with pytest.raises(ProvingError):
        _claim(sealed, header, tighter, [("region", top)])


def test_a_threshold_claim_on_a_cell_verifies(sealed: Sealed, header: Header) -> None:
    metric = cell_metric("rate_band", "0-599", "outstanding_balance")
    true = sum(f.balance for f in _members(sealed, "rate_band", "0-599"))
    claim = BoundClaim(metric, None, true, value_bits=32)
    _verify(sealed, _claim(sealed, header, claim, [("rate_band", "0-599")]), claim)


def test_a_claim_without_its_cells_evidence_is_refused(sealed: Sealed, header: Header) -> None:
    statement = Disclosure(cell_metric("region", "CA", "outstanding_balance"))
    doc = _claim(sealed, header, statement, [("region", "CA")])
    other = _claim(
        sealed, header, Disclosure(cell_metric("region", "NY", "outstanding_balance")), [("region", "NY")]
    )
    missing = {k: v for k, v in doc.items() if k != "cells"}
    with pytest.raises(VerificationError, match=r"claim\.cells"):
        _verify(sealed, missing, statement)
    swapped = {**doc, "cells": other["cells"]}
    with pytest.raises(VerificationError, match=r"claim\.cells"):
        _verify(sealed, swapped, statement)
    twice = {**doc, "cells": doc["cells"] * 2}
    with pytest.raises(VerificationError, match=r"given twice"):
        _verify(sealed, twice, statement)


def _evidence_edits(doc: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    ev = doc["cells"][0]
    for field in ("count", "sums", "cell", "dimension"):
        changed = json.loads(json.dumps(doc))
        row = changed["cells"][0]["row"]
        if field == "count":
            row["count"] += 1
        elif field == "sums":
            row["sums"] = other["cells"][0]["row"]["sums"]
        elif field == "cell":
            row["cell"] = other["cells"][0]["row"]["cell"]
        else:
            row["dimension"] = "vintage"
        out.append((f"row.{field}", changed))
    changed = json.loads(json.dumps(doc))
    changed["cells"][0]["index"] = (ev["index"] + 1) % 8
    out.append(("index", changed))
    for i in range(len(ev["path"])):
        changed = json.loads(json.dumps(doc))
        changed["cells"][0]["path"][i] = ev["path"][i][:-2] + ("00" if ev["path"][i][-2:] != "00" else "01")
        out.append((f"path[{i}]", changed))
    for j in range(len(LANES.lanes)):
        changed = json.loads(json.dumps(doc))
        agg = bytearray(bytes.fromhex(ev["aggregates"]))
        agg[48 * j : 48 * (j + 1)] = bytes.fromhex(other["cells"][0]["aggregates"])[48 * j : 48 * (j + 1)]
        changed["cells"][0]["aggregates"] = agg.hex()
        out.append((f"aggregates[{j}]", changed))
    proof = ev["proof"]
    for pos in range(0, len(proof), 293):
        changed = json.loads(json.dumps(doc))
        changed["cells"][0]["proof"] = proof[:pos] + ("0" if proof[pos] != "0" else "1") + proof[pos + 1 :]
        out.append((f"proof@{pos}", changed))
    return out


def test_every_part_of_the_cell_evidence_altered_is_rejected(sealed: Sealed, header: Header) -> None:
    statement = Disclosure(cell_metric("region", "CA", "outstanding_balance"))
    doc = _claim(sealed, header, statement, [("region", "CA")])
    other = _claim(
        sealed, header, Disclosure(cell_metric("region", "NY", "outstanding_balance")), [("region", "NY")]
    )
    edits = _evidence_edits(doc, other)
    assert len(edits) > 30
    for where, changed in edits:
        with pytest.raises((VerificationError, EncodingError)):
            _verify(sealed, changed, statement)
        assert where


def test_a_malicious_prover_cannot_unpack_a_cell_into_other_totals(sealed: Sealed, header: Header) -> None:
    """The prover publishes cell aggregates whose totals move balance between states (or inflate the
    cell): the unpacking of the committed row fails, whatever blindings it chooses."""
    from proofs import unpacking

    doc, totals, rhos = _evidence(sealed, header, "region", "TX")
    members = _members(sealed, "region", "TX")
    blinding_sums = [
        sum(col) % ORDER
        for col in zip(*(loan_blindings(sealed.seed, f.exposure_id, LANES) for f in members), strict=True)
    ]
    forged_totals = list(totals)
    forged_totals[0] += 1_000  # more current balance in the cell than its loans hold
    t = header.context.unpacking_transcript()
    t.append_message(b"strata-dimension", b"region")
    t.append_message(b"strata-cell", b"TX")
    proof, aggregates, _sums = unpacking.prove_unpacking(
        get_group(), LANES, doc["row"]["count"], forged_totals, rhos, blinding_sums, t, _rng()
    )
    forged = {**doc, "aggregates": b"".join(a.to_bytes() for a in aggregates).hex(), "proof": proof.hex()}
    with pytest.raises(VerificationError, match=r"unpacking\.linear"):
        verify_cells(get_group(), header, [forged])
    with pytest.raises(ValueError, match="not those of cell region=TX"):
        prove_cell(
            get_group(),
            header,
            sealed.outcome.strata,
            "region",
            "TX",
            forged_totals,
            blinding_sums,
            rhos,
            _rng(),
        )  # type: ignore[arg-type]


def test_evidence_for_one_cell_cannot_stand_for_another(sealed: Sealed, header: Header) -> None:
    """The unpacking transcript names the cell: re-labelling the evidence of CA as if its row were
    another cell's fails even before the row's path is checked against the wrong leaf."""
    doc, _, _ = _evidence(sealed, header, "region", "CA")
    other, _, _ = _evidence(sealed, header, "region", "NY")
    mixed = {**other, "aggregates": doc["aggregates"], "proof": doc["proof"]}
    with pytest.raises(VerificationError, match=r"unpacking\."):
        verify_cells(get_group(), header, [mixed])


def test_cell_metric_names_are_parsed_and_unknown_cells_list_the_valid_ones(
    sealed: Sealed, header: Header
) -> None:
    assert parse_cell_metric("strata/region/CA/outstanding_balance") == (
        "region",
        "CA",
        "outstanding_balance",
    )
    assert parse_cell_metric("outstanding_balance") is None
    with pytest.raises(KeyError, match="strata/<dimension>/<cell>/<metric>"):
        parse_cell_metric("strata/region/outstanding_balance")
    with pytest.raises(KeyError, match="its cells are CA, NY, TX, UNKNOWN"):
        _evidence(sealed, header, "region", "ZZ")
    statement = Disclosure(cell_metric("region", "CA", "no_such_metric"))
    doc = _claim(
        sealed, header, Disclosure(cell_metric("region", "CA", "outstanding_balance")), [("region", "CA")]
    )
    from proofs.claim_bundle import metric_commitments

    checked = verify_cells(get_group(), header, doc["cells"])
    with pytest.raises(VerificationError, match=r"claim\.metric: .*its metrics are"):
        metric_commitments(header, statement, checked)
