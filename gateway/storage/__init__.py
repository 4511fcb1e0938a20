"""What the gateway keeps in SQLite: connections, migrations and the records of each resource.

Every SQL statement of the gateway is here (``tests/gateway/test_storage_boundary.py`` checks it).
:mod:`~gateway.storage.db` opens connections, states transactions and applies the numbered migrations
(every ``CREATE TABLE`` of the main database); :mod:`~gateway.storage.records` reads and writes
parties, API keys, pools, tapes, snapshots and stored loans; :mod:`~gateway.storage.tapes` writes one
ingest's tape and loans; :mod:`~gateway.storage.parties` holds the rows of access administration (API
keys, pool grants); :mod:`~gateway.storage.snapshots` seal jobs, their chunks and sealed snapshots;
:mod:`~gateway.storage.disclosures` the release ledger, release tables and claim budget;
:mod:`~gateway.storage.decisions` persists the hash-chained decision log in its own file;
:mod:`~gateway.storage.witnesses` keeps registered witnesses and their cosignatures. Callers own the
transactions: a function that writes takes the connection of the caller's transaction.
"""
