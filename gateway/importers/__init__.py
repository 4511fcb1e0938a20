"""Importers that turn real loan tapes into tape schema v1 rows.

:mod:`gateway.importers.mapped_csv` is a generic CSV importer driven by a column-mapping file (TOML, in
``gateway/mappings/``); :mod:`gateway.importers.lendingclub` applies it to the Lending Club 2018Q1 sample.
:mod:`gateway.importers.tape_v1` holds the schema v1 field order and the JSONL/CSV writers.
"""
