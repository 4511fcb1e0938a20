"""Borrower inclusion bundles (``proofs.inclusion``): v1 for one commitment per lane, v2 for packed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from proofs.errors import EncodingError, VerificationError
from proofs.inclusion import VerifiedInclusion
from proofs.inclusion import verify_inclusion_bundle as _verify_inclusion_bundle
from proofs.lanes import LANE_SETS
from proofs.signing import Ed25519PublicKey
from tests.snapshot_util import Sealed, inclusion_bundle_for, make_loans, seal_in_memory


def verify_inclusion_bundle(doc: Any, key: Ed25519PublicKey) -> VerifiedInclusion:
    """Both lane-circuit lane sets are under test here, so dpd5-v2 is named."""
    return _verify_inclusion_bundle(doc, key, lane_sets=LANE_SETS)


@pytest.fixture(scope="module", params=["dpd5-v2", "dpd5-v3"])
def sealed(request: pytest.FixtureRequest) -> Sealed:
    return seal_in_memory(make_loans(21), chunk_log2=3, lane_set=request.param)


@pytest.mark.parametrize("index", [0, 7, 20])
def test_inclusion_bundle_verifies_and_names_the_loan(sealed: Sealed, index: int) -> None:
    doc = inclusion_bundle_for(sealed, index)
    want = 2 if sealed.params.lane_set == "dpd5-v3" else 1
    assert doc["format"] == f"poolproof/inclusion/v{want}"
    got = verify_inclusion_bundle(doc, sealed.key.public_key())
    loan = sealed.loans[index]
    assert (got.leaf_index, got.exposure_id, got.principal, got.bucket) == (
        index,
        loan.exposure_id,
        loan.principal,
        loan.bucket,
    )


def _flip_hex(h: str) -> str:
    return h[:-1] + ("1" if h[-1] == "0" else "0")


def test_every_opening_field_tampered_is_rejected(sealed: Sealed) -> None:
    doc = inclusion_bundle_for(sealed, 3)
    key = sealed.key.public_key()
    edits: list[Any] = [
        lambda d: d["lanes"][0].__setitem__("value", d["lanes"][0]["value"] + 1),
        lambda d: d["lanes"].reverse(),
        lambda d: d.__setitem__("leaf_index", 4),
        lambda d: d.__setitem__("exposure_id", "EOTHER"),
        lambda d: d["path"].__setitem__(0, "00" * 32),
    ]
    if doc["format"].endswith("v2"):
        edits += [
            lambda d: d["blindings"].__setitem__(0, _flip_hex(d["blindings"][0])),
            lambda d: d["blindings"].reverse(),
            lambda d: d["blindings"].pop(),
        ]
    else:
        edits += [lambda d: d["lanes"][5].__setitem__("blinding", _flip_hex(d["lanes"][5]["blinding"]))]
    for edit in edits:
        bad = copy.deepcopy(doc)
        edit(bad)
        with pytest.raises((VerificationError, EncodingError)):
            verify_inclusion_bundle(bad, key)


def test_a_bundle_of_the_other_version_is_refused(sealed: Sealed) -> None:
    doc = inclusion_bundle_for(sealed, 1)
    other = copy.deepcopy(doc)
    if doc["format"].endswith("v2"):
        other["format"] = "poolproof/inclusion/v1"
        with pytest.raises(EncodingError):  # v1 needs a blinding per lane
            verify_inclusion_bundle(other, sealed.key.public_key())
    else:
        other["format"] = "poolproof/inclusion/v2"
        other["blindings"] = [entry.pop("blinding") for entry in other["lanes"]]
        with pytest.raises(VerificationError, match=r"inclusion\.lanes"):
            verify_inclusion_bundle(other, sealed.key.public_key())
