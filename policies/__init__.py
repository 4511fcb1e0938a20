"""PoolProof policies: field catalogue, party rules, transforms, aggregate guard and decision log.

Pure Python: no Flask, no database. The gateway calls :class:`Policy` for every response::

    policy = load_policy()                       # packaged default_policy.toml + catalogue.toml
    rows = policy.view(party, records, "rating", pool_id="p1", log=log, pseudonym_key=key)
    d = policy.decide(party, "id_number", "investment_monitoring", pool_id="p1")
"""

from .aggregates import (
    DIMENSIONS,
    WHOLE_POOL_REPORT,
    AggregateConfig,
    AggregateDecision,
    AggregateGuard,
    GuardState,
    ReportDefinition,
)
from .catalogue import (
    DEFAULT_CATALOGUE,
    GATEWAY_DERIVED_FIELDS,
    PERIOD_FLOW_FIELDS,
    TAPE_SCHEMA_V1,
    TAPE_SCHEMA_V1_FIELDS,
    TAPE_SCHEMA_V2,
    TAPE_SCHEMA_V2_FIELDS,
    TAPE_SCHEMAS,
    Catalogue,
    FieldSpec,
    load_catalogue,
    normalise_field_name,
)
from .decision import Decision
from .decision_log import GENESIS_HASH, DecisionLog, entry_hash, sorted_json, verify_decision_log
from .errors import (
    CatalogueError,
    DecisionLogError,
    ForbiddenFieldError,
    PolicyError,
    PolicyFileError,
    PseudonymKeyError,
)
from .explain import explain
from .parties import PURPOSES, ROLES, Party
from .policy import (
    ClaimRule,
    DisclosureMode,
    DisclosureModeKind,
    ModeDecision,
    Policy,
    RoleSpec,
    Rule,
    ViewPlan,
)
from .policy_file import DEFAULT_POLICY_PATH, PolicyStore, load_policy
from .policytest import CaseResult, run_policy_tests
from .transforms import (
    MASK_PRESETS,
    MaskSpec,
    Transform,
    apply_mask,
    derive_pseudonym_key,
    pseudonym,
)

__all__ = [
    "DEFAULT_CATALOGUE",
    "DEFAULT_POLICY_PATH",
    "DIMENSIONS",
    "GATEWAY_DERIVED_FIELDS",
    "GENESIS_HASH",
    "MASK_PRESETS",
    "PERIOD_FLOW_FIELDS",
    "PURPOSES",
    "ROLES",
    "TAPE_SCHEMAS",
    "TAPE_SCHEMA_V1",
    "TAPE_SCHEMA_V1_FIELDS",
    "TAPE_SCHEMA_V2",
    "TAPE_SCHEMA_V2_FIELDS",
    "WHOLE_POOL_REPORT",
    "AggregateConfig",
    "AggregateDecision",
    "AggregateGuard",
    "CaseResult",
    "Catalogue",
    "CatalogueError",
    "ClaimRule",
    "Decision",
    "DecisionLog",
    "DecisionLogError",
    "DisclosureMode",
    "DisclosureModeKind",
    "FieldSpec",
    "ForbiddenFieldError",
    "GuardState",
    "MaskSpec",
    "ModeDecision",
    "Party",
    "Policy",
    "PolicyError",
    "PolicyFileError",
    "PolicyStore",
    "PseudonymKeyError",
    "ReportDefinition",
    "RoleSpec",
    "Rule",
    "Transform",
    "ViewPlan",
    "apply_mask",
    "derive_pseudonym_key",
    "entry_hash",
    "explain",
    "load_catalogue",
    "load_policy",
    "normalise_field_name",
    "pseudonym",
    "run_policy_tests",
    "sorted_json",
    "verify_decision_log",
]
