"""Public proof parameters of a snapshot and the context that binds every proof to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from proofs import lanecircuit
from proofs.generators import GENERATOR_DST
from proofs.lanes import LaneSet
from proofs.transcript import Transcript

RANGE_PROTOCOL: Final = b"poolproof/snapshot-rangeproof/v1"
UNPACKING_PROTOCOL: Final = b"poolproof/snapshot-unpacking/v1"


@dataclass(frozen=True)
class SealParams:
    """Public proof parameters of a snapshot (recorded in its header)."""

    lane_set: str = "dpd5-v3"
    chunk_log2: int = 10
    #: Inner-product rounds of each chunk proof (``None``: full compression). Two rounds: about
    #: 640 bytes of proof a loan for about 40% less prover work than full compression
    #: (docs/decisions.md, "packed lanes and cut inner-product arguments").
    ipa_rounds: int | None = 2
    #: Stratification dimensions of a pool statement v2 snapshot, in the order its leaves carry
    #: their cells (:mod:`proofs.strata`); recorded in the header's ``strata`` field, not in
    #: ``proof_params``. Empty for the dpd5 lane sets, whose leaves carry no cells.
    strata_dimensions: tuple[str, ...] = ()

    def to_dict(self, lanes: LaneSet) -> dict[str, Any]:
        """The ``proof_params`` object of a header."""
        return {
            "group": "BLS12-381-G1",
            "generator_dst": GENERATOR_DST.decode(),
            "lane_set": self.lane_set,
            "balance_bits": lanes.balance_bits,
            "count_bits": lanes.count_bits,
            "chunk_log2": self.chunk_log2,
            "ipa_rounds": self.ipa_rounds,
        }


@dataclass(frozen=True)
class SnapshotContext:
    """What binds a range proof to one snapshot: absorbed into every chunk transcript."""

    snapshot_id: str
    pool_id: str
    cutoff_date: str
    lane_set: str

    def transcript(self, chunk: int, piece: int, part: str) -> Transcript:
        """A fresh transcript for one part of one piece of one chunk."""
        t = Transcript(RANGE_PROTOCOL)
        t.append_message(b"snapshot_id", self.snapshot_id.encode())
        t.append_message(b"pool_id", self.pool_id.encode())
        t.append_message(b"cutoff_date", self.cutoff_date.encode())
        t.append_message(b"lane_set", self.lane_set.encode())
        t.append_u64(b"chunk", chunk)
        t.append_u64(b"piece", piece)
        t.append_message(b"part", part.encode())
        return t

    def unpacking_transcript(self) -> Transcript:
        """The transcript of the header's unpacking proof (packed lane sets)."""
        t = Transcript(UNPACKING_PROTOCOL)
        t.append_message(b"snapshot_id", self.snapshot_id.encode())
        t.append_message(b"pool_id", self.pool_id.encode())
        t.append_message(b"cutoff_date", self.cutoff_date.encode())
        t.append_message(b"lane_set", self.lane_set.encode())
        return t


def circuit_packing(lanes: LaneSet) -> lanecircuit.Packing | None:
    """The lane set's packing in :mod:`proofs.lanecircuit` terms (lane indices and shifts)."""
    if lanes.packing is None:
        return None
    index = {lane: i for i, lane in enumerate(lanes.lanes)}
    return tuple(tuple((index[s.lane], s.shift) for s in slots) for slots in lanes.packing)
