"""PoolProof policies: field catalogue, party rules, transforms, aggregate guard and decision log.

Pure Python: no Flask, no database. The gateway calls :class:`Policy` for every response.
"""

from .catalogue import (
    DEFAULT_CATALOGUE,
    GATEWAY_DERIVED_FIELDS,
    TAPE_SCHEMA_V1_FIELDS,
    Catalogue,
    FieldSpec,
    load_catalogue,
)
from .errors import (
    CatalogueError,
    DecisionLogError,
    ForbiddenFieldError,
    PolicyError,
    PolicyFileError,
    PseudonymKeyError,
)

__all__ = [
    "DEFAULT_CATALOGUE",
    "GATEWAY_DERIVED_FIELDS",
    "TAPE_SCHEMA_V1_FIELDS",
    "Catalogue",
    "CatalogueError",
    "DecisionLogError",
    "FieldSpec",
    "ForbiddenFieldError",
    "PolicyError",
    "PolicyFileError",
    "PseudonymKeyError",
    "load_catalogue",
]
