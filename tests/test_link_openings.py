"""The gateway's check, before it proves a link, that the stored openings open the sealed leaves: only
the inputs the link reads are recomputed, each compared with the leaf byte for byte, and a mismatch
is named by exposure."""

from __future__ import annotations

import dataclasses
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.snapshots.links import _in_leaf_order
from proofs.errors import ProvingError
from proofs.group import ORDER
from proofs.link import LINK_CURRENT_INPUTS, LINK_PREVIOUS_INPUTS, LinkLoan, read_leaves
from tests.link_chain import LANES, Month, first_facts, seal_month


@dataclasses.dataclass
class Sealed:
    month: Month
    #: The leaves as the gateway stores them: exposure id and the input commitments' encodings.
    leaves: list[tuple[str, bytes]]


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    key = Ed25519PrivateKey.generate()
    month = seal_month(first_facts(12, random.Random(7)), key, sequence=1, previous=None)
    read = read_leaves(month.text, key.public_key())
    leaves = [(leaf.exposure_id, b"".join(p.to_bytes() for p in leaf.inputs)) for leaf in read.leaves]
    return Sealed(month, leaves)


@pytest.mark.parametrize("wanted", [LINK_PREVIOUS_INPUTS, LINK_CURRENT_INPUTS])
def test_the_wanted_inputs_are_the_leaves_and_the_rest_are_not_computed(
    sealed: Sealed, wanted: frozenset[int]
) -> None:
    shuffled = list(reversed(sealed.month.loans))
    ordered, points = _in_leaf_order(shuffled, sealed.leaves, LANES, wanted)
    assert [loan.exposure_id for loan in ordered] == [eid for eid, _ in sealed.leaves]
    for (_, raw), pts in zip(sealed.leaves, points, strict=True):
        assert len(pts) == len(LANES.inputs)
        for g, p in enumerate(pts):
            if g in wanted:
                assert p.to_bytes() == raw[48 * g : 48 * (g + 1)]
            else:
                assert p.is_identity()


def _with_blinding(loan: LinkLoan, g: int) -> LinkLoan:
    blindings = list(loan.blindings)
    blindings[g] = (blindings[g] + 1) % ORDER
    return dataclasses.replace(loan, blindings=tuple(blindings))


@pytest.mark.parametrize("g", sorted(LINK_PREVIOUS_INPUTS))
def test_an_opening_that_does_not_open_a_read_input_is_named(sealed: Sealed, g: int) -> None:
    loans = list(sealed.month.loans)
    loans[5] = _with_blinding(loans[5], g)
    with pytest.raises(ProvingError, match=f"exposure {loans[5].exposure_id}: the stored opening"):
        _in_leaf_order(loans, sealed.leaves, LANES, LINK_PREVIOUS_INPUTS)


def test_an_input_the_link_does_not_read_is_not_its_concern(sealed: Sealed) -> None:
    unread = max(set(range(len(LANES.inputs))) - LINK_PREVIOUS_INPUTS)
    loans = list(sealed.month.loans)
    loans[3] = _with_blinding(loans[3], unread)
    _in_leaf_order(loans, sealed.leaves, LANES, LINK_PREVIOUS_INPUTS)


def test_loans_other_than_the_leaves_are_refused(sealed: Sealed) -> None:
    with pytest.raises(ProvingError, match="not the snapshot's leaves"):
        _in_leaf_order(sealed.month.loans[1:], sealed.leaves, LANES, LINK_PREVIOUS_INPUTS)
