"""What the gateway keeps in SQLite: connections, migrations and the records of each resource.

:mod:`~gateway.storage.db` opens connections, states transactions and applies the numbered migrations
(every ``CREATE TABLE`` of the main database); :mod:`~gateway.storage.records` reads and writes
parties, API keys, pools, tapes, snapshots and stored loans; :mod:`~gateway.storage.tapes` writes one
ingest's tape and loans; :mod:`~gateway.storage.decisions` persists the hash-chained decision log in
its own file; :mod:`~gateway.storage.witnesses` keeps registered witnesses and their cosignatures.
Queries of sealing jobs and snapshots (``gateway/snapshots/``), key administration and onboarding
(``gateway/access/``) and key rotation still live beside the code that runs them.
"""
