"""A loan tape's way in: read, validate, derive, encrypt and store it atomically, once.

:mod:`~gateway.ingest.tape_formats` streams JSON, JSONL and CSV tapes; :mod:`~gateway.ingest.bounded_json`
bounds what a JSON text may hold; :mod:`~gateway.ingest.pool_settings` holds a pool's jurisdiction
settings; :mod:`~gateway.ingest.rules` the row rules of tape schema v1; :mod:`~gateway.ingest.validation`
the fast-path validator; :mod:`~gateway.ingest.rowwork` the per-row work done in batches (on worker
processes for large tapes); :mod:`~gateway.ingest.pipeline` the ingest itself.
"""
