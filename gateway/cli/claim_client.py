"""The investor's side of ``poolproof claim``: ask one question, check the answer is to that question.

:func:`ask_claim` sends a statement with a fresh 32-byte nonce, then verifies the answer with
:func:`proofs.claim_bundle.verify_claim_answer` against exactly what was asked (nonce, pool,
cut-off, statement) under the investor's witness policy. Every outcome maps to one exit code of
:mod:`proofs.exit_codes` and a message naming what happened; no traceback reaches the user.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proofs import bundle
from proofs.claim_bundle import ExpectedClaim, verify_claim_answer
from proofs.claims import statement_from_dict
from proofs.errors import EncodingError, VerificationError
from proofs.exit_codes import ExitCode
from proofs.lanes import DEFAULT_ACCEPTED_LANE_SETS, LANE_SETS
from proofs.signing import load_public_key
from proofs.witness import WitnessPolicy

from ._common import answer_json

#: The fixed answer of the gateway to a false claim (``gateway.api.snapshots.CANNOT_PROVE``).
CANNOT_PROVE = "cannot prove this claim on this snapshot"


@dataclass(frozen=True)
class ClaimOutcome:
    """What ``poolproof claim`` reports: an exit code, a message, and the details for ``--json``."""

    code: ExitCode
    message: str
    check: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the claim was proven and every check passed."""
        return self.code == ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        body: dict[str, Any] = {"ok": self.ok, "exit_code": int(self.code), **self.details}
        if not self.ok:
            body["error"] = self.message
            body["check"] = self.check
        return body


def _fail(code: ExitCode, check: str, message: str) -> ClaimOutcome:
    labels = {
        ExitCode.FAILED: "FAILED",
        ExitCode.UNUSABLE: "UNUSABLE INPUT",
        ExitCode.REFUSED: "REFUSED",
        ExitCode.AUTH: "AUTHENTICATION FAILED",
        ExitCode.UNREACHABLE: "UNREACHABLE",
        ExitCode.SERVER: "GATEWAY ERROR",
    }
    return ClaimOutcome(code, f"{labels[code]}: {message}", check)


def _policy(
    witness_files: tuple[str, ...], needed: int | None, no_witness: bool
) -> WitnessPolicy | ClaimOutcome:
    if no_witness:
        if witness_files or needed is not None:
            return _fail(ExitCode.UNUSABLE, "input", "--no-witness cannot be combined with --require-witness")
        return WitnessPolicy.unwitnessed()
    if not witness_files:
        return _fail(
            ExitCode.UNUSABLE,
            "witness.policy",
            "name the witnesses whose cosignature you require (--require-witness KEY), or accept a header "
            "no witness cosigned explicitly (--no-witness): without a witness the header's aggregates "
            "rest on the gateway's word",
        )
    try:
        keys = tuple(load_public_key(f) for f in witness_files)
        return WitnessPolicy(keys, needed)
    except (OSError, EncodingError, ValueError) as exc:
        return _fail(ExitCode.UNUSABLE, "input", f"witness keys: {exc}")


def _http_failure(status: int, message: str) -> ClaimOutcome:
    if status == 401:
        return _fail(ExitCode.AUTH, "http.401", f"the gateway did not accept your API key ({message})")
    if status in (403, 429):
        return _fail(ExitCode.REFUSED, f"http.{status}", f"HTTP {status}: {message}")
    if status == 422 and message == CANNOT_PROVE:
        return _fail(ExitCode.FAILED, "claim.false", f"the gateway cannot prove this claim: {message}")
    if status >= 500:
        return _fail(ExitCode.SERVER, f"http.{status}", f"HTTP {status}: {message}")
    return _fail(ExitCode.UNUSABLE, f"http.{status}", f"HTTP {status}: {message}")


def ask_claim(
    *,
    url: str,
    api_key: str,
    role_prefix: str,
    pool_id: str,
    cutoff: str,
    statement_json: str,
    key_file: str,
    witness_files: tuple[str, ...] = (),
    witnesses_needed: int | None = None,
    no_witness: bool = False,
    lane_sets: tuple[str, ...] = (),
    out: str | None = None,
    timeout: float = 600,
) -> ClaimOutcome:
    """Ask for a claim and verify the answer; never raises for bad input, refusals or bad answers."""
    import requests

    try:
        asked = statement_from_dict(json.loads(statement_json))
    except (ValueError, TypeError, KeyError) as exc:
        return _fail(ExitCode.UNUSABLE, "input", f"--statement: not a claim statement ({exc})")
    try:
        gateway_key = load_public_key(key_file)
    except (OSError, EncodingError, ValueError) as exc:
        return _fail(ExitCode.UNUSABLE, "input", f"--key {key_file}: {exc}")
    unknown = sorted(set(lane_sets) - set(LANE_SETS))
    if unknown:
        return _fail(ExitCode.UNUSABLE, "input", f"--accept-lane-set: unknown lane set {', '.join(unknown)}")
    policy = _policy(witness_files, witnesses_needed, no_witness)
    if isinstance(policy, ClaimOutcome):
        return policy
    nonce = secrets.token_bytes(32)
    try:
        resp = requests.post(
            f"{url.rstrip('/')}{role_prefix}/pools/{pool_id}/snapshots/{cutoff}/claims",
            json={"statement": asked.to_dict(), "nonce": nonce.hex()},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )
    except requests.exceptions.InvalidURL as exc:
        return _fail(ExitCode.UNUSABLE, "input", f"--url: {exc}")
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        return _fail(
            ExitCode.UNREACHABLE,
            "http.unreachable",
            f"cannot reach the gateway at {url} ({type(exc).__name__})",
        )
    except requests.exceptions.RequestException as exc:
        return _fail(
            ExitCode.UNREACHABLE, "http.unreachable", f"request to {url} failed ({type(exc).__name__})"
        )
    try:
        answer = answer_json(resp)
    except ValueError:
        answer = None
    if resp.status_code != 200:
        message = answer.get("message", "") if isinstance(answer, dict) else resp.text[:200]
        return _http_failure(resp.status_code, str(message))
    if not isinstance(answer, dict):
        return _fail(ExitCode.SERVER, "http.answer", "the gateway's answer is not a JSON object")
    expected = ExpectedClaim(nonce=nonce, pool_id=pool_id, cutoff_date=cutoff, statement=asked)
    try:
        verified = verify_claim_answer(
            answer,
            gateway_key,
            expected=expected,
            witnesses=policy,
            lane_sets=DEFAULT_ACCEPTED_LANE_SETS | frozenset(lane_sets),
        )
    except VerificationError as exc:
        return _fail(ExitCode.FAILED, exc.check, str(exc))
    except EncodingError as exc:
        return _fail(ExitCode.SERVER, "http.answer", f"the gateway's answer is not a claim bundle: {exc}")
    if out:
        Path(out).write_bytes(bundle.dump_bundle(answer))
    ctx = verified.header.context
    witnesses = list(verified.witnesses)
    return ClaimOutcome(
        ExitCode.OK,
        f"OK: proven {json.dumps(verified.statement.to_dict())} on snapshot {ctx.snapshot_id} "
        f"(header {verified.header.hash.hex()[:16]}…, "
        + (
            f"cosigned by {', '.join(witnesses)})"
            if witnesses
            else "NOT cosigned by any witness: --no-witness)"
        ),
        details={
            "statement": verified.statement.to_dict(),
            "pool_id": ctx.pool_id,
            "cutoff_date": ctx.cutoff_date,
            "snapshot_id": ctx.snapshot_id,
            "header_hash": verified.header.hash.hex(),
            "nonce": nonce.hex(),
            "witnesses": witnesses,
            "unpacking_checked": verified.unpacking_checked,
        },
    )
