"""Sealing one chunk: commit to its loans and prove every lane (pure; runs on any worker).

Also the check of a chunk result that an untrusted worker returned against its task.
"""

from __future__ import annotations

from dataclasses import replace

from proofs import bulletproofs, lanecircuit, merkle, poolcircuit
from proofs.errors import EncodingError, VerificationError
from proofs.group import ORDER, get_group
from proofs.lanes import LaneSet, get_lane_set
from proofs.loan_facts import LoanFacts
from proofs.pedersen import commit_many
from proofs.snapshot._layout import circuit_rounds, expected_parts, labelled, leaf_bytes, part_entries
from proofs.snapshot._params import circuit_packing
from proofs.snapshot._tasks import ChunkResult, ChunkTask, ProofPart, SealedLoan, prover_nonces
from proofs.strata import leaf_cells


def loan_values(lanes: LaneSet, loan: SealedLoan) -> tuple[int, ...]:
    """One loan's lane values under ``lanes``.

    Raises:
        ValueError: the loan's kind does not fit the lane set (facts for a dpd5 lane set, or the
            reverse), or malformed values.
    """
    if isinstance(loan, LoanFacts):
        return lanes.facts_values(loan)
    if lanes.circuit is not None:
        raise ValueError(f"lane set {lanes.name} needs each loan's facts (state, balance, flows)")
    return lanes.lane_values(loan.principal, loan.bucket)


def commit_chunk(task: ChunkTask, lanes: LaneSet) -> tuple[list[tuple[int, ...]], ChunkResult]:
    """A chunk's lane values, and its commitments, leaf hashes and lane totals without proofs.

    :func:`seal_chunk` adds the proofs; :func:`check_chunk_result` recomputes this to check what an
    untrusted executor returned.

    Raises:
        ValueError: malformed loan input (negative principal, unknown bucket) or blindings.
    """
    n_inputs = len(lanes.inputs)
    values = [loan_values(lanes, loan) for loan in task.loans]
    cells = loan_cells(task, lanes)
    blindings = task.blindings
    if len(blindings) != len(task.loans) or any(len(row) != n_inputs for row in blindings):
        raise ValueError(f"chunk {task.chunk_index}: need {n_inputs} blindings for each of its loans")
    flat_points = commit_many(
        get_group(task.group_name),
        [v for row in values for v in lanes.input_values(row)],
        [r for row in blindings for r in row],
    )
    commitments = tuple(
        tuple(p.to_bytes() for p in flat_points[i * n_inputs : (i + 1) * n_inputs])
        for i in range(len(values))
    )
    return values, ChunkResult(
        chunk_index=task.chunk_index,
        exposure_ids=tuple(loan.exposure_id for loan in task.loans),
        commitments=commitments,
        leaf_hashes=tuple(
            merkle.leaf_hash(leaf_bytes(loan.exposure_id, row, cells[i] if cells else None))
            for i, (loan, row) in enumerate(zip(task.loans, commitments, strict=True))
        ),
        proofs=(),
        lane_value_sums=tuple(sum(row[j] for row in values) for j in range(len(lanes.lanes))),
        lane_blinding_sums=tuple(sum(row[j] for row in blindings) % ORDER for j in range(n_inputs)),
        cells=cells,
    )


def loan_cells(task: ChunkTask, lanes: LaneSet) -> tuple[tuple[str, ...], ...]:
    """Each loan's stratification cells in the snapshot's dimension order (``()`` if leaves carry none).

    Raises:
        ValueError: a pool statement v2 snapshot without dimensions, or a loan whose labels do not
            name exactly one well-formed cell in each dimension.
    """
    dims = task.params.strata_dimensions
    if not dims:
        return ()
    if not labelled(lanes):
        raise ValueError(f"lane set {lanes.name} has no stratification cells")
    out = []
    for loan in task.loans:
        labels = loan.labels if isinstance(loan, LoanFacts) else {}
        try:
            out.append(leaf_cells(labels, dims, f"loan {loan.exposure_id} labels"))
        except (VerificationError, EncodingError) as exc:
            raise ValueError(str(exc)) from None
    return tuple(out)


def seal_chunk(task: ChunkTask) -> ChunkResult:
    """Commit to a chunk of loans and range-prove every lane value (pure; runs on any worker).

    Raises:
        ProvingError: a lane value outside its range (the prover refuses, nothing is produced).
        ValueError: malformed loan input (negative principal, unknown bucket).
    """
    group = get_group(task.group_name)
    lanes = get_lane_set(task.params.lane_set)
    values, public = commit_chunk(task, lanes)
    blindings, commitments = task.blindings, public.commitments
    proofs: list[ProofPart] = []
    for piece, part, offset, size, m, n_bits in expected_parts(lanes, len(task.loans)):
        transcript = task.context.transcript(task.chunk_index, piece, part)
        rounds = (
            circuit_rounds(task.params.ipa_rounds, size, n_bits, lanes)
            if lanes.proof in ("lanecircuit", "poolcircuit")
            else task.params.ipa_rounds
        )
        statement = {
            "proof": lanes.proof,
            "group": "BLS12-381-G1",
            "lane_set": lanes.name,
            "n_bits": n_bits,
            "m": m,
            "loans": size,
            "ipa_rounds": rounds,
            "chunk_log2": task.params.chunk_log2,
        }
        nonces = prover_nonces(
            task.nonce_key, transcript, commitments[offset : offset + size], statement=statement
        )
        if lanes.circuit is not None:
            pool_proof, _ = poolcircuit.prove_pool(
                group,
                lanes.circuit,
                values[offset : offset + size],
                blindings[offset : offset + size],
                transcript,
                ipa_rounds=rounds,
                rng=nonces,
            )
            proof_bytes = pool_proof.to_bytes()
        elif lanes.proof == "lanecircuit":
            circuit_proof, _ = lanecircuit.prove_lanes(
                group,
                values[offset : offset + size],
                blindings[offset : offset + size],
                n_bits,
                transcript,
                ipa_rounds=rounds,
                rng=nonces,
                packing=circuit_packing(lanes),
            )
            proof_bytes = circuit_proof.to_bytes()
        else:
            range_proof, _ = bulletproofs.prove_range(
                group,
                part_entries(values, lanes, offset, size, part),
                part_entries(blindings, lanes, offset, size, part),
                n_bits,
                transcript,
                ipa_rounds=task.params.ipa_rounds,
                rng=nonces,
            )
            proof_bytes = range_proof.to_bytes()
        proofs.append(ProofPart(piece, part, m, n_bits, proof_bytes))
    return replace(public, proofs=tuple(proofs))


def check_chunk_result(task: ChunkTask, result: ChunkResult) -> None:
    """Check a chunk result from an untrusted worker against its task, short of verifying the proofs.

    Everything but the proof bytes is recomputed from the task's loans and blindings (two fixed-base
    commitments a loan), and the proofs must have the expected pieces, parts and sizes. A worker can
    then not change what the snapshot commits to; a bad proof it returns makes the snapshot fail
    :func:`verify_snapshot`, never verify for other values.

    Raises:
        VerificationError: the result does not match the task.
    """
    lanes = get_lane_set(task.params.lane_set)
    parts = expected_parts(lanes, len(task.loans))
    shape = [(piece, part, m, n_bits) for piece, part, _offset, _size, m, n_bits in parts]
    if replace(result, proofs=()) != commit_chunk(task, lanes)[1]:
        raise VerificationError(
            "sealing.worker-result",
            f"chunk {task.chunk_index}: the worker's commitments, leaves or totals do not match its loans",
        )
    if [(p.piece, p.part, p.m, p.n_bits) for p in result.proofs] != shape:
        raise VerificationError(
            "sealing.worker-result",
            f"chunk {task.chunk_index}: the worker's proofs do not have the expected pieces and parts",
        )
