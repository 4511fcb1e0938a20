"""The deal in the snapshot header (``extensions.deal``): set before signing, checked against the
deal file a verifier holds by verify_header, verify_snapshot and the payment report; headers without
it unchanged; the example deal shipped as package data."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest

from proofs import bundle
from proofs.deal import deal_binding, load_deal, parse_deal_text
from proofs.errors import EncodingError, VerificationError
from proofs.snapshot import build_header, header_hash, verify_header, verify_snapshot
from proofs.snapshot._bundle_io import _OPEN  # the streamed layout's first bytes
from tests.eligibility_util import deal_text, linked_lane_set, registered, seal_period, tape_rows
from tests.snapshot_util import Sealed, make_loans, seal_in_memory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal_in_memory(make_loans(5), chunk_log2=2, lane_set="dpd5-v3", ipa_rounds=0)


def _rebuild(s: Sealed, **kw: object) -> dict[str, object]:
    o = s.outcome
    return build_header(
        context=s.context, params=s.params, sequence=1, previous_header_hash=None,
        sealed_at=s.header["sealed_at"], leaf_count=o.leaf_count, merkle_root=o.merkle_root, currency="CNY",
        dpd_bucket_edges=(0, 30, 60, 90), aggregates=o.aggregates, policy_version="test-policy",
        packed_sums=o.packed_sums, aggregate_proof=o.aggregate_proof, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_header_without_a_deal_is_unchanged(sealed: Sealed) -> None:
    rebuilt = _rebuild(sealed)
    assert "extensions" not in rebuilt
    assert header_hash(rebuilt) == header_hash(sealed.header)


def test_a_bound_header_names_the_deal_and_a_verifier_checks_it(sealed: Sealed) -> None:
    deal = parse_deal_text(deal_text())
    signed = bundle.sign_document(sealed.key, "snapshot-header", _rebuild(sealed, deal=deal))
    assert signed["extensions"] == {"deal": deal_binding(deal)}
    assert header_hash(signed) != header_hash(sealed.header)  # the hash covers the binding
    key = sealed.key.public_key()
    header = verify_header(signed, key, deal=deal, lane_sets={"dpd5-v3"})
    assert header.deal_binding == deal_binding(deal)
    other = parse_deal_text(deal_text(max_balance_fen=123))
    with pytest.raises(VerificationError) as err:
        verify_header(signed, key, deal=other, lane_sets={"dpd5-v3"})
    assert err.value.check == "deal.binding"
    # An unbound header is accepted by a verifier holding a deal; a forged binding is not signed.
    verify_header(sealed.header, key, deal=other, lane_sets={"dpd5-v3"})
    forged = copy.deepcopy(signed)
    forged["extensions"]["deal"]["deal_hash"] = "00" * 32
    with pytest.raises(VerificationError) as err:
        verify_header(forged, key, lane_sets={"dpd5-v3"})
    assert err.value.check == "header.signature"
    forged["extensions"]["deal"]["extra"] = 1
    with pytest.raises(EncodingError):
        verify_header(forged, key, lane_sets={"dpd5-v3"})


def test_a_deal_of_another_pool_is_refused_when_sealing(sealed: Sealed) -> None:
    with pytest.raises(EncodingError, match="governs pool"):
        _rebuild(sealed, deal=parse_deal_text(deal_text(pool_id="POOL-2")))


def test_verify_snapshot_checks_the_binding() -> None:
    with registered(linked_lane_set()) as lanes:
        p = seal_period(lanes, tape_rows(n_previous=2, n_purchased=1))
        deal = parse_deal_text(deal_text())
        doc = bundle.unsigned_body(p.sealed.header)
        bound = bundle.sign_document(
            p.sealed.key, "snapshot-header", {**doc, "extensions": {"deal": deal_binding(deal)}}
        )
        first, rest = p.sealed.bundle_text.split("\n", 1)
        assert first.startswith(_OPEN)
        _, end = json.JSONDecoder().raw_decode(first[len(_OPEN) :])
        new_first = _OPEN + json.dumps(bound, separators=(",", ":")) + first[len(_OPEN) + end :]
        bound_text = new_first + "\n" + rest
        key = p.sealed.key.public_key()
        assert verify_snapshot(io.StringIO(bound_text), key, lane_sets={lanes.name}, deal=deal).deal_binding
        with pytest.raises(VerificationError) as err:
            verify_snapshot(
                io.StringIO(bound_text),
                key,
                lane_sets={lanes.name},
                deal=parse_deal_text(deal_text(version=2)),
            )
        assert err.value.check == "deal.binding"


def test_the_packaged_example_deal_is_the_documented_one() -> None:
    from gateway.alerts.demo import EXAMPLE_DEAL

    assert EXAMPLE_DEAL.read_bytes() == (ROOT / "docs" / "examples" / "deal.toml").read_bytes()
    assert load_deal(EXAMPLE_DEAL).deal_id == "PP-2026-1"
