"""The compact investor form of one roll-rate cell: the signed link header and a slot proof."""

from __future__ import annotations

import copy
import random
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs.errors import EncodingError, VerificationError
from proofs.link import LINK_HEADER_KIND, link_header, prove_link, prove_roll_figure, verify_roll_figure
from proofs.loan_facts import STATES
from tests.json_paths import json_paths
from tests.link_chain import Month, first_facts, next_facts, seal_month
from tests.reference.roll_rates import roll_matrix


@pytest.fixture(scope="module")
def pair() -> tuple[Ed25519PrivateKey, Month, Month, dict[str, Any], dict[str, Any]]:
    key = Ed25519PrivateKey.generate()
    rng = random.Random(404)
    a = seal_month(first_facts(12, rng), key, sequence=1, previous=None)
    facts = next_facts(a.facts, rng, new=1, first_id=900)
    b = seal_month(facts, key, sequence=2, previous=a.header)
    entries = [f.exposure_id for f in facts if f.exposure_id not in {p.exposure_id for p in a.facts}]
    link = prove_link(key, a.header, b.header, a.loans, b.loans, entries=entries)
    return key, a, b, link, link_header(key, link)


def _frames(a: Month, b: Month) -> tuple[pd.DataFrame, pd.DataFrame]:
    def frame(m: Month) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "exposure_id": [f.exposure_id for f in m.facts],
                "state": [STATES[f.state] for f in m.facts],
                "balance": [f.balance for f in m.facts],
            }
        )

    return frame(a), frame(b)


def test_every_count_cell_and_some_balance_cells_verify_against_pandas(pair: Any) -> None:
    key, a, b, link, header = pair
    counts, balances = roll_matrix(*_frames(a, b))
    for i in range(10):
        if not sum(counts[i]):
            continue
        for j in range(10):
            fig = verify_roll_figure(prove_roll_figure(header, link, i, j), key.public_key())
            assert (fig.cell, fig.row_total) == (counts[i][j], sum(counts[i]))
    i = next(i for i in range(6) if any(balances[i]))
    j = next(j for j in range(10) if balances[i][j])
    fig = verify_roll_figure(prove_roll_figure(header, link, i, j, by="balance"), key.public_key())
    assert fig.cell == balances[i][j] > 0
    assert fig.row_total is None
    with pytest.raises(ValueError, match="no balance cell"):
        prove_roll_figure(header, link, 7, 7, by="balance")


def _nonzero(link: dict[str, Any]) -> tuple[int, int]:
    counts = link["roll"]["counts"]
    return next((i, j) for i in range(10) for j in range(10) if counts[i][j])


def test_a_false_cell_or_row_total_is_rejected(pair: Any) -> None:
    key, _a, _b, link, header = pair
    i, j = _nonzero(link)
    doc = prove_roll_figure(header, link, i, j)
    for field, delta, check in (("cell", -1, "roll.cell"), ("row_total", 1, "roll.row_total")):
        bad = copy.deepcopy(doc)
        bad[field] += delta
        with pytest.raises(VerificationError) as exc:
            verify_roll_figure(bad, key.public_key())
        assert exc.value.check in (check, "roll.range"), field
    # A forged matrix cannot be proven: the openings do not match the header's row totals.
    forged = copy.deepcopy(link)
    forged["roll"]["counts"][i][j] += 1
    with pytest.raises(VerificationError) as exc:
        verify_roll_figure(prove_roll_figure(header, forged, i, j), key.public_key())
    assert exc.value.check in ("roll.cell", "roll.range")


def test_a_header_with_another_row_total_is_rejected(pair: Any) -> None:
    key, _a, _b, link, header = pair
    i, j = _nonzero(link)
    doc = prove_roll_figure(header, link, i, j)
    other = copy.deepcopy(header)
    other["row_totals"][i] = header["row_totals"][(i + 1) % 10]
    doc["link_header"] = other
    with pytest.raises(VerificationError) as exc:
        verify_roll_figure(doc, key.public_key())
    assert exc.value.check == "roll.header_signature"
    doc["link_header"] = bundle.sign_document(key, LINK_HEADER_KIND, bundle.unsigned_body(other))
    with pytest.raises(VerificationError):
        verify_roll_figure(doc, key.public_key())


def test_every_field_of_a_roll_figure_is_covered(pair: Any) -> None:
    key, _a, _b, link, header = pair
    i, j = _nonzero(link)
    doc = prove_roll_figure(header, link, i, j)
    paths = [p for p in json_paths(doc, max_items=2) if p and "signatures" not in p]
    for path in paths:
        bad = copy.deepcopy(doc)
        node: Any = bad
        for p in path[:-1]:
            node = node[p]
        value = node[path[-1]]
        if isinstance(value, bool) or value is None:
            new: Any = 1
        elif isinstance(value, int):
            new = value + 1
        elif isinstance(value, str):
            new = value[:-1] + ("0" if value[-1:] != "0" else "1")
        elif isinstance(value, list):
            new = value[:-1]
        else:
            new = {}
        node[path[-1]] = new
        with pytest.raises((VerificationError, EncodingError)):
            verify_roll_figure(bad, key.public_key())
