"""An instance with one pool and one month's tape, opened directly (no server), for the seal-job tests."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from gateway.access.admin import create_party
from gateway.ingest.pipeline import ingest_tape, iter_rows_as_jsonl
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.keys.gateway_key import load_gateway_key
from gateway.keys.keyring import load_master_key
from gateway.snapshots.demo import init_instance
from gateway.storage.db import connect
from gateway.storage.records import create_pool, pool_keys
from gateway.synth import generate_tape, monthly_cutoff

FIRST = date(2024, 1, 31)


def open_instance(
    tmp: Path, month: int, *, loans: int = 40, rows: Iterable[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A new instance under ``tmp`` with pool ``P1`` (CN consumer) and its tape for ``month``.

    The tape is the synthetic platform's (seed 5) unless ``rows`` are given. Returns the instance,
    its open database (the caller closes ``db.conn``), master key, cut-off and gateway key.
    """
    inst = init_instance(tmp / "inst")
    master = load_master_key(key_file=inst.master_key_file)
    db = connect(inst.db_path)
    create_party(db, "plat", "platform", public_key=b"\x01" * 32)
    pool = create_pool(db, master, "P1", "plat", CN_CONSUMER)
    cutoff = monthly_cutoff(FIRST, month).isoformat()
    if rows is None:
        rows = generate_tape(loans, seed=5, cutoff=FIRST, pool_id="P1", month=month)
    body = io.BytesIO(b"".join(iter_rows_as_jsonl(rows)))
    ingest_tape(
        db, pool, pool_keys(db, master, "P1"), cutoff, body, "jsonl", submitted_by="plat", max_bytes=1 << 30
    )
    return {
        "inst": inst,
        "db": db,
        "master": master,
        "cutoff": cutoff,
        "gkey": load_gateway_key(inst.gateway_key_file),
    }
