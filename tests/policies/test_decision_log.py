"""Decision log: hash chain, tamper/delete/reorder/insert detection, no protected values."""

import copy
import itertools
import json
from typing import Any

import pytest

from policies import DecisionLog, DecisionLogError, Party, entry_hash, load_policy, verify_decision_log

from .realistic import RECORD

POOL = "pool-1"


def build_log(n: int = 5) -> DecisionLog:
    policy = load_policy()
    log = DecisionLog()
    roles = ["platform", "trustee", "investor", "auditor", "regulator", "rating_agency"]
    purposes = {
        "platform": "servicing",
        "trustee": "waterfall",
        "investor": "investment_monitoring",
        "auditor": "audit",
        "regulator": "supervision",
        "rating_agency": "rating",
    }
    for i in range(n):
        role = roles[i % len(roles)]
        p = Party(id=f"{role}-{i}", role=role, pools=frozenset({POOL}))
        policy.view(p, [RECORD], purposes[role], pool_id=POOL, log=log, pseudonym_key=b"k" * 32)
    return log


def test_a_fresh_log_verifies_and_chains() -> None:
    log = build_log()
    entries = list(log.entries)
    verify_decision_log(entries, expected_head=log.head, expected_length=5)
    assert entries[0]["prev_hash"] == "0" * 64
    for a, b in itertools.pairwise(entries):
        assert b["prev_hash"] == a["entry_hash"]
    assert DecisionLog(entries).head == log.head


def test_entries_carry_what_was_decided_but_never_values() -> None:
    log = build_log(6)
    blob = json.dumps(log.entries, ensure_ascii=False)
    for field in ("obligor_name", "id_number", "mobile", "repayment_account", "home_address", "birth_date"):
        value = RECORD[field]
        assert isinstance(value, str)
        assert value not in blob
    e = log.entries[1]
    assert e["role"] == "trustee"
    assert e["fields"]["obligor_name"] == {"transform": "deny", "rule_ids": ["trustee.identities_in_escrow"]}
    assert e["policy_version"] == load_policy().version
    assert e["record_count"] == 1


def test_decide_decisions_can_be_logged() -> None:
    policy = load_policy()
    p = Party(id="inv", role="investor", pools=frozenset({POOL}))
    log = DecisionLog()
    ds = [policy.decide(p, f, "investment_monitoring", pool_id=POOL) for f in ("id_number", "pool_id")]
    entry = log.append(ds, resource="pool:pool-1/claims")
    assert entry["fields"]["id_number"]["transform"] == "deny"
    verify_decision_log(log.entries)


def _mutations() -> list[tuple[str, Any]]:
    return [
        ("role", "regulator"),
        ("party_id", "someone-else"),
        ("policy_version", "sha256:" + "0" * 64),
        ("record_count", 999),
        ("timestamp", "2000-01-01T00:00:00Z"),
        ("fields", {}),
        ("events", ["perfection_event"]),
        ("resource", "pool:other"),
        ("purpose", "audit"),
        ("decision_id", "f" * 32),
        ("pool_id", "pool-2"),
    ]


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize(("key", "value"), _mutations())
def test_editing_any_field_of_any_entry_is_detected(index: int, key: str, value: Any) -> None:
    entries = [copy.deepcopy(e) for e in build_log().entries]
    if entries[index][key] == value:
        value = f"{value}-edited"
    entries[index][key] = value
    with pytest.raises(DecisionLogError) as info:
        verify_decision_log(entries)
    assert info.value.index == index
    assert info.value.check == "entry_hash"


def test_editing_one_field_transform_is_detected() -> None:
    entries = [copy.deepcopy(e) for e in build_log().entries]
    entries[2]["fields"]["id_number"]["transform"] = "raw"
    with pytest.raises(DecisionLogError, match="entry 2: entry_hash"):
        verify_decision_log(entries)


def test_rehashing_an_edited_entry_breaks_the_next_link() -> None:
    entries = [copy.deepcopy(e) for e in build_log().entries]
    entries[1]["role"] = "regulator"
    entries[1]["entry_hash"] = entry_hash(entries[1])
    with pytest.raises(DecisionLogError) as info:
        verify_decision_log(entries)
    assert (info.value.index, info.value.check) == (2, "prev_hash")


@pytest.mark.parametrize("index", range(5))
def test_deleting_any_entry_is_detected(index: int) -> None:
    entries = list(build_log().entries)
    head = entries[-1]["entry_hash"]
    del entries[index]
    with pytest.raises(DecisionLogError):
        verify_decision_log(entries, expected_head=head, expected_length=5)


def test_truncating_the_tail_needs_the_anchored_head() -> None:
    log = build_log()
    entries = list(log.entries)[:-1]
    verify_decision_log(entries)  # a prefix is a valid log on its own ...
    with pytest.raises(DecisionLogError, match="head"):
        verify_decision_log(entries, expected_head=log.head)  # ... but not the anchored one


@pytest.mark.parametrize(("i", "j"), [(0, 1), (1, 3), (3, 4)])
def test_reordering_entries_is_detected(i: int, j: int) -> None:
    entries = list(build_log().entries)
    entries[i], entries[j] = entries[j], entries[i]
    with pytest.raises(DecisionLogError) as info:
        verify_decision_log(entries)
    assert info.value.index == i


def test_inserting_an_entry_is_detected() -> None:
    entries = list(build_log().entries)
    forged = copy.deepcopy(entries[2])
    entries.insert(2, forged)
    with pytest.raises(DecisionLogError) as info:
        verify_decision_log(entries)
    assert info.value.index == 3


def test_adding_a_key_is_detected() -> None:
    entries = [copy.deepcopy(e) for e in build_log().entries]
    entries[0]["value"] = "11010519491231002X"
    with pytest.raises(DecisionLogError, match="format"):
        verify_decision_log(entries)


def test_resuming_a_tampered_log_is_refused() -> None:
    entries = [copy.deepcopy(e) for e in build_log().entries]
    entries[4]["role"] = "x"
    with pytest.raises(DecisionLogError):
        DecisionLog(entries)
