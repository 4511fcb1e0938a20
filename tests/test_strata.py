"""Stratification tables of the pool statement v2: the auditor's checks, a malicious prover for each
property the table claims, tampering with every part of a row, and the cells against pandas."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import bundle
from proofs.errors import EncodingError, VerificationError
from proofs.group import ORDER, get_group
from proofs.lanes import get_lane_set, pool_v2
from proofs.loan_facts import STATES, TERMINAL_STATES, LoanFacts
from proofs.pedersen import commit
from proofs.snapshot import loan_blindings, read_snapshot_parts, verify_snapshot, write_snapshot_bundle
from proofs.strata import Accumulator, Row, Table, check_dimensions, leaf_cells, verify_row
from tests.snapshot_util import Sealed, seal_in_memory

LANES = pool_v2(20, (20, 20, 16, 12, 20, 20, 20), balance_cap=900_000)
DIMS = ("rate_band", "region", "vintage")


def make_facts(n: int, *, seed: int = 5) -> list[LoanFacts]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        state = rng.choices(range(len(STATES)), weights=[70] + [3] * 9)[0]
        balance = 0 if STATES[state] in TERMINAL_STATES else rng.randrange(0, 900_001)
        flows = tuple(rng.randrange(0, 1 << 12) for _ in range(7))
        labels = {
            "rate_band": rng.choice(["0-599", "600-1199", "1200+"]),
            "region": rng.choice(["CA", "NY", "TX", "UNKNOWN"]),
            "vintage": rng.choice(["2017-Q4", "2018-Q1"]),
        }
        out.append(LoanFacts(f"E{i:06d}", state, balance, flows, labels))
    return out


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return seal_in_memory(
        make_facts(21), chunk_log2=3, lane_set=LANES.name, ipa_rounds=2, strata_dimensions=DIMS
    )


def _parts(text: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    header, table, chunks = read_snapshot_parts(io.StringIO(text))
    return header, table, list(chunks)


def _write(header: dict[str, Any], table: dict[str, Any] | None, chunks: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if table is None:
        out.write(
            '{"format":"poolproof/snapshot/v1","header":'
            + json.dumps(header, separators=(",", ":"))
            + ',"chunks":[\n'
            + ",\n".join(json.dumps(c, separators=(",", ":")) for c in chunks)
            + "\n]}\n"
        )
    else:
        write_snapshot_bundle(out, header, chunks, table)
    return out.getvalue()


def _resign(sealed: Sealed, header: dict[str, Any], table: Table) -> dict[str, Any]:
    """The malicious prover holds the gateway key: it signs whatever table it likes."""
    body = dict(bundle.unsigned_body(header))
    body["strata"] = table.header_field()
    return bundle.sign_document(sealed.key, "snapshot-header", body)


def _table(sealed: Sealed, doc: dict[str, Any]) -> Table:
    return Table.from_dict(get_group(), doc, len(LANES.inputs))


def _verify(text: str, sealed: Sealed) -> Any:
    return verify_snapshot(io.StringIO(text), sealed.key.public_key())


def _cheat(sealed: Sealed, rows: list[Row]) -> str:
    header, _table_doc, chunks = _parts(sealed.bundle_text)
    forged = Table(DIMS, tuple(rows))
    return _write(_resign(sealed, header, forged), forged.to_dict(), chunks)


def test_honest_table_verifies_and_each_dimension_partitions_the_pool(sealed: Sealed) -> None:
    header = _verify(sealed.bundle_text, sealed)
    assert header.strata["dimensions"] == list(DIMS)
    table = sealed.outcome.strata
    assert table is not None
    assert header.strata["root"] == table.root().hex()
    for dim in DIMS:
        assert sum(r.count for r in table.rows if r.dimension == dim) == len(sealed.loans)


def test_cell_counts_and_committed_sums_equal_a_pandas_groupby(sealed: Sealed) -> None:
    """Every row commits to exactly the sums a plain groupby over the loans gives (count and each
    packed input's value and blinding)."""
    group = get_group()
    frame = pd.DataFrame(
        [
            {
                **f.labels,
                **{f"in{j}": v for j, v in enumerate(LANES.input_values(LANES.facts_values(f)))},
                **{f"r{j}": r for j, r in enumerate(loan_blindings(sealed.seed, f.exposure_id, LANES))},
            }
            for f in sealed.loans  # type: ignore[union-attr]
        ]
    )
    table = sealed.outcome.strata
    assert table is not None
    n_inputs = len(LANES.inputs)
    expected_rows = 0
    for dim in DIMS:
        grouped = frame.groupby(dim)
        sizes = grouped.size()
        expected_rows += len(sizes)
        for cell, count in sizes.items():
            _, row = table.row(dim, str(cell))
            assert row.count == count
            sub = frame[frame[dim] == cell]
            for j in range(n_inputs):
                value = int(sum(int(v) for v in sub[f"in{j}"]))
                blinding = sum(int(r) for r in sub[f"r{j}"]) % ORDER
                assert row.sums[j] == commit(group, value, blinding)
    assert len(table.rows) == expected_rows


def test_a_balance_moved_between_cells_is_caught(sealed: Sealed) -> None:
    table = sealed.outcome.strata
    assert table is not None
    rows = list(table.rows)
    a, b = [i for i, r in enumerate(rows) if r.dimension == "region"][:2]
    # Move one loan's worth of committed balance from one region to another: the dimension still
    # adds up to the pool, but the rows are no longer the sums of their cells' leaves.
    delta = commit(get_group(), 1000, 0)
    rows[a] = Row(
        rows[a].dimension, rows[a].cell, rows[a].count, (rows[a].sums[0] - delta, *rows[a].sums[1:])
    )
    rows[b] = Row(
        rows[b].dimension, rows[b].cell, rows[b].count, (rows[b].sums[0] + delta, *rows[b].sums[1:])
    )
    with pytest.raises(VerificationError, match=r"strata\.cell_sum: cell region=") as exc:
        _verify(_cheat(sealed, rows), sealed)
    assert exc.value.check == "strata.cell_sum"


def test_a_loan_counted_in_the_wrong_cell_is_caught(sealed: Sealed) -> None:
    table = sealed.outcome.strata
    assert table is not None
    rows = list(table.rows)
    a, b = [i for i, r in enumerate(rows) if r.dimension == "vintage"][:2]
    rows[a] = Row(rows[a].dimension, rows[a].cell, rows[a].count - 1, rows[a].sums)
    rows[b] = Row(rows[b].dimension, rows[b].cell, rows[b].count + 1, rows[b].sums)
    with pytest.raises(VerificationError, match=r"strata\.cell_sum"):
        _verify(_cheat(sealed, rows), sealed)


def test_a_cell_total_that_does_not_add_up_is_caught(sealed: Sealed) -> None:
    table = sealed.outcome.strata
    assert table is not None
    rows = list(table.rows)
    i = next(i for i, r in enumerate(rows) if r.dimension == "rate_band")
    extra = commit(get_group(), 5, 0)
    rows[i] = Row(
        rows[i].dimension, rows[i].cell, rows[i].count, (rows[i].sums[0] + extra, *rows[i].sums[1:])
    )
    with pytest.raises(VerificationError, match=r"strata\.dimension_total: dimension rate_band"):
        _verify(_cheat(sealed, rows), sealed)
    rows = list(table.rows)
    rows[i] = Row(rows[i].dimension, rows[i].cell, rows[i].count + 1, rows[i].sums)
    with pytest.raises(
        VerificationError, match=r"strata\.dimension_total: dimension rate_band: its cells hold 22"
    ):
        _verify(_cheat(sealed, rows), sealed)


def test_a_cell_left_out_of_the_table_is_caught(sealed: Sealed) -> None:
    table = sealed.outcome.strata
    assert table is not None
    rows = list(table.rows)
    a, b = [i for i, r in enumerate(rows) if r.dimension == "vintage"][:2]
    merged = Row(
        "vintage",
        rows[a].cell,
        rows[a].count + rows[b].count,
        tuple(x + y for x, y in zip(rows[a].sums, rows[b].sums, strict=True)),
    )
    forged = [r for i, r in enumerate(rows) if i not in (a, b)]
    forged.insert(a, merged)
    with pytest.raises(
        VerificationError, match=r"strata\.cell_sum: cell vintage=.* (has no row|is not the sum)"
    ):
        _verify(_cheat(sealed, forged), sealed)


def test_a_leaf_relabelled_under_a_resigned_root_is_caught(sealed: Sealed) -> None:
    """The prover seals the loans with one loan moved to another region (so the Merkle root and the
    leaves agree) but publishes the honest table: the rows are no longer the sums of the leaves."""
    loans = list(sealed.loans)
    f: LoanFacts = loans[4]  # type: ignore[assignment]
    other = "NY" if f.labels["region"] != "NY" else "CA"
    loans[4] = LoanFacts(f.exposure_id, f.state, f.balance, f.flows, {**f.labels, "region": other})
    moved = seal_in_memory(
        loans, chunk_log2=3, lane_set=LANES.name, ipa_rounds=2, key=sealed.key, strata_dimensions=DIMS
    )
    header, _table_doc, chunks = _parts(moved.bundle_text)
    honest_rows = [r for r in moved.outcome.strata.rows]  # type: ignore[union-attr]
    # Honest table for the original labels, rebuilt over the moved snapshot's commitments.
    group = get_group()
    acc = Accumulator(group, DIMS, len(LANES.inputs))
    cells = [leaf_cells(x.labels, DIMS) for x in sealed.loans]  # type: ignore[union-attr]
    points = [
        [
            group.decode_point(bytes.fromhex(leaf[1])[48 * j : 48 * (j + 1)], allow_identity=True)
            for j in range(4)
        ]
        for c in chunks
        for leaf in c["leaves"]
    ]
    acc.add_chunk(cells, points)
    forged = acc.table()
    assert forged.rows != tuple(honest_rows)
    text = _write(_resign(moved, header, forged), forged.to_dict(), chunks)
    with pytest.raises(VerificationError, match=r"strata\.cell_sum: cell region="):
        _verify(text, moved)


@pytest.mark.parametrize("edit", ["drop", "extra", "not-a-list"])
def test_a_leaf_not_in_exactly_one_cell_of_each_dimension_is_refused(sealed: Sealed, edit: str) -> None:
    header, table, chunks = _parts(sealed.bundle_text)
    leaf = chunks[1]["leaves"][2]
    if edit == "drop":
        leaf[2] = leaf[2][:-1]
    elif edit == "extra":
        leaf[2] = [*leaf[2], "2018-Q1"]
    else:
        leaf[2] = "CA"
    with pytest.raises(VerificationError, match=r"strata\.leaf_cells: chunks\[1\]\.leaves\[2\]"):
        _verify(_write(header, table, chunks), sealed)


def test_a_leaf_without_cells_is_refused(sealed: Sealed) -> None:
    header, table, chunks = _parts(sealed.bundle_text)
    chunks[0]["leaves"][0] = chunks[0]["leaves"][0][:2]
    with pytest.raises(VerificationError, match=r"strata\.leaf_cells"):
        _verify(_write(header, table, chunks), sealed)


def test_a_changed_cell_label_breaks_the_merkle_root(sealed: Sealed) -> None:
    header, table, chunks = _parts(sealed.bundle_text)
    leaf = chunks[0]["leaves"][1]
    leaf[2][1] = "NY" if leaf[2][1] != "NY" else "CA"
    with pytest.raises(VerificationError, match=r"snapshot\.merkle_root"):
        _verify(_write(header, table, chunks), sealed)


def test_a_bundle_without_its_table_is_refused(sealed: Sealed) -> None:
    header, _table_doc, chunks = _parts(sealed.bundle_text)
    with pytest.raises(VerificationError, match=r"strata\.root"):
        _verify(_write(header, None, chunks), sealed)


def _row_edits(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i, _row in enumerate(doc["rows"]):
        for field in ("dimension", "cell", "count", "sums"):
            changed = json.loads(json.dumps(doc))
            r = changed["rows"][i]
            if field == "dimension":
                r["dimension"] = "region" if r["dimension"] != "region" else "vintage"
            elif field == "cell":
                r["cell"] = r["cell"] + "X"
            elif field == "count":
                r["count"] += 1
            else:
                blob = bytearray(bytes.fromhex(r["sums"]))
                other = bytes.fromhex(doc["rows"][(i + 1) % len(doc["rows"])]["sums"])
                blob[:48] = other[:48]
                r["sums"] = blob.hex()
            out.append((f"rows[{i}].{field}", changed))
    return out


def test_every_part_of_every_row_altered_is_rejected(sealed: Sealed) -> None:
    header, table, chunks = _parts(sealed.bundle_text)
    edits = _row_edits(table)
    assert len(edits) == 4 * len(table["rows"])
    for where, changed in edits:
        with pytest.raises((VerificationError, EncodingError)):
            _verify(_write(header, changed, chunks), sealed)
        # ... and also when the malicious prover re-signs the header over the altered table.
        try:
            forged = _table(sealed, changed)
        except EncodingError:
            continue
        resigned = _resign(sealed, header, forged)
        with pytest.raises((VerificationError, EncodingError)):
            _verify(_write(resigned, forged.to_dict(), chunks), sealed)
        assert where


def test_a_row_is_proven_in_the_header_table_by_its_audit_path(sealed: Sealed) -> None:
    header = _verify(sealed.bundle_text, sealed)
    table = sealed.outcome.strata
    assert table is not None
    for i, row in enumerate(table.rows):
        verify_row(row, i, header.strata, table.audit_path(i))
    i, row = table.row("region", "CA")
    forged = Row(row.dimension, row.cell, row.count + 1, row.sums)
    with pytest.raises(VerificationError, match=r"strata\.row"):
        verify_row(forged, i, header.strata, table.audit_path(i))
    with pytest.raises(KeyError, match="its cells are"):
        table.row("region", "ZZ")
    with pytest.raises(KeyError, match="dimensions are rate_band, region, vintage"):
        table.row("colour", "red")


def test_dimension_and_cell_names_are_checked() -> None:
    with pytest.raises(EncodingError, match="named twice"):
        check_dimensions(["region", "region"])
    with pytest.raises(EncodingError, match="not a dimension name"):
        check_dimensions(["Region"])
    with pytest.raises(VerificationError, match=r"strata\.leaf_cells.*no cell for vintage"):
        leaf_cells({"region": "CA"}, ("region", "vintage"))
    with pytest.raises(VerificationError, match=r"unknown dimension colour"):
        leaf_cells({"region": "CA", "colour": "red"}, ("region",))
    with pytest.raises(EncodingError, match="not a cell label"):
        leaf_cells({"region": "C A"}, ("region",))


def test_the_prover_refuses_a_loan_without_a_cell_in_every_dimension() -> None:
    loans = make_facts(4)
    bad = loans[2]
    loans[2] = LoanFacts(bad.exposure_id, bad.state, bad.balance, bad.flows, {"region": "CA"})
    with pytest.raises(ValueError, match="exactly one cell of each dimension"):
        seal_in_memory(loans, chunk_log2=2, lane_set=LANES.name, ipa_rounds=2, strata_dimensions=DIMS)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), st.integers(0, 10**6)),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 8),
)
def test_accumulated_chunks_give_the_same_table_however_the_leaves_are_split(
    leaves: list[tuple[str, str, int]], split: int
) -> None:
    group = get_group()
    g = commit(group, 1, 0)
    cells = [(a, b) for a, b, _ in leaves]
    points = [[g * v] for _, _, v in leaves]
    whole = Accumulator(group, ("d1", "d2"), 1)
    whole.add_chunk(cells, points)
    parts = Accumulator(group, ("d1", "d2"), 1)
    for start in range(0, len(leaves), split):
        piece = Accumulator(group, ("d1", "d2"), 1)
        piece.add_chunk(cells[start : start + split], points[start : start + split])
        parts.add_partial(piece.partial())
    assert whole.table() == parts.table()
    for row in whole.table().rows:
        d = 0 if row.dimension == "d1" else 1
        members = [v for c, (_, _, v) in zip(cells, leaves, strict=True) if c[d] == row.cell]
        assert row.count == len(members)
        assert row.sums[0] == g * sum(members)


def test_dpd5_snapshots_carry_no_table() -> None:
    from tests.snapshot_util import make_loans

    plain = seal_in_memory(make_loans(5), chunk_log2=2)
    header, table, _ = _parts(plain.bundle_text)
    assert table is None
    assert "strata" not in header
    assert get_lane_set(plain.params.lane_set).circuit is None


@pytest.mark.parametrize("cheat", ["moved", "not_adding_up", "leaf_cells"])
def test_the_auditors_tool_names_the_failed_strata_check(
    sealed: Sealed, cheat: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from proofs.audit_cli import main as audit_main
    from proofs.signing import public_key_to_pem

    table = sealed.outcome.strata
    assert table is not None
    rows = list(table.rows)
    a, b = [i for i, r in enumerate(rows) if r.dimension == "region"][:2]
    delta = commit(get_group(), 1000, 0)
    if cheat == "moved":
        rows[a] = Row(
            rows[a].dimension, rows[a].cell, rows[a].count, (rows[a].sums[0] - delta, *rows[a].sums[1:])
        )
        rows[b] = Row(
            rows[b].dimension, rows[b].cell, rows[b].count, (rows[b].sums[0] + delta, *rows[b].sums[1:])
        )
        text, check = _cheat(sealed, rows), "strata.cell_sum"
    elif cheat == "not_adding_up":
        rows[a] = Row(rows[a].dimension, rows[a].cell, rows[a].count + 1, rows[a].sums)
        text, check = _cheat(sealed, rows), "strata.dimension_total"
    else:
        header, table_doc, chunks = _parts(sealed.bundle_text)
        chunks[0]["leaves"][0][2] = chunks[0]["leaves"][0][2][:1]
        text, check = _write(header, table_doc, chunks), "strata.leaf_cells"
    bundle_path, key_path = tmp_path / "snapshot.json", tmp_path / "gateway.pub"
    bundle_path.write_text(text)
    key_path.write_bytes(public_key_to_pem(sealed.key.public_key()))
    assert audit_main(["verify-snapshot", str(bundle_path), "--key", str(key_path), "--json"]) == 1
    assert check in capsys.readouterr().out
