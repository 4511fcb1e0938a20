"""Regenerate the frozen claim vectors (run once; the committed JSON must keep verifying).

Usage: ``python tests/vectors/claims/generate.py``. All randomness is fixed test randomness.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from proofs.claims import (
    BoundClaim,
    ClaimStatement,
    Disclosure,
    RatioBetweenClaim,
    RatioClaim,
    prove_claim,
)
from proofs.group import ORDER, get_group
from proofs.pedersen import Opening, commit_opening

HERE = Path(__file__).parent


def main() -> None:
    group = get_group("arkworks")
    rng = random.Random(20261122)
    header_hash = hashlib.sha256(b"frozen test snapshot header").digest()
    values = {"balance_dpd_90plus": 2_912_345, "pool_balance": 100_000_000, "count_dpd_90plus": 17}
    ops = {m: Opening(v, rng.randrange(1, ORDER)) for m, v in values.items()}
    cases: list[tuple[str, ClaimStatement]] = [
        ("ratio-le", RatioClaim("balance_dpd_90plus", "pool_balance", "<=", 3, 100)),
        ("ratio-ge", RatioClaim("balance_dpd_90plus", "pool_balance", ">=", 1, 100)),
        ("bound", BoundClaim("pool_balance", 90_000_000, 110_000_000)),
        ("ratio-between", RatioBetweenClaim("balance_dpd_90plus", "pool_balance", 2, 100, 3, 100)),
        ("disclosure", Disclosure("count_dpd_90plus")),
    ]
    for i, (name, statement) in enumerate(cases):
        context = header_hash + f"requester-nonce-{i:04d}".encode()
        proof = prove_claim(group, statement, ops, context=context, rng=lambda: rng.randrange(1, ORDER))
        doc = {
            "name": name,
            "note": "frozen claim proof (fixed test randomness); must keep verifying",
            "statement": statement.to_dict(),
            "commitments": {m: commit_opening(group, ops[m]).to_bytes().hex() for m in statement.metrics},
            "context": context.hex(),
            "proof": proof.to_dict(),
        }
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
