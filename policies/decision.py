"""One policy decision: what a party gets of one field (or one claim kind), by which rules.

A module of its own because both the policy that takes decisions (:mod:`policies.policy`) and the
log that records them (:mod:`policies.decision_log`) need the type; with it here, neither imports
the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .transforms import Transform


@dataclass(frozen=True)
class Decision:
    """What ``party`` gets of ``field`` for ``purpose``, by which rules, under which policy version.

    ``params`` describes the transform (mask pattern, generalisation) and never holds keys or values.
    """

    decision_id: str
    party_id: str
    role: str
    field: str
    purpose: str
    transform: Transform
    params: Mapping[str, Any]
    rule_ids: tuple[str, ...]
    reason: str
    policy_version: str
    pool_id: str = ""
    events: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """True unless the decision is ``DENY``."""
        return self.transform is not Transform.DENY
