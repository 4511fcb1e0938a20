"""Linked months on the synthetic platform's tapes: the gateway's per-loan facts sealed under pool-v4,
linked month to month, and every roll-matrix cell recomputed by pandas from the raw tape rows (status,
days past due, principal) with the written definitions (docs/metrics.md "Roll rates", "Loan states")."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.loan_facts import loan_facts
from gateway.synth import generate_months
from proofs.lanes import pool_v4
from proofs.link import prove_link, verify_link
from tests.link_chain import seal_month
from tests.reference.abs_metrics import state_of
from tests.reference.roll_rates import exits as reference_exits
from tests.reference.roll_rates import roll_matrix


def _eid(row: dict[str, Any]) -> str:
    return "X" + re.sub(r"[^A-Za-z0-9_-]", "_", str(row["platform_loan_id"]))


def _raw_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The raw tape rows in the reference's terms, by the written definitions only."""
    t = pd.DataFrame(rows)
    dpd = t["days_past_due"].fillna(0).astype(int)
    return pd.DataFrame(
        {
            "exposure_id": [_eid(r) for r in rows],
            "state": [state_of(s, d) for s, d in zip(t["loan_status"], dpd, strict=True)],
            "balance": t["current_principal_fen"].astype("int64"),
        }
    )


def test_synthetic_tapes_link_and_match_pandas() -> None:
    cap = CN_CONSUMER.per_loan_cap
    assert cap is not None
    lanes = pool_v4(cap, (cap,) * 7)
    months = [
        (c, list(rows)) for c, rows in generate_months(40, seed=11, start_cutoff=date(2026, 1, 31), months=4)
    ]
    key = Ed25519PrivateKey.generate()
    sealed = []
    for k, (cutoff, rows) in enumerate(months, start=1):
        facts = [
            loan_facts({**r, "exposure_id": _eid(r), "cutoff_date": cutoff.isoformat()}, CN_CONSUMER)
            for r in rows
        ]
        previous = sealed[-1].header if sealed else None
        sealed.append(seal_month(facts, key, sequence=k, previous=previous, lanes=lanes))
    exits_seen = 0
    for k in range(3):
        a, b = sealed[k], sealed[k + 1]
        prev, cur = _raw_frame(months[k][1]), _raw_frame(months[k + 1][1])
        # The platform revolves: a closed loan's slot is refilled by a new loan the month after.
        bought = list(cur.loc[~cur["exposure_id"].isin(prev["exposure_id"]), "exposure_id"])
        doc = prove_link(key, a.header, b.header, a.loans, b.loans, entries=bought, ipa_rounds=2)
        result = verify_link(a.text, b.text, doc, key.public_key(), purchases=bought)
        counts, balances = roll_matrix(prev, cur)
        assert [list(r) for r in result.roll.counts] == counts
        assert [list(r) for r in result.roll.balances] == balances
        left = reference_exits(prev, cur)
        assert list(result.exits) == list(left["exposure_id"])
        assert set(left["state"]) <= {"WRITTEN_OFF", "PREPAID", "MATURED", "REPURCHASED"}
        exits_seen += len(left)
    assert exits_seen > 0
