"""The v2 loan-facts record refuses what the statement can never prove."""

import pytest

from proofs.loan_facts import FLOWS, OUTSTANDING_STATES, STATES, TERMINAL_STATES, LoanFacts, state_index


def _facts(**kw: object) -> LoanFacts:
    args: dict[str, object] = {"exposure_id": "e1", "state": 0, "balance": 100, "flows": (0,) * len(FLOWS)}
    args.update(kw)
    return LoanFacts(**args)  # type: ignore[arg-type]


def test_states_partition_into_outstanding_and_terminal() -> None:
    assert OUTSTANDING_STATES + TERMINAL_STATES == STATES
    assert len(set(STATES)) == len(STATES)


def test_a_terminal_loan_with_outstanding_principal_is_refused() -> None:
    with pytest.raises(ValueError, match="no outstanding principal"):
        _facts(state=state_index("PREPAID"), balance=1)
    assert _facts(state=state_index("PREPAID"), balance=0).state_name == "PREPAID"


@pytest.mark.parametrize("index", range(len(FLOWS)))
def test_a_negative_flow_is_refused(index: int) -> None:
    flows = [0] * len(FLOWS)
    flows[index] = -1
    with pytest.raises(ValueError, match=FLOWS[index]):
        _facts(flows=tuple(flows))


def test_an_unknown_state_lists_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="M0, M1"):
        state_index("CURRENT")
    with pytest.raises(ValueError, match="state must index"):
        _facts(state=len(STATES))


def test_flow_by_name() -> None:
    f = _facts(flows=tuple(range(len(FLOWS))))
    assert f.flow("interest") == FLOWS.index("interest")
    with pytest.raises(KeyError, match="scheduled_principal"):
        f.flow("principal")
