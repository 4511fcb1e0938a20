"""Importers that turn real loan tapes into tape schema v1 rows.

:mod:`~gateway.importers.mapping` loads a column-mapping file (TOML, ``gateway/mappings/``, language in
``docs/importing.md``); :mod:`~gateway.importers.cells` parses one cell exactly;
:mod:`~gateway.importers.expressions` is the computed-column language; :mod:`~gateway.importers.mapped_csv`
reads a CSV through a mapping and derives the tape; :mod:`~gateway.importers.report` holds what an
import found; :mod:`~gateway.importers.lendingclub` applies the shipped mapping to the Lending Club
2018Q1 sample; :mod:`~gateway.importers.tape_v1` holds the writers of schema v1 rows.
"""
