"""``poolproof-audit``: offline proof-checking for auditors, investors and borrowers.

Imports nothing but ``proofs`` (and the standard library): an auditor installs the package and
checks bundles with the gateway public key they obtained out of band. The trusted key is always
given on the command line (``--key``), never taken from a bundle.

Exit codes: 0 verified; 1 verification failed (the failing check is named); 2 unusable input
(unreadable file, malformed bundle, bad key). ``--json`` prints one machine-readable object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proofs import bundle
from proofs.claim_bundle import verify_claim_bundle
from proofs.errors import EncodingError, VerificationError
from proofs.executors import open_executor
from proofs.inclusion import verify_inclusion_bundle
from proofs.lanes import BUCKETS
from proofs.signing import load_public_key
from proofs.snapshot import verify_header, verify_snapshot

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNUSABLE = 2


class _Unusable(Exception):
    """Input that cannot be checked at all (exit code 2)."""


def _load_key(path: str) -> Ed25519PublicKey:
    try:
        return load_public_key(path)
    except (OSError, EncodingError) as exc:
        raise _Unusable(f"gateway key {path}: {exc}") from None


def _load_doc(path: str) -> dict[str, Any]:
    try:
        return bundle.load_bundle(Path(path))
    except OSError as exc:
        raise _Unusable(f"{path}: {exc.strerror or exc}") from None


def _progress_bar(stream: TextIO) -> Callable[[int, int], None]:
    start = time.monotonic()
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and done < total:
            return
        last[0] = now
        frac = done / total if total else 1.0
        rate = done / max(now - start, 1e-9)
        eta = (total - done) / rate if rate else 0.0
        bar = "#" * int(frac * 30)
        stream.write(f"\r[{bar:<30}] {done}/{total} leaves  {rate:,.0f}/s  ETA {eta:,.0f}s")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


def _cmd_verify_claim(args: argparse.Namespace) -> dict[str, Any]:
    key = _load_key(args.key)
    doc = _load_doc(args.bundle)
    statement = verify_claim_bundle(doc, key)
    header = doc["header"]
    return {
        "verified": "claim",
        "statement": statement.to_dict(),
        "pool_id": header["pool_id"],
        "cutoff_date": header["cutoff_date"],
        "snapshot_id": header["snapshot_id"],
        "nonce": doc["nonce"],
    }


def _cmd_verify_inclusion(args: argparse.Namespace) -> dict[str, Any]:
    key = _load_key(args.key)
    result = verify_inclusion_bundle(_load_doc(args.bundle), key)
    return {
        "verified": "inclusion",
        "pool_id": result.header.context.pool_id,
        "cutoff_date": result.header.context.cutoff_date,
        "snapshot_id": result.header.context.snapshot_id,
        "leaf_index": result.leaf_index,
        "exposure_id": result.exposure_id,
        "outstanding_principal": result.principal,
        "dpd_bucket": BUCKETS[result.bucket],
    }


def _cmd_verify_snapshot(args: argparse.Namespace) -> dict[str, Any]:
    key = _load_key(args.key)
    progress = None if args.json or args.quiet else _progress_bar(sys.stderr)
    start = time.monotonic()
    try:
        with (
            open(args.bundle, encoding="utf-8") as f,
            open_executor(args.workers, args.scheduler) as executor,
        ):
            header = verify_snapshot(f, key, progress=progress, executor=executor)
    except OSError as exc:
        raise _Unusable(f"{args.bundle}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # the file is read as text, line by line, while it is verified
        raise _Unusable(f"{args.bundle}: not UTF-8 text (byte offset {exc.start} of a line)") from None
    except RuntimeError as exc:
        raise _Unusable(str(exc)) from None
    return {
        "verified": "snapshot",
        "pool_id": header.context.pool_id,
        "cutoff_date": header.context.cutoff_date,
        "snapshot_id": header.context.snapshot_id,
        "leaf_count": header.leaf_count,
        "merkle_root": header.merkle_root.hex(),
        "seconds": round(time.monotonic() - start, 3),
        "checks": [
            "header signature",
            "Merkle root and leaf count recomputed from every leaf",
            "every loan counted exactly once",
            (
                "aggregates equal the sums of leaf commitments"
                if header.packed_sums is None
                else "packed sums equal the sums of leaf commitments; the per-lane aggregates unpack them"
            ),
            "every per-loan lane proof (range proofs or lane circuit, batch verified)",
        ],
    }


def _cmd_verify_log(args: argparse.Namespace) -> dict[str, Any]:
    """Check the signed headers of one pool, oldest first: signatures, hash chain, sequence, cut-offs."""
    key = _load_key(args.key)
    previous = None
    for i, path in enumerate(args.headers):
        doc = _load_doc(path)
        # Accept a bare header, or any bundle that embeds one (claim, inclusion).
        header = verify_header(doc.get("header", doc), key)
        if previous is not None:
            if header.context.pool_id != previous.context.pool_id:
                raise VerificationError("log.pool", f"entry {i}: pool differs from entry {i - 1}")
            if header.doc["previous_header_hash"] != previous.hash.hex():
                raise VerificationError(
                    "log.chain", f"entry {i}: previous_header_hash does not match entry {i - 1}"
                )
            if header.doc["sequence"] != previous.doc["sequence"] + 1:
                raise VerificationError("log.sequence", f"entry {i}: sequence is not consecutive")
            if header.context.cutoff_date <= previous.context.cutoff_date:
                raise VerificationError("log.cutoff", f"entry {i}: cut-off dates must strictly increase")
        elif header.doc["sequence"] == 1 and header.doc["previous_header_hash"] is not None:
            raise VerificationError("log.chain", "entry 0: the first snapshot of a pool has no predecessor")
        previous = header
    assert previous is not None  # argparse requires at least one header
    return {
        "verified": "log",
        "pool_id": previous.context.pool_id,
        "entries": len(args.headers),
        "head": previous.hash.hex(),
    }


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poolproof-audit",
        description="Verify PoolProof bundles offline with the gateway's public key.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, help_text: str, fn: Callable[[argparse.Namespace], dict[str, Any]]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--key", required=True, help="the gateway public key you trust (PEM or 64 hex chars)")
        p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        p.set_defaults(fn=fn)
        return p

    add("verify-claim", "Verify an investor claim bundle.", _cmd_verify_claim).add_argument("bundle")
    add("verify-inclusion", "Verify a borrower's inclusion bundle.", _cmd_verify_inclusion).add_argument(
        "bundle"
    )
    snap = add(
        "verify-snapshot", "Verify a whole snapshot bundle (every leaf and proof).", _cmd_verify_snapshot
    )
    snap.add_argument("bundle")
    snap.add_argument("--quiet", action="store_true", help="no progress bar")
    snap.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    snap.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address, e.g. tls://host:8786 (or $POOLPROOF_SCHEDULER)",
    )
    log = add("verify-log", "Verify the hash-chained headers of one pool, oldest first.", _cmd_verify_log)
    log.add_argument("headers", nargs="+")
    return parser


def _print_text(result: dict[str, Any], out: TextIO) -> None:
    kind = result.pop("verified")
    out.write(f"OK: {kind} verified\n")
    for k, v in result.items():
        if isinstance(v, list):
            out.write(f"  {k}:\n")
            for item in v:
                out.write(f"    - {item}\n")
        else:
            out.write(f"  {k}: {json.dumps(v) if isinstance(v, dict) else v}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``poolproof-audit``; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.fn(args)
    except VerificationError as exc:
        return _fail(args, EXIT_FAILED, "FAILED", exc.check, str(exc))
    except (_Unusable, EncodingError) as exc:
        return _fail(args, EXIT_UNUSABLE, "UNUSABLE INPUT", "input", str(exc))
    if args.json:
        print(json.dumps({"ok": True, **result}, sort_keys=True))
    else:
        _print_text(result, sys.stdout)
    return EXIT_OK


def _fail(args: argparse.Namespace, code: int, label: str, check: str, message: str) -> int:
    if args.json:
        print(json.dumps({"ok": False, "check": check, "error": message}, sort_keys=True))
    else:
        print(f"{label}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
