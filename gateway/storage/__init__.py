"""Everything the gateway keeps in SQLite, and the only place its SQL is written.

:mod:`~gateway.storage.db` opens connections, states transactions and applies the numbered migrations
(every ``CREATE TABLE`` of the main database); :mod:`~gateway.storage.records` reads and writes parties,
API keys, pools, tapes, snapshots and stored loans; :mod:`~gateway.storage.decisions` persists the
hash-chained decision log in its own file; :mod:`~gateway.storage.witnesses` keeps registered witnesses
and their cosignatures.
"""
