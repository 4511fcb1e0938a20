"""What the pool statement v2 commits to of one loan at one cut-off: its state, balance and period flows.

These are the facts of a monthly consumer-ABS servicer report at loan level (docs/metrics.md gives
each definition and its source). The gateway derives them from a stored tape row under the pool's
settings; :mod:`proofs` commits to them and proves, per loan:

* the loan is in exactly one :data:`STATES` entry;
* its outstanding principal is in ``[0, 2^n)`` and sits wholly in that state; a loan in a
  terminal state (:data:`TERMINAL_STATES`) has no outstanding principal;
* every period flow (:data:`FLOWS`) is a non-negative integer below ``2^w`` for its width ``w``.

Stratification labels (:attr:`LoanFacts.labels`) are the loan's generalised cell per dimension
(for example ``"rate_band": "1200-1799"``); they are public to whoever holds the leaf (the
auditor's policy view already shows those generalised fields), never amounts.

Amounts are integer minor units (fen, cents); never floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

#: Loan states at a cut-off, in statement order. The first five are performing loans by
#: days-past-due bucket under the pool's edges (``M0`` current, ``M1`` 1..e1, ``M2`` e1+1..e2,
#: ``M3`` e2+1..e3, ``M3+`` beyond e3 but not defaulted); ``DEFAULTED`` is a loan that met the
#: pool's default definition and is not yet written off; the last four are terminal.
STATES: Final = (
    "M0",
    "M1",
    "M2",
    "M3",
    "M3+",
    "DEFAULTED",
    "WRITTEN_OFF",
    "PREPAID",
    "MATURED",
    "REPURCHASED",
)
PERFORMING_STATES: Final = STATES[:5]
#: States whose loans carry outstanding principal (performing and defaulted).
OUTSTANDING_STATES: Final = STATES[:6]
#: States that end a loan's life in the pool: no outstanding principal, never counted as current.
TERMINAL_STATES: Final = STATES[6:]

#: Period cash flows per loan, since the previous cut-off (or since the loan entered the pool),
#: in statement order, each a non-negative integer in minor units.
FLOWS: Final = (
    "scheduled_principal",
    "unscheduled_principal",
    "interest",
    "fees",
    "defaulted_principal",
    "recoveries",
    "written_off",
)


@dataclass(frozen=True)
class LoanFacts:
    """One loan's committed facts at a cut-off (see the module docstring).

    ``state`` indexes :data:`STATES`; ``balance`` is outstanding principal (0 in a terminal state);
    ``flows`` follows :data:`FLOWS`; ``labels`` maps each stratification dimension to the loan's cell.
    """

    exposure_id: str
    state: int
    balance: int
    flows: tuple[int, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.state < len(STATES):
            raise ValueError(f"state must index STATES (0..{len(STATES) - 1}), got {self.state!r}")
        if len(self.flows) != len(FLOWS):
            raise ValueError(f"expected {len(FLOWS)} flows ({', '.join(FLOWS)}), got {len(self.flows)}")
        for name, v in (("balance", self.balance), *zip(FLOWS, self.flows, strict=True)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        if self.state >= len(OUTSTANDING_STATES) and self.balance != 0:
            raise ValueError(f"a loan in state {STATES[self.state]} has no outstanding principal")

    @property
    def state_name(self) -> str:
        """The state's name in :data:`STATES`."""
        return STATES[self.state]

    def flow(self, name: str) -> int:
        """The period flow called ``name``.

        Raises:
            KeyError: ``name`` is not in :data:`FLOWS`.
        """
        try:
            return self.flows[FLOWS.index(name)]
        except ValueError:
            raise KeyError(f"unknown flow {name!r}; flows are {', '.join(FLOWS)}") from None


def state_index(name: str) -> int:
    """The index of state ``name`` in :data:`STATES`.

    Raises:
        KeyError: unknown state; the message lists the valid ones.
    """
    try:
        return STATES.index(name)
    except ValueError:
        raise KeyError(f"unknown loan state {name!r}; states are {', '.join(STATES)}") from None
