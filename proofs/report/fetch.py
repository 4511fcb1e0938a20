"""Fetching an investor's bundles from a gateway over HTTP(S), with the standard library only.

For every sealed snapshot of the pool the tool saves the signed header and asks, with a fresh nonce
each, for an exact disclosure of every report figure the snapshot's lane set defines. Each answer is
saved as a bundle file, and what was asked (nonce, pool, cut-off, statement) is returned so the
verification pins it (:class:`proofs.claim_bundle.ExpectedClaim`): a valid proof of some other
question is refused. A disclosure the gateway's disclosure control refuses (403) or cannot prove
(422) is listed as refused; nothing is drawn for it. Nothing fetched is trusted before it verifies.

When the pool has a registered deal, the deal file is saved as ``deal.toml`` and every published
payment report of a listed cut-off (the trigger-status view, for an investor) as
``<cut-off>-payment-report.json``; they are verified like every bundle (:mod:`proofs.report.deal`).
The deal file is the gateway's copy: an investor holding the deal's own copy passes it with
``--deal``, and every report must be bound to that deal's hash.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from proofs import bundle
from proofs.canonical import MAX_NESTING, nesting_exceeds
from proofs.claim_bundle import ExpectedClaim
from proofs.claims import Disclosure
from proofs.exit_codes import ExitCode
from proofs.lanes import get_lane_set

#: The figures asked for, when the snapshot's lane set defines them (docs/metrics.md ids).
REPORT_METRICS: Final = (
    "loan_count",
    "active_loan_count",
    "pool_balance",
    "outstanding_balance",
    "beginning_balance",
    "rate_base_balance",
    *(f"balance_{s}" for s in ("M0", "M1", "M2", "M3", "M3+", "DEFAULTED")),
    *(f"count_{s}" for s in ("M0", "M1", "M2", "M3", "M3+", "DEFAULTED", "PREPAID", "WRITTEN_OFF")),
    "delinquent_1plus_balance",
    "delinquent_31plus_balance",
    "delinquent_61plus_balance",
    "delinquent_90plus_balance",
    "delinquent_90plus_or_defaulted_balance",
    "scheduled_principal",
    "unscheduled_principal",
    "interest",
    "fees",
    "defaulted_principal",
    "recoveries",
    "written_off",
    "collections",
    # dpd5 lane sets
    "balance_dpd_1plus",
    "balance_dpd_31plus",
    "balance_dpd_90plus",
    "count_dpd_90plus",
)
_TIMEOUT: Final = 120


class FetchError(Exception):
    """The gateway could not be asked: ``exit_code`` says how (unreachable, authentication, server)."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Fetched:
    """What a fetch wrote: the questions asked per file, and the refused ones with the gateway's reason."""

    expected: dict[str, ExpectedClaim] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)


def _bounded_json(url: str, data: bytes | str) -> Any:
    """A gateway answer decoded, its nesting bounded before the decoder recurses into it."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if nesting_exceeds(text, MAX_NESTING):
        raise FetchError(f"{url}: the answer nests deeper than {MAX_NESTING} levels", ExitCode.SERVER)
    return json.loads(text)


def _request(url: str, api_key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"{url}: only http:// and https:// gateway URLs are fetched", ExitCode.UNUSABLE)
    method = "GET" if data is None else "POST"
    # The scheme is checked above: no file: or custom scheme reaches urllib.
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:  # noqa: S310 - scheme checked
            return resp.status, _bounded_json(url, resp.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")[:500]
        try:
            detail = _bounded_json(url, text).get("message", text)
        except (ValueError, AttributeError, FetchError):
            detail = text
        if exc.code in (401,):
            raise FetchError(f"{url}: HTTP {exc.code}: {detail}", ExitCode.AUTH) from None
        if exc.code >= 500:
            raise FetchError(f"{url}: HTTP {exc.code}: {detail}", ExitCode.SERVER) from None
        return exc.code, {"message": detail}
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise FetchError(f"{url}: {getattr(exc, 'reason', exc)}", ExitCode.UNREACHABLE) from None
    except ValueError as exc:
        raise FetchError(f"{url}: not a JSON answer ({exc})", ExitCode.SERVER) from None


def _ok(status: int, doc: Any, what: str) -> Any:
    if status != 200:
        code = ExitCode.REFUSED if status == 403 else ExitCode.UNUSABLE
        message = doc.get("message") if isinstance(doc, dict) else doc
        raise FetchError(f"{what}: HTTP {status}: {message}", code)
    return doc


def fetch_bundles(base_url: str, api_key: str, folder: Path, *, pool_id: str | None = None) -> Fetched:
    """Ask the gateway at ``base_url`` for the investor's report bundles and write them into ``folder``.

    Raises:
        FetchError: the gateway is unreachable, refuses the key, fails (5xx), or the pool is not
            the caller's (or, with several pools in scope, none was named).
    """
    root = base_url.rstrip("/") + "/investor"
    folder.mkdir(parents=True, exist_ok=True)
    if pool_id is None:
        pools = _ok(*_request(f"{root}/pools", api_key), "list pools")
        ids = [p.get("pool_id") for p in pools if isinstance(p, dict)]
        if len(ids) != 1:
            listed = ", ".join(map(str, ids))
            raise FetchError(
                f"the key has {len(ids)} pools in scope ({listed}); name one with --pool", ExitCode.UNUSABLE
            )
        pool_id = str(ids[0])
    pool_url = f"{root}/pools/{quote(pool_id, safe='')}"
    snapshots = _ok(*_request(f"{pool_url}/snapshots", api_key), f"list snapshots of {pool_id}")
    out = Fetched()
    for snap in snapshots:
        cutoff = str(snap["cutoff_date"])
        header = _ok(*_request(f"{pool_url}/snapshots/{cutoff}/header", api_key), f"header of {cutoff}")
        (folder / f"{cutoff}-header.json").write_bytes(bundle.dump_bundle(header))
        try:
            metrics = get_lane_set(str(header["proof_params"]["lane_set"])).metrics
        except (KeyError, TypeError):
            metrics = {}
        for metric in (m for m in REPORT_METRICS if m in metrics):
            statement = Disclosure(metric)
            nonce = secrets.token_bytes(32)
            status, doc = _request(
                f"{pool_url}/snapshots/{cutoff}/claims",
                api_key,
                {"statement": statement.to_dict(), "nonce": nonce.hex()},
            )
            name = f"{cutoff}-{metric}.json"
            if status != 200:
                message = doc.get("message") if isinstance(doc, dict) else doc
                out.refused.append((name, f"refused by the gateway: HTTP {status}: {message}"))
                continue
            (folder / name).write_bytes(bundle.dump_bundle(doc))
            out.expected[name] = ExpectedClaim(
                nonce=nonce, pool_id=pool_id, cutoff_date=cutoff, statement=statement
            )
    _fetch_deal(pool_url, api_key, folder, [str(s["cutoff_date"]) for s in snapshots], out)
    return out


def _fetch_deal(pool_url: str, api_key: str, folder: Path, cutoffs: list[str], out: Fetched) -> None:
    """The deal file and each cut-off's payment report, where the gateway has them (404: none)."""
    status, doc = _request(f"{pool_url}/deal", api_key)
    if status == 404:
        return
    deal = _ok(status, doc, "deal file")
    if not isinstance(deal, dict) or not isinstance(deal.get("deal_toml"), str):
        raise FetchError("deal file: the answer carries no deal_toml", ExitCode.SERVER)
    (folder / "deal.toml").write_text(deal["deal_toml"], encoding="utf-8")
    for cutoff in cutoffs:
        status, doc = _request(f"{pool_url}/payment-reports/{cutoff}", api_key)
        name = f"{cutoff}-payment-report.json"
        if status == 404:
            continue
        if status != 200:
            message = doc.get("message") if isinstance(doc, dict) else doc
            out.refused.append((name, f"refused by the gateway: HTTP {status}: {message}"))
            continue
        (folder / name).write_bytes(bundle.dump_bundle(doc))
