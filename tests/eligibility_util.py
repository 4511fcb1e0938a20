"""A linked lane set (counts alone in one input, balances alone in two) and small sealed snapshots of
real Lending Club loans, for the eligibility tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from proofs import lanes as lanes_mod
from proofs import merkle, poolcircuit
from proofs.claim_bundle import metric_opening
from proofs.deal import Deal, parse_deal_text
from proofs.eligibility import PurchasedLoan
from proofs.group import Group
from proofs.lanes import LaneSet, Slot
from proofs.loan_facts import LoanFacts, state_index
from proofs.pedersen import Opening, commit
from proofs.snapshot import Header, loan_blindings, verify_header
from tests.reference.abs_metrics import add_months, cents, months_between
from tests.snapshot_util import Sealed, seal_in_memory

TAPE = Path(__file__).resolve().parents[2] / "shared" / "data" / "lendingclub_2018q1_10k.csv"
if not TAPE.exists():  # a worktree next to /work/shared
    TAPE = Path("/work/shared/data/lendingclub_2018q1_10k.csv")
CUTOFF = date(2018, 6, 30)
BALANCE_CAP = 4_000_000
FLOW_CAPS = (4_000_000, 4_000_000, 1_000_000, 100_000, 4_000_000, 4_000_000, 4_000_000)
LANE_SET_NAME = "pool-v4:elig-test"


def linked_lane_set(name: str = LANE_SET_NAME, *, balance_m0_shift: int = 0) -> LaneSet:
    """The linkable layout: the ten count lanes alone in input 0 (25-bit slots), the six balance
    lanes three a piece in inputs 1 and 2 (``balance_M0`` at ``balance_m0_shift`` of input 1), the
    seven flows in inputs 3 and 4."""
    base = poolcircuit.bounded_circuit(BALANCE_CAP, FLOW_CAPS)
    w = poolcircuit.slot_widths(base.balance_bits, base.flow_bits)
    counts = tuple((13 + i, 25 * i) for i in range(10))
    bal1 = ((0, balance_m0_shift), (1, 64 + balance_m0_shift), (2, 128 + balance_m0_shift))
    bal2 = ((3, 0), (4, 64), (5, 128))
    flows1 = tuple((6 + i, 60 * i) for i in range(4))
    flows2 = tuple((10 + i, 60 * i) for i in range(3))
    packing = (counts, bal1, bal2, flows1, flows2)
    circuit = replace(base, packing=packing)
    slots = tuple(
        tuple(Slot(poolcircuit.LANES[lane], shift, 25 if lane >= 13 else w[lane]) for lane, shift in entries)
        for entries in packing
    )
    n_amount = 13
    return LaneSet(
        name=name,
        balance_lanes=poolcircuit.LANES[:n_amount],
        count_lanes=poolcircuit.LANES[n_amount:],
        balance_bits=max(circuit.balance_bits, *circuit.flow_bits),
        count_bits=1,
        metrics=lanes_mod._pool_v2_metrics(),
        proof="poolcircuit",
        packing=slots,
        circuit=circuit,
    )


@contextlib.contextmanager
def registered(lanes: LaneSet) -> Iterator[LaneSet]:
    """``lanes`` resolvable by name (as a lane set of :mod:`proofs.lanes` is) while in the block."""
    table: dict[str, LaneSet] = lanes_mod.LANE_SETS  # type: ignore[assignment]
    added = lanes.name not in table
    table[lanes.name] = lanes
    try:
        yield lanes
    finally:
        if added:
            del table[lanes.name]


# -- the tape, by plain pandas ------------------------------------------------------------------------


def tape_rows(n_previous: int = 8, n_purchased: int = 6) -> pd.DataFrame:
    """Real loans: the first ``n_previous`` issued in Jan/Feb 2018 (the pool before the period) and
    the first ``n_purchased`` issued in Mar 2018 (the period's purchases), with every column the
    criteria need computed from the raw fields by their definitions."""
    raw = pd.read_csv(TAPE, dtype=str, keep_default_na=False, nrows=2000)
    open_ = raw[raw["balance"].map(lambda b: Decimal(b) > 0)]
    old = open_[open_["issue_month"].isin(["Jan-2018", "Feb-2018"])].head(n_previous)
    new = open_[(open_["issue_month"] == "Mar-2018") & (open_["loan_status"] == "Current")].head(n_purchased)
    # The period's prepayments fund the purchases: fully paid loans until they cover the price.
    price = int(new["balance"].map(cents).sum())
    paid = raw[raw["loan_status"] == "Fully Paid"]
    upto = int((paid["paid_principal"].map(cents).cumsum() < price).sum()) + 1
    df = pd.concat([old, paid.head(upto), new]).reset_index(drop=True)
    df["exposure_id"] = [f"E{i:06d}" for i in range(len(df))]
    df["purchased"] = [False] * (len(df) - len(new)) + [True] * len(new)
    df["region"] = df["state"]  # the borrower's US state
    df["balance_fen"] = df["balance"].map(cents)
    df["nominal_rate_bps"] = df["interest_rate"].map(lambda r: int(Decimal(r) * 100))
    # The Lending Club file has no fee or APR column: its APR is taken as the nominal rate.
    df["apr_bps"] = df["nominal_rate_bps"]
    df["original_term_months"] = df["term"].map(lambda t: int(Decimal(t)))
    issued = df["issue_month"].map(lambda m: datetime.strptime(m, "%b-%Y").date())
    maturity = [add_months(d, t) for d, t in zip(issued, df["original_term_months"], strict=True)]
    df["remaining_term_months"] = [months_between(CUTOFF, m) for m in maturity]
    # docs/metrics.md "Loan states": Current is 0 days past due (M0), In Grace Period 1-15 (M1), ...
    df["state"] = df["loan_status"].map(
        {
            "Current": "M0",
            "In Grace Period": "M1",
            "Late (16-30 days)": "M1",
            "Late (31-120 days)": "M3+",
            "Fully Paid": "PREPAID",
        }
    )
    df["paid_principal_fen"] = df["paid_principal"].map(cents)
    return df


def facts_of(df: pd.DataFrame) -> list[LoanFacts]:
    out = []
    for r in df.itertuples(index=False):
        # A one-period tape: principal paid so far is the period's scheduled principal, a fully
        # paid loan's is unscheduled (a prepayment).
        paid = min(r.paid_principal_fen, FLOW_CAPS[0])
        flows = (0, paid, 0, 0, 0, 0, 0) if r.state == "PREPAID" else (paid, 0, 0, 0, 0, 0, 0)
        out.append(
            LoanFacts(
                r.exposure_id,
                state_index(r.state),
                0 if r.state == "PREPAID" else r.balance_fen,
                flows,
                {"region": r.region, "original_term": str(r.original_term_months)},
            )
        )
    return out


def deal_text(pool_id: str = "POOL-1", version: int = 1, **criteria: Any) -> str:
    c: dict[str, Any] = {
        "max_days_past_due": 0,
        "legal_rate_cap_bps": 3600,
        "nominal_rate_bps": [500, 3600],
        "apr_bps": [500, 3600],
        "original_term_months": [36, 60],
        "remaining_term_months": [1, 60],
        "max_balance_fen": 4_000_000,
        "excluded_regions": ["PR"],
    }
    c.update(criteria)
    crit = "\n".join(f"{k} = {_toml(v)}" for k, v in c.items())
    return f"""format = "poolproof/deal/v1"
deal_id = "ELIG-1"
version = {version}
pool_id = "{pool_id}"
currency = "USD"
closing_date = "2018-03-31"
initial_pool_balance_fen = 100000000
revolving_periods = 3
[purchase_criteria]
{crit}
[[concentration_limits]]
id = "region"
dimension = "region"
max_share_bps = 2500
[[tranches]]
id = "A"
balance_fen = 50000000
coupon_bps = 300
[fees]
fixed_fen = 0
servicing_bps = 0
[reserve]
initial_fen = 0
target_fen = 0
[priority_of_payments]
steps = ["senior_fees", "interest:A", "reserve", "principal", "residual"]
principal_mode = "sequential"
"""


def _toml(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def make_deal(**criteria: Any) -> Deal:
    return parse_deal_text(deal_text(**criteria))


@dataclass
class Period:
    sealed: Sealed
    header: Header
    lanes: LaneSet
    tape: pd.DataFrame
    facts: list[LoanFacts]

    @property
    def previous_exposures(self) -> list[str]:
        return list(self.tape.loc[~self.tape["purchased"], "exposure_id"])

    @property
    def exposures(self) -> list[str]:
        return list(self.tape["exposure_id"])

    def collections(self) -> Opening:
        o = self.sealed.outcome
        return metric_opening(self.lanes, "principal_collections", o.lane_value_sums, o.lane_blinding_sums)

    def purchased(self, group: Group, only: Sequence[str] | None = None) -> list[PurchasedLoan]:
        """The purchased loans' leaves, openings, paths and tape attributes."""
        leaves = [h for r in self.sealed.results for h in r.leaf_hashes]
        tree = merkle.MerkleTree(leaves)
        dims = self.sealed.params.strata_dimensions
        out = []
        for i, (f, row) in enumerate(zip(self.facts, self.tape.itertuples(index=False), strict=True)):
            if not row.purchased or (only is not None and f.exposure_id not in only):
                continue
            values = self.lanes.input_values(self.lanes.facts_values(f))
            blindings = loan_blindings(self.sealed.seed, f.exposure_id, self.lanes)
            openings = tuple(Opening(v, b) for v, b in zip(values, blindings, strict=True))
            out.append(
                PurchasedLoan(
                    f.exposure_id,
                    i,
                    tuple(f.labels[d] for d in dims),
                    tuple(commit(group, o.value, o.blinding) for o in openings),
                    openings,
                    attributes(row),
                    tuple(tree.inclusion_proof(i)),
                )
            )
        return out


def attributes(row: Any) -> Mapping[str, int]:
    return {
        "nominal_rate_bps": int(row.nominal_rate_bps),
        "apr_bps": int(row.apr_bps),
        "original_term_months": int(row.original_term_months),
        "remaining_term_months": int(row.remaining_term_months),
    }


def seal_period(lanes: LaneSet, tape: pd.DataFrame) -> Period:
    facts = facts_of(tape)
    sealed = seal_in_memory(facts, chunk_log2=4, lane_set=lanes.name, ipa_rounds=0)  # type: ignore[arg-type]
    header = verify_header(sealed.header, sealed.key.public_key(), lane_sets={lanes.name})
    return Period(sealed, header, lanes, tape, facts)
