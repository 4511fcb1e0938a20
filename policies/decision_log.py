"""The decision log: append-only, hash-chained, verifiable offline.

Each entry is a JSON object. ``entry_hash = SHA-256(sorted JSON of the entry without entry_hash)``,
where the entry includes ``prev_hash`` (the previous entry's hash; 64 zeros for the first) and its
``index``. Sorted JSON (:func:`sorted_json`): UTF-8, keys sorted, no insignificant whitespace, only
strings, integers, booleans, null, lists and objects. It is ``json.dumps(sort_keys=True)`` on that
value space, not the RFC 8785 encoder of :mod:`proofs.canonical`; the log's hashes are defined by it.

An entry records who asked (party id and role), for what (purpose, resource, pool, events), what each
field became (transform and rule ids) and under which policy version; never a field value
(OPA decision logs with masking, reference notes §3.1). Tampering with, deleting, reordering or
inserting entries breaks the chain; truncating the tail is detected when the verifier is given the
expected head (publish or sign the head, e.g. in each snapshot header).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .decision import Decision
from .errors import DecisionLogError

ENTRY_FORMAT = "poolproof/decision-log-entry/v1"
GENESIS_HASH = "0" * 64
ENTRY_KEYS = frozenset(
    {
        "format",
        "index",
        "prev_hash",
        "entry_hash",
        "timestamp",
        "decision_id",
        "party_id",
        "role",
        "purpose",
        "resource",
        "pool_id",
        "events",
        "fields",
        "record_count",
        "policy_version",
    }
)


def sorted_json(obj: object) -> bytes:
    """UTF-8 JSON bytes with sorted keys and no spaces (``json.dumps(sort_keys=True)``, not RFC 8785).

    Raises ``TypeError`` for floats, non-string keys and any other value outside str, int, bool, None,
    list and object.
    """
    _check_json(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _check_json(obj: object) -> None:
    if obj is None or isinstance(obj, str | bool):
        return
    if isinstance(obj, int):
        return
    if isinstance(obj, list | tuple):
        for x in obj:
            _check_json(x)
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError("decision log keys must be strings")
            _check_json(v)
        return
    raise TypeError(f"decision log values must be str, int, bool, list or object, not {type(obj).__name__}")


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over the :func:`sorted_json` of ``entry`` without its ``entry_hash`` key."""
    body = {k: v for k, v in entry.items() if k != "entry_hash"}
    return hashlib.sha256(sorted_json(body)).hexdigest()


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class DecisionLog:
    """An in-memory, append-only, hash-chained decision log; the gateway persists :attr:`entries`.

    ``DecisionLog(entries)`` resumes a stored log after verifying it (raises :class:`DecisionLogError`).
    """

    def __init__(
        self, entries: Iterable[Mapping[str, Any]] = (), *, clock: Callable[[], str] = _utc_now
    ) -> None:
        stored = [dict(e) for e in entries]
        verify_decision_log(stored)
        self._entries = stored
        self._clock = clock

    @property
    def entries(self) -> tuple[dict[str, Any], ...]:
        """Copies of the entries, oldest first (serialisable JSON objects)."""
        return tuple(json.loads(sorted_json(e)) for e in self._entries)

    @property
    def head(self) -> str:
        """Hash of the last entry (``GENESIS_HASH`` for an empty log)."""
        return self._entries[-1]["entry_hash"] if self._entries else GENESIS_HASH

    def __len__(self) -> int:
        return len(self._entries)

    def _append(self, body: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "format": ENTRY_FORMAT,
            "index": len(self._entries),
            "prev_hash": self.head,
            "timestamp": self._clock(),
            **body,
        }
        entry["entry_hash"] = entry_hash(entry)
        self._entries.append(entry)
        return dict(entry)

    def append_view(
        self,
        *,
        decision_id: str,
        party_id: str,
        role: str,
        purpose: str,
        resource: str,
        pool_id: str,
        events: Sequence[str],
        fields: Mapping[str, tuple[str, str]],
        record_count: int,
        policy_version: str,
    ) -> dict[str, Any]:
        """Append one entry for a whole record view; ``fields`` maps field -> (transform, winning rule id)."""
        return self._append(
            {
                "decision_id": decision_id,
                "party_id": party_id,
                "role": role,
                "purpose": purpose,
                "resource": resource,
                "pool_id": pool_id,
                "events": sorted(events),
                "fields": {f: {"transform": t, "rule_ids": [r]} for f, (t, r) in sorted(fields.items())},
                "record_count": record_count,
                "policy_version": policy_version,
            }
        )

    def append(
        self,
        decisions: Decision | Iterable[Decision],
        *,
        resource: str | None = None,
        record_count: int | None = None,
    ) -> dict[str, Any]:
        """Append one entry for one or more decisions taken together (same party, purpose, pool).

        Raises ``ValueError`` for an empty batch or decisions of different parties, purposes or versions.
        """
        batch = [decisions] if isinstance(decisions, Decision) else list(decisions)
        if not batch:
            raise ValueError("nothing to log")
        first = batch[0]
        for d in batch[1:]:
            if (d.party_id, d.role, d.purpose, d.pool_id, d.policy_version) != (
                first.party_id,
                first.role,
                first.purpose,
                first.pool_id,
                first.policy_version,
            ):
                raise ValueError(
                    "decisions logged together must share party, purpose, pool and policy version"
                )
        return self._append(
            {
                "decision_id": first.decision_id
                if len(batch) == 1
                else hashlib.sha256("\x00".join(d.decision_id for d in batch).encode()).hexdigest()[:32],
                "party_id": first.party_id,
                "role": first.role,
                "purpose": first.purpose,
                "resource": resource or f"pool:{first.pool_id}/fields",
                "pool_id": first.pool_id,
                "events": sorted(set().union(*(d.events for d in batch))),
                "fields": {
                    d.field: {"transform": d.transform.label, "rule_ids": list(d.rule_ids)} for d in batch
                },
                "record_count": -1 if record_count is None else record_count,
                "policy_version": first.policy_version,
            }
        )


def verify_decision_log(
    entries: Sequence[Mapping[str, Any]],
    *,
    expected_head: str | None = None,
    expected_length: int | None = None,
) -> None:
    """Verify a whole decision log from its first entry; return ``None`` or raise :class:`DecisionLogError`.

    Checks, per entry in order: the key set and format (``"format"``), ``index == position``
    (``"index"``: deletion, insertion, reordering), ``prev_hash`` equals the previous ``entry_hash``
    (``"prev_hash"``), and ``entry_hash`` recomputes (``"entry_hash"``: any edited byte). With
    ``expected_head`` / ``expected_length`` (an anchored head), truncation and wholesale rewriting are
    detected too (``"head"``, ``"length"``).
    """
    prev = GENESIS_HASH
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping) or set(e) != ENTRY_KEYS or e.get("format") != ENTRY_FORMAT:
            raise DecisionLogError(
                i, "format", "not a poolproof/decision-log-entry/v1 object with exactly the expected keys"
            )
        if e["index"] != i or isinstance(e["index"], bool):
            raise DecisionLogError(
                i,
                "index",
                f"entry claims index {e['index']!r} at position {i} (deleted, inserted or reordered entries)",
            )
        if e["prev_hash"] != prev:
            raise DecisionLogError(i, "prev_hash", "does not chain to the previous entry")
        try:
            recomputed = entry_hash(e)
        except TypeError as exc:
            raise DecisionLogError(i, "format", str(exc)) from exc
        if e["entry_hash"] != recomputed:
            raise DecisionLogError(i, "entry_hash", "entry content does not match its hash (edited entry)")
        prev = recomputed
    n = len(entries)
    if expected_length is not None and n != expected_length:
        raise DecisionLogError(n, "length", f"log has {n} entries, expected {expected_length}")
    if expected_head is not None and prev != expected_head:
        raise DecisionLogError(max(n - 1, 0), "head", "last entry hash differs from the anchored head")
