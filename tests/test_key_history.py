"""The gateway key history: trust runs forward from the verifier's pinned anchor, with revocation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs import bundle
from proofs.errors import EncodingError, VerificationError
from proofs.key_history import (
    SELF_DOMAIN,
    VOUCH_DOMAIN,
    append_key,
    entry_hash,
    history_head,
    key_by_id,
    new_history,
    revoke_key,
    verify_key_history,
)
from proofs.signing import key_id, public_key_raw, sign
from proofs.snapshot import verify_header
from tests.snapshot_util import make_loans, seal_in_memory

T0, T1, T2, T3 = (f"2024-0{m}-01T00:00:00+00:00" for m in (1, 2, 3, 4))


def _chain() -> tuple[list[Ed25519PrivateKey], dict[str, Any]]:
    k0, k1, k2 = (Ed25519PrivateKey.generate() for _ in range(3))
    h = new_history(k0, T0)
    h = append_key(h, k0, k1, T1)
    h = append_key(h, k1, k2, T2)
    return [k0, k1, k2], h


def _self_made_entry(
    index: int, key: Ed25519PrivateKey, vouch_by: Ed25519PrivateKey | None, prev: bytes | None
) -> dict[str, Any]:
    body = {
        "index": index,
        "type": "key",
        "key_id": key_id(key.public_key()),
        "public_key": public_key_raw(key.public_key()).hex(),
        "created_at": T0,
        "previous_entry_hash": None if prev is None else prev.hex(),
    }
    return {
        **body,
        "vouch": None if vouch_by is None else bundle.encode_bytes(sign(vouch_by, VOUCH_DOMAIN, body)),
        "self_signature": bundle.encode_bytes(sign(key, SELF_DOMAIN, body)),
    }


def test_a_chain_verifies_forward_from_its_genesis_and_ends_at_the_current_key() -> None:
    (k0, k1, k2), h = _chain()
    verified = verify_key_history(h, k0.public_key(), current=k2.public_key())
    assert [k.key_id for k in verified.keys] == [key_id(k.public_key()) for k in (k0, k1, k2)]
    assert verified.head == history_head(h) == entry_hash(h["entries"][-1])
    assert verified.current.key_id == key_id(k2.public_key())


def test_trust_never_runs_backward_from_a_pinned_key() -> None:
    (k0, k1, k2), h = _chain()
    verified = verify_key_history(h, k1.public_key())
    assert [k.key_id for k in verified.keys] == [key_id(k1.public_key()), key_id(k2.public_key())]
    with pytest.raises(VerificationError, match="vouched for from your anchor"):
        key_by_id(verified, key_id(k0.public_key()))


def test_the_backward_forgery_around_a_trusted_key_is_rejected() -> None:
    """Knowing only the gateway's current public key K, build [A (self-signed), K "signed by A"]."""
    real = Ed25519PrivateKey.generate()
    h = new_history(real, T0)
    attacker = Ed25519PrivateKey.generate()
    a = _self_made_entry(0, attacker, None, None)
    # The attacker cannot make K's self-signature; even a copy of K's genesis self-signature covers
    # another body. So the forged chain fails from any anchor the victim holds:
    k_entry = dict(h["entries"][0], index=1, previous_entry_hash=entry_hash(a).hex())
    k_entry["vouch"] = bundle.encode_bytes(
        sign(
            attacker, VOUCH_DOMAIN, {k: v for k, v in k_entry.items() if k not in ("vouch", "self_signature")}
        )
    )
    forged = {"format": h["format"], "entries": [a, k_entry]}
    with pytest.raises(VerificationError, match=r"entries\[1\] is not signed by its own key"):
        verify_key_history(forged, real.public_key())
    # ... and were K's entry valid, a key before the victim's anchor is still never vouched for:
    verified = verify_key_history(h, real.public_key())
    with pytest.raises(VerificationError, match="vouched for from your anchor"):
        key_by_id(verified, key_id(attacker.public_key()))
    # A fabricated "old" snapshot signed by the attacker does not verify under the vouched key.
    fabricated = seal_in_memory(make_loans(2), key=attacker).header
    with pytest.raises(VerificationError):
        verify_header(fabricated, key_by_id(verified, key_id(real.public_key())))


def test_a_fork_signed_by_a_leaked_retired_key_is_rejected_from_a_later_anchor() -> None:
    (k0, k1, k2), h = _chain()
    # The verifier last pinned the head after k2's entry (or k2 itself).
    pinned_head = history_head(h)
    thief = Ed25519PrivateKey.generate()
    # k1 (retired, leaked) signs a different successor: a fork at entry 2.
    fork = {"format": h["format"], "entries": h["entries"][:2]}
    fork = append_key(fork, k1, thief, T3)
    for anchor in (pinned_head, k2.public_key()):
        with pytest.raises(VerificationError, match="not in this history"):
            verify_key_history(fork, anchor)
    # The leaked key cannot extend the genuine chain either: only the current key vouches.
    grafted = append_key({"format": h["format"], "entries": h["entries"][:2]}, k1, thief, T3)
    grafted["entries"] = [
        *h["entries"],
        dict(grafted["entries"][2], index=3, previous_entry_hash=pinned_head.hex()),
    ]
    with pytest.raises(VerificationError):
        verify_key_history(grafted, k0.public_key())


def test_a_revoked_key_is_never_accepted_again() -> None:
    (k0, k1, k2), h = _chain()
    h = revoke_key(h, k2, key_id(k1.public_key()), "retired key file leaked", T3)
    verified = verify_key_history(h, k0.public_key(), current=k2.public_key())
    assert [k.revoked for k in verified.keys] == [False, True, False]
    with pytest.raises(VerificationError, match="revoked"):
        key_by_id(verified, key_id(k1.public_key()))
    assert key_by_id(verified, key_id(k2.public_key())) == k2.public_key()
    # Stripping the revocation is seen by a verifier whose anchor is the head that carried it.
    stripped = {"format": h["format"], "entries": h["entries"][:-1]}
    with pytest.raises(VerificationError, match="not in this history"):
        verify_key_history(stripped, history_head(h))


def test_revocations_are_refused_unless_the_current_key_signs_a_known_retired_key() -> None:
    (k0, k1, k2), h = _chain()
    with pytest.raises(EncodingError, match="current key"):
        revoke_key(h, k1, key_id(k0.public_key()), "x", T3)
    with pytest.raises(EncodingError, match="cannot revoke itself"):
        revoke_key(h, k2, key_id(k2.public_key()), "x", T3)
    with pytest.raises(EncodingError, match="no key"):
        revoke_key(h, k2, "0" * 32, "x", T3)
    once = revoke_key(h, k2, key_id(k0.public_key()), "x", T3)
    with pytest.raises(EncodingError, match="already revoked"):
        revoke_key(once, k2, key_id(k0.public_key()), "x", T3)
    # A revocation signed by another key than the current one.
    forged = json.loads(json.dumps(once))
    body = {k: v for k, v in forged["entries"][-1].items() if k != "signature"}
    from proofs.key_history import REVOCATION_DOMAIN

    forged["entries"][-1]["signature"] = bundle.encode_bytes(sign(k1, REVOCATION_DOMAIN, body))
    with pytest.raises(VerificationError, match="revocation"):
        verify_key_history(forged, k0.public_key())


def test_only_the_current_key_may_vouch_for_the_next() -> None:
    (k0, k1, _k2), h = _chain()
    with pytest.raises(EncodingError, match="current key"):
        append_key(h, k0, Ed25519PrivateKey.generate(), T3)
    with pytest.raises(VerificationError, match="not the expected"):
        verify_key_history(h, k0.public_key(), current=k1.public_key())


_TAMPERINGS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("reorder", lambda d: d["entries"].reverse()),
    ("drop a middle entry", lambda d: d["entries"].pop(1)),
    ("created_at", lambda d: d["entries"][1].update(created_at="2030-01-01T00:00:00+00:00")),
    ("fullwidth created_at", lambda d: d["entries"][1].update(created_at="２０２４-02-01T00:00:00+00:00")),
    ("previous_entry_hash", lambda d: d["entries"][2].update(previous_entry_hash="00" * 32)),
    ("public_key", lambda d: d["entries"][1].update(public_key=d["entries"][2]["public_key"])),
    ("key_id", lambda d: d["entries"][1].update(key_id="0" * 32)),
    ("vouch", lambda d: d["entries"][1].update(vouch="00" * 64)),
    ("vouch removed", lambda d: d["entries"][1].update(vouch=None)),
    ("self_signature", lambda d: d["entries"][2].update(self_signature="00" * 64)),
    ("genesis self_signature", lambda d: d["entries"][0].update(self_signature="00" * 64)),
    ("index", lambda d: d["entries"][1].update(index=7)),
    ("type", lambda d: d["entries"][1].update(type="revocation")),
    ("extra member", lambda d: d["entries"][1].update(note="x")),
    ("format", lambda d: d.update(format="poolproof/gateway-key-history/v1")),
    ("repeat", lambda d: d["entries"].append(d["entries"][1])),
    ("empty", lambda d: d.update(entries=[])),
]


@pytest.mark.parametrize(("name", "tamper"), _TAMPERINGS, ids=[n for n, _ in _TAMPERINGS])
def test_every_part_of_every_entry_is_checked(name: str, tamper: Callable[[dict[str, Any]], None]) -> None:
    (k0, _k1, _k2), h = _chain()
    doc = json.loads(json.dumps(h))
    tamper(doc)
    with pytest.raises((VerificationError, EncodingError)):
        verify_key_history(doc, k0.public_key())


@settings(
    max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(ops=st.lists(st.sampled_from(["rotate", "revoke"]), min_size=1, max_size=6), data=st.data())
def test_any_history_verifies_forward_from_any_of_its_keys_and_heads(
    ops: list[str], data: st.DataObject
) -> None:
    """Property: from an anchor at key i, exactly the keys i.. are returned, revoked ones flagged."""
    keys = [Ed25519PrivateKey.generate()]
    h = new_history(keys[0], T0)
    revoked: set[str] = set()
    for op in ops:
        retired = [k for k in keys[:-1] if key_id(k.public_key()) not in revoked]
        if op == "revoke" and retired:
            victim = key_id(data.draw(st.sampled_from(retired)).public_key())
            h = revoke_key(h, keys[-1], victim, "leaked", T1)
            revoked.add(victim)
        else:
            keys.append(Ed25519PrivateKey.generate())
            h = append_key(h, keys[-2], keys[-1], T1)
    start = data.draw(st.integers(min_value=0, max_value=len(keys) - 1))
    verified = verify_key_history(h, keys[start].public_key(), current=keys[-1].public_key())
    assert [k.key_id for k in verified.keys] == [key_id(k.public_key()) for k in keys[start:]]
    assert {k.key_id for k in verified.keys if k.revoked} == revoked & {k.key_id for k in verified.keys}
    head = verify_key_history(h, verified.head)
    assert head.current.key_id == key_id(keys[-1].public_key())
