"""Parties, roles and the purposes a role may state."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES: tuple[str, ...] = (
    "platform",
    "trustee",
    "rating_agency",
    "investor",
    "auditor",
    "regulator",
    "borrower",
)
"""The roles of a consumer-loan ABS deal (DESIGN.md "Parties and what they do")."""

PURPOSES: tuple[str, ...] = (
    "servicing",
    "waterfall",
    "rating",
    "investment_monitoring",
    "audit",
    "sample_review",
    "supervision",
    "lawful_request",
    "self_service",
)
"""Purposes known to the default policy; a policy file declares which purposes each role may state."""


@dataclass(frozen=True)
class Party:
    """A requester.

    ``pools`` is the pool scope (the pools the party is a party to, or holds); ``obligor_keys`` is a
    borrower's row scope: the values of the role's row-key fields (``obligor_pseudo_id`` by default)
    that identify the borrower's own rows. The gateway authenticates the party and fills these in.
    """

    id: str
    role: str
    pools: frozenset[str] = frozenset()
    obligor_keys: frozenset[str] = field(default=frozenset())
