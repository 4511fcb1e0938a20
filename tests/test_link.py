"""Linked months: an honest chain round trip (every roll-matrix cell recomputed by pandas from the loan
rows), a malicious prover for every property the link claims, tampering of every field of the link
bundle, and the pool-v4 lane set."""

from __future__ import annotations

import copy
import dataclasses
import io
import random
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proofs import bundle
from proofs import linkcircuit as lc
from proofs import poolcircuit as pc
from proofs.errors import EncodingError, ProvingError, VerificationError
from proofs.group import ORDER, get_group
from proofs.lanes import get_lane_set, pool_v3
from proofs.link import LINK_KIND, LinkLoan, SnapshotLeaves, prove_link, read_leaves, verify_link
from proofs.loan_facts import STATES, LoanFacts
from proofs.snapshot import verify_snapshot
from proofs.transcript import Transcript
from tests.json_paths import json_paths
from tests.link_chain import (
    BALANCE_CAP,
    FLOW_CAPS,
    LANES,
    OUTSTANDING,
    TERMINAL,
    Month,
    facts_for,
    first_facts,
    next_facts,
    seal_month,
)
from tests.reference.roll_rates import exits as reference_exits
from tests.reference.roll_rates import roll_matrix


@dataclasses.dataclass
class Chain:
    key: Ed25519PrivateKey
    months: list[Month]
    entries: list[list[str]]
    links: list[dict[str, Any]]
    leaves: list[SnapshotLeaves]


@pytest.fixture(scope="module")
def chain() -> Chain:
    key = Ed25519PrivateKey.generate()
    rng = random.Random(20261203)
    facts = first_facts(16, rng)
    months = [seal_month(facts, key, sequence=1, previous=None)]
    entries: list[list[str]] = []
    for m in range(2, 4):
        prev = months[-1]
        nxt = next_facts(prev.facts, rng, new=2, first_id=100 * m)
        entries.append(
            [f.exposure_id for f in nxt if f.exposure_id not in {p.exposure_id for p in prev.facts}]
        )
        months.append(seal_month(nxt, key, sequence=m, previous=prev.header))
    links = [
        prove_link(key, a.header, b.header, a.loans, b.loans, entries=e, ipa_rounds=2)
        for a, b, e in zip(months, months[1:], entries, strict=False)
    ]
    leaves = [read_leaves(m.text, key.public_key()) for m in months]
    return Chain(key, months, entries, links, leaves)


def _frame(facts: list[LoanFacts]) -> pd.DataFrame:
    """The raw loan rows: exposure id, state name and outstanding balance."""
    return pd.DataFrame(
        {
            "exposure_id": [f.exposure_id for f in facts],
            "state": [STATES[f.state] for f in facts],
            "balance": [f.balance for f in facts],
        }
    )


def _verify(chain: Chain, k: int, doc: dict[str, Any], **kw: Any) -> Any:
    return verify_link(chain.leaves[k], chain.leaves[k + 1], doc, chain.key.public_key(), **kw)


def _resign(chain: Chain, doc: dict[str, Any]) -> dict[str, Any]:
    return bundle.sign_document(chain.key, LINK_KIND, bundle.unsigned_body(doc))


# --- honest round trip -----------------------------------------------------------------------------


def test_honest_chain_verifies_and_every_cell_matches_pandas(chain: Chain) -> None:
    assert chain.links[0]["exits"]["exposure_ids"] or chain.links[1]["exits"]["exposure_ids"]
    for k, doc in enumerate(chain.links):
        prev, cur = chain.months[k], chain.months[k + 1]
        result = verify_link(prev.text, cur.text, doc, chain.key.public_key(), purchases=chain.entries[k])
        counts, balances = roll_matrix(_frame(prev.facts), _frame(cur.facts))
        assert [list(r) for r in result.roll.counts] == counts
        assert [list(r) for r in result.roll.balances] == balances
        gone = reference_exits(_frame(prev.facts), _frame(cur.facts))
        assert list(result.exits) == list(gone["exposure_id"])
        assert result.exits_by_state == tuple(int((gone["state"] == s).sum()) for s in STATES)
        assert sorted(result.entries) == sorted(chain.entries[k])
        assert sum(map(sum, counts)) == doc["kept"] > 0


def test_roll_rate_is_cell_over_row_total(chain: Chain) -> None:
    result = _verify(chain, 0, chain.links[0])
    prev = _frame(chain.months[0].facts)
    cur = _frame(chain.months[1].facts)
    counts, _ = roll_matrix(prev, cur)
    for i in range(len(STATES)):
        for j in range(len(STATES)):
            assert result.roll.rate(i, j) == (counts[i][j], sum(counts[i]))


def test_the_link_bundle_is_canonical_json_that_round_trips(chain: Chain) -> None:
    data = bundle.dump_bundle(chain.links[0])
    assert _verify(chain, 0, bundle.load_bundle(data)).roll.counts


# --- malicious prover --------------------------------------------------------------------------------


def _points(leaves: SnapshotLeaves) -> list[list[Any]]:
    return [list(leaf.inputs) for leaf in leaves.leaves]


def _forge(
    chain: Chain, k: int, prev_loans: list[LinkLoan], cur_loans: list[LinkLoan] | None = None
) -> dict[str, Any]:
    """A link proven from altered openings against the real leaves' commitments."""
    a, b = chain.months[k], chain.months[k + 1]
    return prove_link(
        chain.key,
        a.header,
        b.header,
        prev_loans,
        cur_loans or b.loans,
        entries=chain.entries[k],
        prev_commitments=_points(chain.leaves[k]),
        cur_commitments=_points(chain.leaves[k + 1]),
        ipa_rounds=2,
    )


def _kept_index(chain: Chain, k: int, outstanding: bool = True) -> int:
    cur_ids = {f.exposure_id for f in chain.months[k + 1].facts}
    for i, f in enumerate(chain.months[k].facts):
        if f.exposure_id in cur_ids and (f.state in OUTSTANDING) == outstanding and f.balance > 0:
            return i
    raise AssertionError("no such kept loan")


def _with_facts(loan: LinkLoan, facts: LoanFacts) -> LinkLoan:
    return dataclasses.replace(loan, values=LANES.facts_values(facts))


def test_a_loans_previous_state_altered_is_rejected(chain: Chain) -> None:
    i = _kept_index(chain, 0)
    f = chain.months[0].facts[i]
    loans = list(chain.months[0].loans)
    other = next(s for s in sorted(OUTSTANDING) if s != f.state)
    loans[i] = _with_facts(loans[i], dataclasses.replace(f, state=other))
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, _forge(chain, 0, loans))
    assert exc.value.check == "linkcircuit.batch"


def test_a_previous_balance_altered_is_rejected(chain: Chain) -> None:
    i = _kept_index(chain, 0)
    f = chain.months[0].facts[i]
    loans = list(chain.months[0].loans)
    loans[i] = _with_facts(loans[i], dataclasses.replace(f, balance=f.balance - 1))
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, _forge(chain, 0, loans))
    assert exc.value.check == "linkcircuit.batch"


def test_a_current_state_altered_is_rejected(chain: Chain) -> None:
    cur = chain.months[1]
    j = next(
        j for j, f in enumerate(cur.facts) if f.exposure_id in {p.exposure_id for p in chain.months[0].facts}
    )
    f = cur.facts[j]
    loans = list(cur.loans)
    loans[j] = _with_facts(loans[j], dataclasses.replace(f, state=(f.state + 1) % len(STATES), balance=0))
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, _forge(chain, 0, list(chain.months[0].loans), loans))
    assert exc.value.check == "linkcircuit.batch"


def test_an_opened_cell_altered_is_rejected(chain: Chain) -> None:
    doc = copy.deepcopy(chain.links[0])
    counts = doc["roll"]["counts"]
    i, j = next((i, j) for i in range(10) for j in range(10) if counts[i][j])
    counts[i][j] -= 1
    counts[i][(j + 1) % 10] += 1  # the total stays right: only the opening can tell
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, _resign(chain, doc))
    assert exc.value.check == "link.roll_opening"
    doc = copy.deepcopy(chain.links[0])
    row = next(r for r in doc["roll"]["balances"] if any(r))
    row[next(j for j, v in enumerate(row) if v)] += 1
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, _resign(chain, doc))
    assert exc.value.check == "link.roll_opening"


def test_a_row_commitment_altered_is_rejected(chain: Chain) -> None:
    g = get_group()
    doc = copy.deepcopy(chain.links[0])
    row = g.decode_point(bytes.fromhex(doc["pieces"][0]["rows"][3]), allow_identity=True)
    doc["pieces"][0]["rows"][3] = (row + g.hash_to_curve(b"x", b"test")).to_bytes().hex()
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, _resign(chain, doc))
    assert exc.value.check == "linkcircuit.batch"


def test_a_row_blinding_altered_is_rejected(chain: Chain) -> None:
    doc = copy.deepcopy(chain.links[0])
    b = int(doc["roll"]["row_blindings"][0], 16)
    doc["roll"]["row_blindings"][0] = ((b + 1) % ORDER).to_bytes(32, "big").hex()
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, _resign(chain, doc))
    assert exc.value.check == "link.roll_opening"


def _dropped_pair(chain: Chain) -> tuple[Month, Month, int]:
    """Month 2 re-sealed without one kept, outstanding loan of month 1 (dropped while outstanding)."""
    prev = chain.months[0]
    i = _kept_index(chain, 0)
    gone = prev.facts[i].exposure_id
    facts = [f for f in chain.months[1].facts if f.exposure_id != gone]
    return prev, seal_month(facts, chain.key, sequence=2, previous=prev.header), i


def test_a_loan_dropped_without_a_terminal_state_is_rejected(chain: Chain) -> None:
    prev, cur, i = _dropped_pair(chain)
    with pytest.raises(ProvingError, match="only after a terminal state"):
        prove_link(chain.key, prev.header, cur.header, prev.loans, cur.loans, entries=chain.entries[0])
    # A prover that claims the loan was terminal: the exits' opening fails.
    lying = list(prev.loans)
    lying[i] = _with_facts(lying[i], dataclasses.replace(prev.facts[i], state=min(TERMINAL), balance=0))
    doc = prove_link(
        chain.key,
        prev.header,
        cur.header,
        lying,
        cur.loans,
        entries=chain.entries[0],
        prev_commitments=_points(chain.leaves[0]),
    )
    leaves = read_leaves(cur.text, chain.key.public_key())
    with pytest.raises(VerificationError) as exc:
        verify_link(chain.leaves[0], leaves, doc, chain.key.public_key())
    assert exc.value.check == "link.exit_opening"
    # Opening the exits truthfully shows the outstanding slot.
    state = prev.facts[i].state
    doc["exits"]["by_state"] = [
        v - (s == min(TERMINAL)) + (s == state) for s, v in enumerate(doc["exits"]["by_state"])
    ]
    with pytest.raises(VerificationError) as exc:
        verify_link(chain.leaves[0], leaves, _resign(chain, doc), chain.key.public_key())
    assert exc.value.check == "link.exit_state"


def test_an_unlisted_new_loan_is_rejected(chain: Chain) -> None:
    a, b = chain.months[0], chain.months[1]
    with pytest.raises(ProvingError, match="entries"):
        prove_link(chain.key, a.header, b.header, a.loans, b.loans, entries=chain.entries[0][1:])
    doc = copy.deepcopy(chain.links[0])
    doc["entries"] = doc["entries"][1:]
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, _resign(chain, doc))
    assert exc.value.check == "link.entries"
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, chain.links[0], purchases=chain.entries[0][1:])
    assert exc.value.check == "link.entries"


def test_listed_exits_other_than_the_leavers_are_rejected(chain: Chain) -> None:
    k = 0 if chain.links[0]["exits"]["exposure_ids"] else 1
    doc = copy.deepcopy(chain.links[k])
    doc["exits"]["exposure_ids"] = doc["exits"]["exposure_ids"][1:]
    with pytest.raises(VerificationError) as exc:
        _verify(chain, k, _resign(chain, doc))
    assert exc.value.check == "link.exits"


def test_a_link_over_non_consecutive_snapshots_is_rejected(chain: Chain) -> None:
    a, c = chain.months[0], chain.months[2]
    with pytest.raises(ProvingError):
        prove_link(chain.key, a.header, c.header, a.loans, c.loans, entries=[])
    with pytest.raises(VerificationError) as exc:
        verify_link(chain.leaves[0], chain.leaves[2], chain.links[1], chain.key.public_key())
    assert exc.value.check == "link.chain"
    with pytest.raises(VerificationError) as exc:  # the right pair, but the link of another pair
        verify_link(chain.leaves[0], chain.leaves[1], chain.links[1], chain.key.public_key())
    assert exc.value.check == "link.snapshots"


def test_a_link_over_different_pools_is_rejected(chain: Chain) -> None:
    other = seal_month(
        chain.months[1].facts, chain.key, sequence=2, previous=chain.months[0].header, pool_id="POOL-X"
    )
    with pytest.raises(ProvingError):
        prove_link(
            chain.key, chain.months[0].header, other.header, chain.months[0].loans, other.loans, entries=[]
        )
    leaves = read_leaves(other.text, chain.key.public_key())
    with pytest.raises(VerificationError) as exc:
        verify_link(chain.leaves[0], leaves, chain.links[0], chain.key.public_key())
    assert exc.value.check == "link.pool"


def test_a_pool_v3_chain_cannot_be_linked(chain: Chain) -> None:
    v3 = pool_v3(BALANCE_CAP, FLOW_CAPS)
    rng = random.Random(5)
    a = seal_month(first_facts(4, rng), chain.key, sequence=1, previous=None, lanes=v3)
    b = seal_month(a.facts, chain.key, sequence=2, previous=a.header, lanes=v3)
    with pytest.raises(ProvingError, match="not linkable"):
        prove_link(chain.key, a.header, b.header, a.loans, b.loans, entries=[])


def test_a_link_signed_by_another_key_is_rejected(chain: Chain) -> None:
    doc = bundle.sign_document(Ed25519PrivateKey.generate(), LINK_KIND, bundle.unsigned_body(chain.links[0]))
    with pytest.raises(VerificationError) as exc:
        _verify(chain, 0, doc)
    assert exc.value.check == "link.signature"


def test_a_broken_snapshot_fails_the_link_check(chain: Chain) -> None:
    text = chain.months[1].text
    lines = text.split("\n")
    lines[1] = lines[1].replace('"proofs":["', '"proofs":["00', 1)
    with pytest.raises((VerificationError, EncodingError)):
        verify_link(chain.months[0].text, "\n".join(lines), chain.links[0], chain.key.public_key())


# --- tampering: every field of the link bundle -----------------------------------------------------------


def _mutations(value: Any) -> list[Any]:
    if isinstance(value, bool) or value is None:
        return [1]
    if isinstance(value, int):
        return [value + 1]
    if isinstance(value, str):
        if value and all(c in "0123456789abcdef" for c in value):
            return [value[:-1] + ("0" if value[-1] != "0" else "1")]
        return [value + "x"]
    if isinstance(value, list):
        return [value[:-1] if value else [0]]
    return [{}]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


def test_every_field_of_the_link_bundle_is_covered(chain: Chain) -> None:
    """Altered anywhere, the bundle is refused: by the signature, and re-signed by a later check."""
    original = chain.links[0]
    paths = [p for p in json_paths(original, max_items=2) if p and p[0] != "signatures"]
    assert len(paths) > 40
    checked = 0
    for path in paths:
        node: Any = original
        for p in path:
            node = node[p]
        for value in _mutations(node):
            doc = copy.deepcopy(original)
            _set(doc, path, value)
            with pytest.raises((VerificationError, EncodingError)):
                _verify(chain, 0, doc)
            if isinstance(value, (dict, list)) and path[0] in ("format", "signatures"):
                continue
            try:
                resigned = _resign(chain, doc)
            except EncodingError:
                continue  # no longer a link bundle at all
            with pytest.raises((VerificationError, EncodingError)):
                _verify(chain, 0, resigned)
            checked += 1
    assert checked > 40


def test_every_element_of_a_piece_proof_is_covered(chain: Chain) -> None:
    from tests.tampering import tampered_proofs

    g = get_group()
    doc = chain.links[0]
    index = min(range(len(doc["pieces"])), key=lambda k: doc["pieces"][k]["loans"])  # the shortest proof
    piece = doc["pieces"][index]
    proof = lc.decode_proof(g, bytes.fromhex(piece["proof"]), piece["loans"], 2)
    for name, bad in tampered_proofs(g, proof, ("A_I", "A_O", "S", "T1", "T3", "T4", "T5", "T6")):
        forged = copy.deepcopy(doc)
        forged["pieces"][index]["proof"] = bad.to_bytes().hex()
        with pytest.raises(VerificationError) as exc:
            _verify(chain, 0, _resign(chain, forged))
        assert exc.value.check == "linkcircuit.batch", name


# --- the pool-v4 lane set ----------------------------------------------------------------------------------


def test_pool_v4_packs_counts_alone_and_balances_in_two_inputs() -> None:
    lanes = get_lane_set(LANES.name)
    assert lanes.name.startswith("pool-v4:c900000:f")
    assert lanes.packing is not None
    counts, bal0, bal1 = lanes.packing[:3]
    assert [(s.lane, s.shift, s.width) for s in counts] == [
        (f"count_{s}", 25 * i, 25) for i, s in enumerate(STATES)
    ]
    width = BALANCE_CAP.bit_length() + 25
    assert [(s.lane, s.shift) for s in bal0 + bal1] == [
        (f"balance_{s}", width * (i % 3)) for i, s in enumerate(STATES[:6])
    ]
    assert all(s.lane.startswith("flow_") for slots in lanes.packing[3:] for s in slots)
    assert lanes.max_leaves == (1 << 25) - 1
    v3_circuit = pool_v3(BALANCE_CAP, FLOW_CAPS).circuit
    assert lanes.circuit is not None
    assert v3_circuit is not None
    assert lanes.circuit.gates_per_loan == v3_circuit.gates_per_loan
    assert lanes.circuit.domain == pc.DOMAIN_LINKABLE != pc.DOMAIN_EXACT
    with pytest.raises(KeyError):
        get_lane_set("pool-v4:c0900000:f" + ",".join(map(str, FLOW_CAPS)))


def test_a_pool_v4_proof_never_verifies_as_pool_v3() -> None:
    g = get_group()
    v4 = LANES.circuit
    assert v4 is not None
    same_packing_v3 = dataclasses.replace(v4, linkable=False)  # pool-v3's domain and params, v4's packing
    rng = random.Random(1)
    facts = [facts_for(f"E{i}", i % 10, rng.randrange(BALANCE_CAP), rng) for i in range(2)]
    values = [v4.lane_values(f) for f in facts]
    blindings = [[rng.randrange(1, ORDER) for _ in range(v4.inputs)] for _ in facts]
    proof, commitments = pc.prove_pool(g, v4, values, blindings, Transcript(b"t"))
    pc.verify_pool(g, v4, commitments, proof, Transcript(b"t"))
    with pytest.raises(VerificationError) as exc:
        pc.verify_pool(g, same_packing_v3, commitments, proof, Transcript(b"t"))
    assert exc.value.check == "poolcircuit.equation"
    v3_circuit = pool_v3(BALANCE_CAP, FLOW_CAPS).circuit
    assert v3_circuit is not None
    with pytest.raises(ValueError, match="linkable"):
        dataclasses.replace(v3_circuit, linkable=True)


def test_pool_v4_snapshot_is_audited_in_full(chain: Chain) -> None:
    header = verify_snapshot(io.StringIO(chain.months[0].text), chain.key.public_key())
    assert header.lanes.name == LANES.name
    assert header.leaf_count == len(chain.months[0].facts)
