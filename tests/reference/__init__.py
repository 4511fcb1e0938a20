"""Plain-pandas references: the published figures recomputed from raw tapes by their written definitions."""
