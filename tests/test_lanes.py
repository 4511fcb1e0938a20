"""The dpd5-v1 lane set: lane values per loan, bucket boundaries, metric definitions."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofs.lanes import (
    BUCKETS,
    DEFAULT_ACCEPTED_LANE_SETS,
    DPD5_V1,
    POOL_V2,
    POOL_V3,
    accepts,
    dpd_bucket,
    get_lane_set,
    pool_v3,
)


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [(0, 0), (1, 1), (30, 1), (31, 2), (60, 2), (61, 3), (90, 3), (91, 4), (10_000, 4)],
)
def test_dpd_bucket_boundaries_match_m0_to_m3_plus(dpd: int, bucket: int) -> None:
    assert dpd_bucket(dpd) == bucket


def test_dpd_bucket_rejects_negative_days() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        dpd_bucket(-1)


@pytest.mark.parametrize("edges", [(0, 30, 60), (1, 30, 60, 90), (0, 60, 30, 90), (0, 30, 30, 90)])
def test_dpd_bucket_rejects_malformed_edges(edges: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="edges"):
        dpd_bucket(5, edges)


@given(principal=st.integers(0, 2**32 - 1), bucket=st.integers(0, 4))
def test_exactly_one_balance_and_one_count_lane_is_set(principal: int, bucket: int) -> None:
    values = DPD5_V1.lane_values(principal, bucket)
    balances, counts = values[:5], values[5:]
    assert balances[bucket] == principal
    assert sum(balances) == principal
    assert counts == tuple(1 if b == bucket else 0 for b in range(5))


@pytest.mark.parametrize(("principal", "bucket"), [(-1, 0), (2**32, 0), (5, 5), (5, -1)])
def test_lane_values_refuse_out_of_range_input(principal: int, bucket: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        DPD5_V1.lane_values(principal, bucket)


def test_metrics_are_sums_of_the_right_lanes() -> None:
    totals = {lane: 0 for lane in DPD5_V1.lanes}
    for principal, bucket in [(100, 0), (200, 1), (300, 2), (400, 3), (500, 4), (50, 4)]:
        for lane, v in zip(DPD5_V1.lanes, DPD5_V1.lane_values(principal, bucket), strict=True):
            totals[lane] += v
    assert DPD5_V1.metric_value("pool_balance", totals) == 1550
    assert DPD5_V1.metric_value("loan_count", totals) == 6
    assert DPD5_V1.metric_value("balance_dpd_31plus", totals) == 300 + 400 + 550
    assert DPD5_V1.metric_value("balance_dpd_90plus", totals) == 550
    assert DPD5_V1.metric_value("count_dpd_90plus", totals) == 2
    assert DPD5_V1.metric_value("balance_M3", totals) == 400


def test_unknown_metric_and_lane_set_are_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="no_such_metric"):
        DPD5_V1.metric("no_such_metric")
    with pytest.raises(KeyError, match="dpd9-v7"):
        get_lane_set("dpd9-v7")


def test_lane_order_is_balances_then_counts() -> None:
    assert DPD5_V1.lanes == tuple(f"balance_{b}" for b in BUCKETS) + tuple(f"count_{b}" for b in BUCKETS)


# ---------------------------------------------------------------------------------------------
# The pool statement with exact bounds (pool-v3) beside pool-v2
# ---------------------------------------------------------------------------------------------

V3_NAME = "pool-v3:c20000000:f20000000,20000000,300000,40000,20000000,20000000,20000000"


def test_pool_v3_name_carries_every_cap_and_parses_back() -> None:
    lanes = pool_v3(20_000_000, (20_000_000, 20_000_000, 300_000, 40_000, 20_000_000, 20_000_000, 20_000_000))
    assert lanes.name == V3_NAME
    assert get_lane_set(V3_NAME) == lanes
    assert lanes.family == POOL_V3
    assert lanes.circuit is not None
    assert lanes.circuit.exact
    assert lanes.lane_max("balance_M0") == 20_000_000
    assert lanes.lane_max("flow_interest") == 300_000
    assert lanes.lane_max("flow_fees") == 40_000
    assert accepts(DEFAULT_ACCEPTED_LANE_SETS, lanes)


def test_pool_v3_needs_fewer_gates_than_pool_v2_of_the_same_cap() -> None:
    v2 = get_lane_set("pool-v2:b25:f25,25,25,25,25,25,25:c20000000")
    v3 = pool_v3(20_000_000, (20_000_000,) * 7)
    assert v2.circuit is not None
    assert v3.circuit is not None
    assert (v2.circuit.gates_per_loan, v3.circuit.gates_per_loan) == (240, 215)
    # Same lanes, metrics and packing: the header and the unpacking proof do not change.
    assert (v3.lanes, v3.metrics, v3.packing) == (v2.lanes, v2.metrics, v2.packing)


def test_pool_v2_names_still_resolve_to_their_own_circuit() -> None:
    v2 = get_lane_set("pool-v2:b23:f23,23,19,16,23,23,23:c5000000")
    assert v2.family == POOL_V2
    assert v2.circuit is not None
    assert not v2.circuit.exact
    assert v2.circuit.gates_per_loan == 211


@pytest.mark.parametrize(
    "name",
    [
        "pool-v3:c0:f1,1,1,1,1,1,1",
        "pool-v3:c12:f1,1,1,1,1,1",
        "pool-v3:c012:f1,1,1,1,1,1,1",
        "pool-v3:c+12:f1,1,1,1,1,1,1",
        "pool-v3:c12:f1,1,1,1,1,1,1:x",
        "pool-v3:b12:f1,1,1,1,1,1,1",
        f"pool-v3:c{1 << 40}:f1,1,1,1,1,1,1",
    ],
)
def test_malformed_pool_v3_names_are_refused(name: str) -> None:
    with pytest.raises(KeyError, match="unknown lane set"):
        get_lane_set(name)
