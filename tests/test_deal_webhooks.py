"""Webhook delivery of deal alerts: signed with HMAC-SHA256, retried with back-off, final on a refusal."""

from __future__ import annotations

import requests

from gateway.alerts.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, deliver, signature, verify_signature

SECRET = "11" * 32
BODY = b'{"subject": "trigger:cdr"}'


class Recorder:
    def __init__(self, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.calls: list[dict[str, str]] = []
        self.pauses: list[float] = []

    def send(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.calls.append(headers)
        answer = self.answers[len(self.calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def run(answers: list[int | Exception]) -> tuple[Recorder, list[bool]]:
    rec = Recorder(answers)
    attempts = deliver("https://example.invalid/hook", SECRET, BODY, send=rec.send, sleep=rec.pauses.append,
                       clock=lambda: 1_700_000_000.0)  # fmt: skip
    return rec, [a.ok for a in attempts]


def test_a_delivery_accepted_first_time_is_sent_once() -> None:
    rec, oks = run([204])
    assert oks == [True]
    assert rec.pauses == []


def test_a_server_error_or_an_unreachable_receiver_is_retried_with_doubling_pauses() -> None:
    rec, oks = run([503, requests.ConnectionError("refused"), 200])
    assert oks == [False, False, True]
    assert rec.pauses == [0.5, 1.0]


def test_a_refusal_is_final() -> None:
    rec, oks = run([403, 200])
    assert oks == [False]
    assert len(rec.calls) == 1


def test_rate_limited_and_timed_out_answers_are_retried() -> None:
    _, oks = run([429, 408, 200])
    assert oks == [False, False, True]


def test_attempts_are_bounded() -> None:
    rec, oks = run([500, 500, 500, 200])
    assert oks == [False, False, False]
    assert len(rec.calls) == 3


def test_every_attempt_is_signed_over_its_timestamp_and_body() -> None:
    rec, _ = run([500, 200])
    for headers in rec.calls:
        stamp = headers[TIMESTAMP_HEADER]
        assert headers[SIGNATURE_HEADER] == signature(SECRET, stamp, BODY)
        assert verify_signature(SECRET, stamp, BODY, headers[SIGNATURE_HEADER], now=1_700_000_010.0)


def test_a_replayed_or_altered_delivery_does_not_verify() -> None:
    stamp = "1700000000"
    sig = signature(SECRET, stamp, BODY)
    assert not verify_signature(SECRET, stamp, BODY, sig, now=1_700_000_000.0 + 3600)
    assert not verify_signature(SECRET, "1700000001", BODY, sig, now=1_700_000_000.0)
    assert not verify_signature(SECRET, stamp, BODY + b"x", sig, now=1_700_000_000.0)
    assert not verify_signature(SECRET, "not-a-time", BODY, sig, now=1_700_000_000.0)
