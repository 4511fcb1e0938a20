"""The level-instalment amortisation schedule in whole minor units: how much principal is due by when.

A loan of principal ``P`` at nominal rate ``R`` basis points a year, repaid by a fixed monthly instalment
``A``, owes in month ``j`` interest ``I_j = round_half_up(B_{j-1} * R / 120000)`` (a twelfth of the
yearly rate on the balance before the instalment, rounded to the minor unit) and principal
``min(B_{j-1}, max(0, A - I_j))``, the last instalment taking whatever balance remains; ``B_j`` is the
balance after it. All integer arithmetic: the schedule is exact and the same on every machine, and a
reference written from this paragraph (``docs/importing.md``, "Period flows") reproduces it.
"""

from __future__ import annotations


def scheduled_principal(principal: int, instalment: int, rate_bps: int, term: int, instalments: int) -> int:
    """Principal the schedule asks for in its first ``instalments`` instalments (minor units).

    ``instalments`` is capped at ``term``; through the whole term the result is ``principal``.

    Raises:
        ValueError: a negative amount, rate or count, or a term below 1.
    """
    if min(principal, instalment, rate_bps, instalments) < 0 or term < 1:
        raise ValueError("amounts, rate and instalments must be >= 0 and the term >= 1")
    balance, due = principal, 0
    for j in range(1, min(instalments, term) + 1):
        interest = (2 * balance * rate_bps + 120_000) // 240_000  # half up, on integers
        part = balance if j == term else min(balance, max(0, instalment - interest))
        balance -= part
        due += part
    return due
