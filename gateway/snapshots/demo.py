"""``poolproof demo``: the whole story against a real server on the embedded SQLite default.

In a fresh temporary instance (master key, gateway signing key, database) a real waitress server is
started on 127.0.0.1 (a free port) and, through its HTTP API only:

1. the operator registers a platform (with its Ed25519 tape-signing key), an investor and an
   auditor, and registers the auditor's witness key;
2. the platform creates a pool and submits a signed month of synthetic tape;
3. the platform seals the cut-off (a background job; progress is polled);
4. the auditor downloads the whole snapshot bundle, verifies every leaf and proof, and only then
   cosigns the header as a witness (what ``poolproof-audit verify-snapshot --cosign`` does) and
   posts the cosignature to the gateway;
5. the investor asks for three claims with its own nonces and verifies each bundle with ``proofs``
   as the answer to its question, *requiring the auditor's cosignature* (and sees a false claim
   answered "cannot prove");
6. the investor asks for the servicer-report figures the default policy gives it exactly
   (``POST .../figures``: through the disclosure-control point, so a figure over fewer than the
   minimum cohort comes back suppressed), verifies each figure's claim bundle, and prints a short
   servicer-report table: every figure with its unit and its definition's name, and the ratios
   (delinquency, SMM/CPR, MDR/CDR, yield) computed exactly from the proven figures;
7. a borrower fetches their loan's inclusion bundle and verifies it.

A tape schema v2 tape (the synthetic platform's) is sealed under the pool statement v2.

With ``--out DIR`` every bundle is written there with the gateway public key (``gateway.pub``) and
the witness public key (``witness.pub``), so anyone can re-check them with
``poolproof-audit verify-claim --require-witness witness.pub|verify-snapshot|verify-inclusion``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask

from policies.figures import RATIOS
from proofs import bundle
from proofs.claim_bundle import ExpectedClaim, verify_claim_answer
from proofs.claims import BoundClaim, ClaimStatement, Disclosure, RatioClaim
from proofs.errors import EncodingError, VerificationError
from proofs.inclusion import verify_inclusion_bundle
from proofs.lanes import BUCKETS
from proofs.loan_facts import STATES
from proofs.signing import key_id, load_public_key, public_key_to_pem
from proofs.snapshot import Header, verify_header, verify_snapshot
from proofs.witness import WitnessPolicy, admit_header, cosign_header, new_witness_state

from ..errors import GatewayError
from ..units import bps, money

DEMO_POOL = "DEMO-CN1"
DEMO_FIRST_CUTOFF = date(2024, 1, 31)
DEMO_MONTH = 6  # a seasoned month: every delinquency bucket is populated
DEFAULT_LOANS = 1000  # the pool statement v2 seal: about 80 s on 2 shared cores (docs/benchmarks.md)
NINETY_PLUS = "delinquent_90plus_or_defaulted_balance"
#: The figures of the demo's servicer-report table, in the order printed (docs/metrics.md ids).
SERVICER_REPORT_FIGURES: tuple[str, ...] = (
    "loan_count",
    "active_loan_count",
    "pool_balance",
    "outstanding_balance",
    "count_M0",
    "delinquent_1plus_balance",
    "delinquent_31plus_balance",
    "balance_DEFAULTED",
    "beginning_balance",
    "rate_base_balance",
    "scheduled_principal",
    "unscheduled_principal",
    "defaulted_principal",
    "written_off",
    "recoveries",
    "collections",
    "interest_and_fees",
)


class DemoFailed(GatewayError):
    """A step of the demo did not do what it should (the message names the step)."""

    http_status: ClassVar[int] = 500


# --- a real server in a background thread ---------------------------------------------------------------
class LiveServer:
    """waitress serving ``app`` on 127.0.0.1 at a free port, in a daemon thread; ``close()`` stops it."""

    def __init__(self, app: Flask, threads: int = 4) -> None:
        from waitress.server import MultiSocketServer

        from ..access.body_limits import create_server

        srv = create_server(app, host="127.0.0.1", port=0, threads=threads, channel_timeout=600)
        if isinstance(srv, MultiSocketServer):  # pragma: no cover - one host given
            raise RuntimeError("expected a single-socket server")
        self.app = app
        self._server = srv
        self.url = f"http://127.0.0.1:{srv.effective_port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="poolproof-live-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        srv = self._server
        while not self._stop.is_set():
            srv.asyncore.loop(timeout=0.05, map=srv._map, count=1)
        srv.task_dispatcher.shutdown()
        srv.close()
        for channel in list(srv._map.values()):
            channel.close()

    def close(self) -> None:
        """Stop serving and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class DemoInstance:
    """A fresh gateway instance on disk."""

    root: Path
    db_path: Path
    master_key_file: Path
    gateway_key_file: Path
    admin_key: str

    def config(self, **extra: Any) -> dict[str, Any]:
        """App configuration for this instance."""
        return {
            "DATABASE": str(self.db_path),
            "MASTER_KEY_FILE": str(self.master_key_file),
            "GATEWAY_KEY_FILE": str(self.gateway_key_file),
            **extra,
        }


def init_instance(root: Path) -> DemoInstance:
    """What ``poolproof init`` does, in ``root``: master key, gateway key, migrated database, admin key."""
    from ..keys.gateway_key import ensure_gateway_key_file
    from ..keys.keyring import generate_master_key_file
    from ..storage.db import connect, migrate
    from ..storage.records import create_admin_key

    root.mkdir(parents=True, exist_ok=True)
    inst = DemoInstance(root, root / "poolproof.db", root / "master.key", root / "gateway.key", "")
    generate_master_key_file(inst.master_key_file)
    ensure_gateway_key_file(inst.gateway_key_file)
    db = connect(inst.db_path)
    try:
        migrate(db)
        inst.admin_key = create_admin_key(db)
    finally:
        db.conn.close()
    return inst


@contextmanager
def running_gateway(inst: DemoInstance, **config: Any) -> Iterator[LiveServer]:
    """A live server for ``inst`` (seal jobs it started are waited for before it stops)."""
    from .. import create_app
    from ..jobs import job_runner

    app = create_app(inst.config(**config))
    server = LiveServer(app)
    try:
        yield server
    finally:
        job_runner(app).join(timeout=600)
        server.close()


# --- an HTTP client for each party ---------------------------------------------------------------------
@dataclass
class Client:
    """A party's view of the gateway: its API key and URL prefix."""

    url: str
    api_key: str
    prefix: str
    session: requests.Session = field(default_factory=requests.Session)

    def _h(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", **(extra or {})}

    def get(self, path: str, **kw: Any) -> requests.Response:
        """GET ``prefix + path``."""
        return self.session.get(f"{self.url}{self.prefix}{path}", headers=self._h(), timeout=600, **kw)

    def post(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        """POST ``prefix + path``."""
        return self.session.post(
            f"{self.url}{self.prefix}{path}", headers=self._h(headers), timeout=600, **kw
        )


def expect(resp: requests.Response, status: int, step: str) -> Any:
    """The JSON body of ``resp`` if it has ``status``; :class:`DemoFailed` naming ``step`` otherwise."""
    if resp.status_code != status:
        raise DemoFailed(f"{step}: HTTP {resp.status_code}: {resp.text[:500]}")
    return resp.json()


def add_party(url: str, admin_key: str, party_id: str, role: str, **extra: Any) -> str:
    """Register a party through the admin API; returns its API key."""
    resp = requests.post(
        f"{url}/admin/parties",
        json={"party_id": party_id, "role": role, **extra},
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=60,
    )
    return str(expect(resp, 201, f"register {role} {party_id}")["api_key"])


def submit_tape(platform: Client, signing_key: Ed25519PrivateKey, pool: str, cutoff: str, body: bytes) -> Any:
    """Sign (Ed25519 over the SHA-256) and submit a JSONL tape; returns the stored tape's result."""
    from ..keys.tape_signatures import sign_tape

    digest = hashlib.sha256(body).hexdigest()
    headers = {
        "Content-Type": "application/x-ndjson",
        "X-Tape-SHA256": digest,
        "X-Tape-Signature": base64.b64encode(sign_tape(signing_key, pool, cutoff, digest)).decode(),
    }
    return expect(
        platform.post(f"/pools/{pool}/cutoffs/{cutoff}/tapes", headers=headers, data=body), 201, "submit tape"
    )


def seal_and_wait(
    platform: Client, pool: str, cutoff: str, report: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Start a seal job and poll its progress until it is sealed; :class:`DemoFailed` if it fails."""
    job = expect(platform.post(f"/pools/{pool}/cutoffs/{cutoff}/seal"), 202, "start sealing")
    while job["state"] == "running":
        if report:
            report(job)
        time.sleep(0.5)
        job = expect(platform.get(f"/pools/{pool}/jobs/{job['job_id']}"), 200, "poll seal job")
    if report:
        report(job)
    if job["state"] != "sealed":
        raise DemoFailed(f"sealing failed: {job['error']}")
    return dict(job)


def request_claim(
    client: Client, pool: str, cutoff: str, statement: ClaimStatement, nonce: str | None = None
) -> requests.Response:
    """Ask for a claim with ``nonce`` (hex; default a fresh 32-byte nonce)."""
    body = {"statement": statement.to_dict(), "nonce": nonce or secrets.token_hex(32)}
    return client.post(f"/pools/{pool}/snapshots/{cutoff}/claims", json=body)


def value_bits_for(header: dict[str, Any], key: Ed25519PublicKey, *metrics: str) -> int:
    """The ``value_bits`` a statement on ``metrics`` needs for this snapshot (at least the default 48)."""
    h = verify_header(header, key)
    return max(48, *(h.metric_bound_bits(m) for m in metrics))


def describe(statement: ClaimStatement) -> str:
    """A human reading of a claim statement."""
    if isinstance(statement, RatioClaim):
        pct = 100 * statement.p / statement.q
        return f"{statement.metric_num} / {statement.metric_den} {statement.op} {pct:g}%"
    if isinstance(statement, BoundClaim):
        parts = []
        if statement.lo is not None:
            parts.append(f"{statement.metric} >= {statement.lo:,}")
        if statement.hi is not None:
            parts.append(f"{statement.metric} <= {statement.hi:,}")
        return " and ".join(parts)
    return json.dumps(statement.to_dict())


# --- the story -----------------------------------------------------------------------------------------
@dataclass
class DemoResult:
    """What the demo produced and measured."""

    loans: int
    cutoff: str
    seal_seconds: float
    claims: list[dict[str, Any]]
    refused_claim: str
    snapshot_bytes: int
    snapshot_verify_seconds: float
    inclusion: dict[str, Any]
    files: list[str]
    witness: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    #: The servicer-report table: figure id -> its figure object as served (value or suppression).
    servicer_report: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_demo(
    n_loans: int = DEFAULT_LOANS,
    out: Path | None = None,
    *,
    workers: int | None = None,
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo (see the module docstring); raises :class:`DemoFailed` naming the failed step."""
    from ..synth import generate_tape, monthly_cutoff

    with tempfile.TemporaryDirectory(prefix="poolproof-demo-") as tmp:
        inst = init_instance(Path(tmp) / "instance")
        gateway_pub_local = load_gateway_public(inst.gateway_key_file)
        config: dict[str, Any] = {} if workers is None else {"SEAL_WORKERS": workers}
        with running_gateway(inst, **config) as server:
            url = server.url
            echo(f"gateway running at {url} (database {inst.db_path.name}, fresh instance)")
            # 1. parties
            signing_key = Ed25519PrivateKey.generate()
            from ..keys.tape_signatures import public_key_bytes

            plat_key = add_party(
                url,
                inst.admin_key,
                "demo-platform",
                "platform",
                public_key=public_key_bytes(signing_key).hex(),
            )
            platform = Client(url, plat_key, "/platform")
            expect(
                platform.post("/pools", json={"pool_id": DEMO_POOL, "settings": {"preset": "CN_CONSUMER"}}),
                201,
                "create pool",
            )
            investor = Client(
                url,
                add_party(url, inst.admin_key, "demo-investor", "investor", pools=[DEMO_POOL]),
                "/investor",
            )
            auditor = Client(
                url, add_party(url, inst.admin_key, "demo-auditor", "auditor", pools=[DEMO_POOL]), "/auditor"
            )
            # 2. a month of tape
            cutoff = monthly_cutoff(DEMO_FIRST_CUTOFF, DEMO_MONTH).isoformat()
            rows = generate_tape(
                n_loans, seed=7, cutoff=DEMO_FIRST_CUTOFF, pool_id=DEMO_POOL, month=DEMO_MONTH
            )
            body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
            stored = submit_tape(platform, signing_key, DEMO_POOL, cutoff, body)
            echo(
                f"platform submitted a signed tape: {stored['rows']} loans, cut-off {cutoff}, "
                f"{len(body):,} bytes"
            )
            # A borrower: the obligor of the first loan (the platform knows who its customers are).
            first = expect(
                platform.get(f"/pools/{DEMO_POOL}/cutoffs/{cutoff}/loans", params={"limit": 1}),
                200,
                "read loans",
            )
            loan = first["loans"][0]
            borrower = Client(
                url,
                add_party(
                    url,
                    inst.admin_key,
                    "demo-borrower",
                    "borrower",
                    pools=[DEMO_POOL],
                    obligor_keys=[loan["obligor_pseudo_id"]],
                ),
                "/borrower",
            )
            # 3. seal
            t0 = time.monotonic()
            last = [0.0]

            def report(job: dict[str, Any]) -> None:
                now = time.monotonic()
                if job["state"] == "running" and now - last[0] < 2:
                    return
                last[0] = now
                rate = job["loans_per_second"]
                eta = job["eta_seconds"]
                echo(
                    f"  sealing: {job['state']:<7} {job['percent']:5.1f}%  "
                    f"{job['leaves_done']}/{job['leaf_total']} loans"
                    + (f"  {rate:.1f} loans/s  ETA {eta:.0f}s" if rate and eta is not None else "")
                )

            seal_and_wait(platform, DEMO_POOL, cutoff, report)
            seal_seconds = time.monotonic() - t0
            # The verifiers' trusted key: served by the gateway, checked against the one obtained out of band.
            served = expect(requests.get(f"{url}/public/gateway-key", timeout=30), 200, "gateway key")
            if served["key_id"] != key_id(gateway_pub_local):
                raise DemoFailed("gateway key: the served key differs from the instance's key file")
            gateway_pub = gateway_pub_local
            header = expect(
                investor.get(f"/pools/{DEMO_POOL}/snapshots/{cutoff}/header"), 200, "snapshot header"
            )
            echo(
                f"snapshot {header['snapshot_id']} sealed in {seal_seconds:.1f}s: "
                f"{header['leaf_count']} leaves, "
                f"root {header['merkle_root'][:16]}…, signed by gateway key {served['key_id'][:16]}…"
            )
            # 4. auditor: the whole snapshot, then the witness cosignature
            t1 = time.monotonic()
            resp = auditor.get(f"/pools/{DEMO_POOL}/snapshots/{cutoff}/bundle")
            if resp.status_code != 200:
                raise DemoFailed(f"download snapshot bundle: HTTP {resp.status_code}")
            snapshot_text = resp.text
            verified = verify_snapshot(io.StringIO(snapshot_text), gateway_pub)
            verify_seconds = time.monotonic() - t1
            packed = verified.packed_sums is not None
            sums = "aggregates unpack leaf sums" if packed else "aggregates = sums of leaves"
            echo(
                f"auditor verified the whole snapshot ({len(snapshot_text):,} bytes) "
                f"in {verify_seconds:.1f}s: "
                f"signature, Merkle root over {verified.leaf_count} leaves, {sums}, "
                f"every loan counted once, every per-loan proof (lane set {verified.lanes.name})"
            )
            witness = _auditor_cosigns(url, inst.admin_key, auditor, verified, echo)
            # 5. investor claims (two at registered deal triggers, one within the claim budget),
            # each checked as the answer to its question and required to carry the auditor's cosignature
            policy = WitnessPolicy((witness["public_key"],))
            claims = _investor_claims(investor, cutoff, header, gateway_pub, policy, n_loans, echo)
            refused = _false_claim(investor, cutoff, header, gateway_pub, echo)
            # 6. investor: the servicer report's figures, exact, each with its proof
            figures = _servicer_report(investor, cutoff, gateway_pub, policy, echo)
            # 7. borrower
            inc = expect(
                borrower.get(
                    f"/pools/{DEMO_POOL}/snapshots/{cutoff}/inclusion",
                    params={"platform_loan_id": loan["platform_loan_id"]},
                ),
                200,
                "borrower inclusion",
            )
            included = verify_inclusion_bundle(inc["inclusion"], gateway_pub)
            record = inc["record"]
            if "current_principal_fen" in record and record["current_principal_fen"] != included.principal:
                raise DemoFailed("inclusion: the committed principal differs from the borrower's record")
            bucket = BUCKETS[included.bucket] if included.facts is None else STATES[included.bucket]
            echo(
                f"borrower verified their loan is leaf {included.leaf_index} with outstanding principal "
                f"{included.principal:,} fen in {'bucket' if included.facts is None else 'state'} {bucket}"
            )
            files = _write_outputs(
                out, gateway_pub, witness["public_key"], claims, snapshot_text, inc["inclusion"], figures
            )
    result = DemoResult(
        n_loans,
        cutoff,
        seal_seconds,
        claims,
        refused,
        len(snapshot_text),
        verify_seconds,
        {
            "leaf_index": included.leaf_index,
            "principal": included.principal,
            "bucket": bucket,
        },
        files,
        {k: v for k, v in witness.items() if k != "public_key"},
        servicer_report=figures,
    )
    return result


def _auditor_cosigns(
    url: str, admin_key: str, auditor: Client, verified: Header, echo: Callable[[str], None]
) -> dict[str, Any]:
    """The operator registers the auditor's witness key; the auditor cosigns the verified header.

    The auditor's memory (:func:`proofs.witness.admit_header`) refuses a second header for the same
    pool and cut-off; the gateway accepts the cosignature only from a registered witness key and
    only over exactly its stored header.
    """
    witness_key = Ed25519PrivateKey.generate()
    public = witness_key.public_key()
    expect(
        requests.post(
            f"{url}/admin/witnesses",
            json={"name": "demo-auditor", "public_key": public_key_to_pem(public).decode()},
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=30,
        ),
        201,
        "register witness",
    )
    t0 = time.monotonic()
    admit_header(new_witness_state(), verified)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cosignature = cosign_header(witness_key, verified, stamp)
    cosign_ms = 1000 * (time.monotonic() - t0)
    ctx = verified.context
    listing = expect(
        requests.post(
            f"{url}/auditor/pools/{ctx.pool_id}/snapshots/{ctx.cutoff_date}/cosignatures",
            json=cosignature,
            headers={"Authorization": f"Bearer {auditor.api_key}"},
            timeout=30,
        ),
        201,
        "post cosignature",
    )
    names = ", ".join(w["name"] for w in listing["cosigned_by"])
    echo(
        f"auditor cosigned header {verified.hash.hex()[:16]}… as witness {key_id(public)[:16]}… "
        f"({cosign_ms:.1f} ms); the gateway now shows it cosigned by: {names}"
    )
    return {
        "public_key": public,
        "key_id": key_id(public),
        "cosign_ms": cosign_ms,
        "header_hash": verified.hash.hex(),
    }


def load_gateway_public(path: Path) -> Ed25519PublicKey:
    """The public half of the gateway key file."""
    from ..keys.gateway_key import load_gateway_key

    return load_gateway_key(path).public_key()


def _investor_claims(
    investor: Client,
    cutoff: str,
    header: dict[str, Any],
    key: Ed25519PublicKey,
    policy: WitnessPolicy,
    n_loans: int,
    echo: Callable[[str], None],
) -> list[dict[str, Any]]:
    statements: list[ClaimStatement] = [
        # The deal's 90+ DPD trigger (registered at 300 bps in the default policy): 90+ days or
        # defaulted principal over the outstanding balance.
        RatioClaim(
            NINETY_PLUS,
            "outstanding_balance",
            "<=",
            3,
            100,
            value_bits_for(header, key, NINETY_PLUS, "outstanding_balance"),
        ),
        # Defaulted loans at most 3 % of active loans (an unregistered threshold: spends one of the budget).
        RatioClaim(
            "count_DEFAULTED",
            "active_loan_count",
            "<=",
            3,
            100,
            value_bits_for(header, key, "count_DEFAULTED", "active_loan_count"),
        ),
        # A minimum pool balance of RMB 500 per loan (spends the other).
        BoundClaim("pool_balance", n_loans * 50_000, None, value_bits_for(header, key, "pool_balance")),
    ]
    out = []
    for i, statement in enumerate(statements, 1):
        nonce = secrets.token_bytes(32)
        t0 = time.monotonic()
        resp = request_claim(investor, DEMO_POOL, cutoff, statement, nonce.hex())
        prove_s = time.monotonic() - t0
        doc = expect(resp, 200, f"claim {i} ({describe(statement)})")
        asked = ExpectedClaim(nonce=nonce, pool_id=DEMO_POOL, cutoff_date=cutoff, statement=statement)
        t1 = time.monotonic()
        try:
            verify_claim_answer(doc, key, expected=asked, witnesses=policy)
        except (VerificationError, EncodingError) as exc:
            raise DemoFailed(f"claim {i}: {exc}") from None
        verify_ms = 1000 * (time.monotonic() - t1)
        size = len(bundle.dump_bundle(doc))
        echo(
            f"investor: claim {i} PROVEN  {describe(statement)}  cosigned by the auditor "
            f"(round trip {prove_s * 1000:.0f} ms, verified in {verify_ms:.0f} ms with the unpacking "
            f"proof and witness check, bundle {size:,} bytes)"
        )
        out.append({"statement": statement.to_dict(), "bundle": doc, "verify_ms": verify_ms, "bytes": size})
    return out


def _false_claim(
    investor: Client, cutoff: str, header: dict[str, Any], key: Ed25519PublicKey, echo: Callable[[str], None]
) -> str:
    # At the other registered trigger (500 bps), but the wrong way round: false for a healthy pool.
    statement = RatioClaim(
        NINETY_PLUS,
        "outstanding_balance",
        ">=",
        5,
        100,
        value_bits_for(header, key, NINETY_PLUS, "outstanding_balance"),
    )
    resp = request_claim(investor, DEMO_POOL, cutoff, statement)
    body = expect(resp, 422, "false claim")
    echo(
        f"investor: claim   REFUSED {describe(statement)}  -> HTTP 422 {body['message']!r} "
        "(nothing else revealed)"
    )
    return str(body["message"])


def _servicer_report(
    investor: Client, cutoff: str, key: Ed25519PublicKey, policy: WitnessPolicy, echo: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """Ask for the servicer-report figures, verify each released one's bundle, print the table."""
    nonce = secrets.token_bytes(32)
    body = {"figures": list(SERVICER_REPORT_FIGURES), "nonce": nonce.hex()}
    doc = expect(investor.post(f"/pools/{DEMO_POOL}/snapshots/{cutoff}/figures", json=body), 200, "figures")
    figures = {f["figure_id"]: f for f in doc["figures"]}
    for fid, f in figures.items():
        if "value" not in f:
            continue
        asked = ExpectedClaim(nonce=nonce, pool_id=DEMO_POOL, cutoff_date=cutoff, statement=Disclosure(fid))
        try:
            verify_claim_answer(f["bundle"], key, expected=asked, witnesses=policy)
        except (VerificationError, EncodingError) as exc:
            raise DemoFailed(f"servicer report, figure {fid}: {exc}") from None
        if int(f["bundle"]["proof"]["value"]) != f["value"]:
            raise DemoFailed(f"servicer report, figure {fid}: the value differs from its proof")
    released = sum(1 for f in figures.values() if "value" in f)
    echo(
        f"investor: servicer report, cut-off {cutoff}: {released} of {len(figures)} figures proven exact "
        f"(each bundle verified, cosigned by the auditor); figures over fewer than {doc['min_cohort']} "
        "loans are suppressed by disclosure control"
    )
    for line in servicer_report_lines(figures, doc["currency"]):
        echo(line)
    return figures


def _figure_text(f: dict[str, Any], currency: str) -> str:
    if "value" not in f:
        return "suppressed"
    if f["unit"] == "loans":
        return f"{f['value']:,} loans"
    return f"{money(f['value'], currency)} ({f['value']:,} {f['unit']})"


def servicer_report_lines(figures: dict[str, dict[str, Any]], currency: str) -> list[str]:
    """The servicer-report table: one line per figure (id, value with unit, definition name), then
    the ratios computed exactly from two proven figures (``policies.figures.RATIOS``)."""
    lines = [f"  {'figure':<40} {'value':<36} definition"]
    for fid, f in figures.items():
        lines.append(f"  {fid:<40} {_figure_text(f, currency):<36} {f['definition']}")
    for r in RATIOS:
        num, den = figures.get(r.numerator, {}), figures.get(r.denominator, {})
        if "value" not in num or "value" not in den:
            text = "n/a: needs a suppressed figure"
        else:
            text = _ratio_text(r.scale * num["value"], den["value"], r.annualised)
        lines.append(f"  {r.id:<40} {text:<36} {r.name} = {r.numerator} / {r.denominator}")
    return lines


def _ratio_text(num: int, den: int, annualised: bool) -> str:
    """An exact fraction (or ``1 - (1 - x)^12`` of it) in basis points, rounded half away from zero."""
    from fractions import Fraction

    if den == 0:
        return "0.00 % (0 bps; nothing in the denominator)"
    x = Fraction(num, den)
    if annualised:
        x = 1 - (1 - x) ** 12
    scaled = x * 10_000
    rounded = int(scaled + Fraction(1, 2)) if scaled >= 0 else -int(-scaled + Fraction(1, 2))
    return bps(rounded) + (" a year" if annualised else "")


def _write_outputs(
    out: Path | None,
    key: Ed25519PublicKey,
    witness: Ed25519PublicKey,
    claims: list[dict[str, Any]],
    snapshot_text: str,
    inclusion: dict[str, Any],
    figures: dict[str, dict[str, Any]] | None = None,
) -> list[str]:
    if out is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    files = []
    (out / "gateway.pub").write_bytes(public_key_to_pem(key))
    files.append("gateway.pub")
    (out / "witness.pub").write_bytes(public_key_to_pem(witness))
    files.append("witness.pub")
    for i, claim in enumerate(claims, 1):
        name = f"claim-{i}.json"
        (out / name).write_bytes(bundle.dump_bundle(claim["bundle"]))
        files.append(name)
    (out / "snapshot.json").write_text(snapshot_text, encoding="utf-8")
    files.append("snapshot.json")
    (out / "inclusion.json").write_bytes(bundle.dump_bundle(inclusion))
    files.append("inclusion.json")
    for fid, f in (figures or {}).items():
        if "bundle" in f:  # the released servicer-report figures, each with its proof
            name = f"figure-{fid}.json"
            (out / name).write_bytes(bundle.dump_bundle(f["bundle"]))
            files.append(name)
    return files


def check_outputs(out: Path) -> None:
    """Re-verify the written files with only ``proofs`` (what ``poolproof-audit`` does)."""
    key = load_public_key(out / "gateway.pub")
    policy = WitnessPolicy((load_public_key(out / "witness.pub"),))
    for path in sorted([*out.glob("claim-*.json"), *out.glob("figure-*.json")]):
        verify_claim_answer(bundle.load_bundle(path), key, expected=ExpectedClaim(), witnesses=policy)
    with open(out / "snapshot.json", encoding="utf-8") as f:
        verify_snapshot(f, key)
    verify_inclusion_bundle(bundle.load_bundle(out / "inclusion.json"), key)


def deal_toml(deal: Any) -> str:
    """The deal file (TOML) of a validated deal: :meth:`proofs.deal.Deal.to_dict` written out, so that
    :func:`proofs.deal.parse_deal_text` gives the same deal (and the same deal hash) back."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"no TOML form for {type(v).__name__}")

    def pairs(d: dict[str, Any]) -> list[str]:
        return [f"{k} = {value(v)}" for k, v in d.items() if v is not None]

    doc = deal.to_dict()
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in doc.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    top = {k: v for k, v in doc.items() if k not in tables and k not in arrays}
    lines = pairs(top)
    for name, table in tables.items():
        lines += ["", f"[{name}]", *pairs(table)]
    for name, entries in arrays.items():
        for entry in entries:
            lines += ["", f"[[{name}]]", *pairs(entry)]
    return "\n".join(lines) + "\n"


def write_deal_outputs(out: Path, demo: Any) -> list[str]:
    """The revolving deal's files for ``poolproof-audit report``: ``out/deal/`` holds what a trustee
    gets (the deal file, the gateway key and every period's whole payment report, and in ``series/`` the
    pool's snapshot and link bundles, :func:`write_deal_series`), ``out/deal-investor/`` what an investor
    gets (the same with each report's trigger-status view as the packaged policy decides it for an
    investor, without the series). Returns the paths written, relative to ``out``."""
    from policies import Party, load_policy

    from ..alerts.deal_records import trigger_view
    from .disclosure import note_balances_decision

    pool_id = demo.deal.pool_id
    investor = Party("demo-investor", "investor", frozenset({pool_id}))
    notes = note_balances_decision(load_policy(), investor, pool_id).allowed
    written = []
    for folder, view in (("deal", False), ("deal-investor", True)):
        d = out / folder
        d.mkdir(parents=True, exist_ok=True)
        (d / "deal.toml").write_text(deal_toml(demo.deal), encoding="utf-8")
        (d / "gateway.pub").write_bytes(public_key_to_pem(demo.key.public_key()))
        written += [f"{folder}/deal.toml", f"{folder}/gateway.pub"]
        for report in demo.reports:
            name = f"payment-report-{report['period']}.json"
            doc = trigger_view(report, note_balances=notes) if view else report
            (d / name).write_bytes(bundle.dump_bundle(doc))
            written.append(f"{folder}/{name}")
    return written + write_deal_series(out / "deal" / "series", demo)


def write_deal_series(folder: Path, demo: Any) -> list[str]:
    """The revolving pool's linked months for ``poolproof-audit verify-series``: every month's snapshot
    bundle (``snapshot-<k>.json``, month 0 the closing) and the link bundle of every period
    (``link-<k-1>-<k>.json``), and the last period's whole payment report, whose purchase evidence
    ``verify-series`` checks against the links. Returns the paths written, relative to the deal's
    output folder."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, text in enumerate(demo.snapshots):
        (folder / f"snapshot-{k}.json").write_text(text, encoding="utf-8")
        written.append(f"deal/series/snapshot-{k}.json")
    for linked in demo.links:
        name = f"link-{linked.period - 1}-{linked.period}.json"
        (folder / name).write_bytes(bundle.dump_bundle(linked.link))
        written.append(f"deal/series/{name}")
    if demo.reports:  # the last report carries every period's purchase evidence, checked against the links
        last = demo.reports[-1]
        name = f"payment-report-{last['period']}.json"
        (folder / name).write_bytes(bundle.dump_bundle(last))
        written.append(f"deal/series/{name}")
    return written


def render_deal_reports(out: Path, demo: Any) -> dict[str, int]:
    """Write the revolving deal's folders (:func:`write_deal_outputs`) and render each one's report with
    ``poolproof-audit report``'s code (``report.html`` and ``report.pdf`` in the folder); returns each
    folder's exit code (0: every payment report verified)."""
    from proofs.report import render_report
    from proofs.witness import WitnessPolicy

    write_deal_outputs(out, demo)
    codes = {}
    for folder in ("deal", "deal-investor"):
        d = out / folder
        result = render_report(
            d,
            load_public_key(d / "gateway.pub"),
            out=d / "report.html",
            pdf=d / "report.pdf",
            witnesses=WitnessPolicy.unwitnessed(),
        )
        codes[folder] = int(result.exit_code)
    return codes
