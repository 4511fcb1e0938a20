"""``poolproof-audit``: offline proof-checking for auditors, investors, borrowers and witnesses.

Imports nothing but ``proofs`` (and the standard library): an auditor installs the package and
checks bundles with the gateway public key they obtained out of band. The trusted key is always
given on the command line (``--key``), never taken from a bundle; so are the witness keys an
investor requires (``--require-witness``).

``verify-snapshot --cosign KEYFILE`` makes the auditor a witness: only after every check passed,
and only if the header does not fork the chain this witness cosigned before (its state file, see
:mod:`proofs.witness`), it writes a cosignature over the header's hash.

Exit codes are :mod:`proofs.exit_codes`: 0 verified; 1 a verification failed (the failing check
is named); 2 unusable input (unreadable file, malformed bundle, bad key or arguments). ``--json``
prints one machine-readable object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proofs import bundle, distribution_cli, eligibility_cli, link_cli, vintage_cli
from proofs.claim_bundle import ExpectedClaim, verify_claim_answer
from proofs.claims import Disclosure, statement_from_dict
from proofs.errors import EncodingError, VerificationError
from proofs.executors import open_executor
from proofs.exit_codes import ExitCode
from proofs.inclusion import verify_inclusion_bundle
from proofs.lanes import BUCKETS, DEFAULT_ACCEPTED_LANE_SETS, LANE_SETS, POOL_V2, get_lane_set
from proofs.progress import counted
from proofs.report import command as report_command
from proofs.signing import (
    generate_private_key,
    key_id,
    load_public_key,
    private_key_from_pem,
    private_key_to_pem,
    public_key_to_pem,
)
from proofs.snapshot import Header, verify_header, verify_snapshot
from proofs.witness import WitnessPolicy, admit_header, cosign_header, new_witness_state

EXIT_OK = ExitCode.OK
EXIT_FAILED = ExitCode.FAILED
EXIT_UNUSABLE = ExitCode.UNUSABLE
#: Largest bundle file read whole (claim, inclusion, header); a snapshot bundle is streamed.
MAX_BUNDLE_BYTES = 64 << 20


class _Unusable(Exception):
    """Input that cannot be checked at all (exit code 2)."""


def _load_key(path: str, what: str = "gateway key") -> Ed25519PublicKey:
    try:
        return load_public_key(path)
    except (OSError, EncodingError, ValueError) as exc:
        raise _Unusable(f"{what} {path}: {exc}") from None


def _load_private_key(path: str) -> Ed25519PrivateKey:
    try:
        return private_key_from_pem(Path(path).read_bytes())
    except (OSError, EncodingError, ValueError, TypeError) as exc:
        raise _Unusable(f"witness key {path}: {exc}") from None


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_doc(path: str) -> dict[str, Any]:
    try:
        if os.path.getsize(path) > MAX_BUNDLE_BYTES:
            raise _Unusable(
                f"{path}: larger than {MAX_BUNDLE_BYTES >> 20} MiB; not a claim, inclusion or header"
            )
        return bundle.load_bundle(Path(path))
    except OSError as exc:
        raise _Unusable(f"{path}: {exc.strerror or exc}") from None
    except RecursionError:
        raise _Unusable(f"{path}: JSON nested too deeply") from None


def _witness_policy(args: argparse.Namespace) -> WitnessPolicy | None:
    """The witness policy the command line states (``None``: none stated and none required)."""
    keys = tuple(_load_key(path, "witness key") for path in args.require_witness or ())
    if args.no_witness:
        if keys or args.witnesses_needed is not None:
            raise _Unusable("--no-witness cannot be combined with --require-witness or --witnesses-needed")
        return WitnessPolicy.unwitnessed()
    if not keys:
        if args.witnesses_needed is not None:
            raise _Unusable("--witnesses-needed needs the witnesses named with --require-witness KEY")
        return None
    try:
        return WitnessPolicy(keys, args.witnesses_needed)
    except ValueError as exc:
        raise _Unusable(str(exc)) from None


def _named_pool_v2(name: str) -> bool:
    try:
        return get_lane_set(name).family == POOL_V2
    except KeyError:
        return False


def _lane_sets(args: argparse.Namespace) -> frozenset[str]:
    names = frozenset(args.accept_lane_set or ())
    unknown = sorted(n for n in names - set(LANE_SETS) if n != POOL_V2 and not _named_pool_v2(n))
    if unknown:
        raise _Unusable(
            f"--accept-lane-set: unknown lane set {', '.join(unknown)} (known: {', '.join(LANE_SETS)})"
        )
    return DEFAULT_ACCEPTED_LANE_SETS | names


def _expected(args: argparse.Namespace) -> ExpectedClaim:
    try:
        nonce = bytes.fromhex(args.expect_nonce) if args.expect_nonce else None
        header_hash = bytes.fromhex(args.expect_header_hash) if args.expect_header_hash else None
    except ValueError:
        raise _Unusable("--expect-nonce / --expect-header-hash: expected hex") from None
    statement = None
    if args.expect_statement:
        try:
            statement = statement_from_dict(json.loads(args.expect_statement))
        except (ValueError, TypeError, KeyError) as exc:
            raise _Unusable(f"--expect-statement: not a claim statement ({exc})") from None
    return ExpectedClaim(
        nonce=nonce,
        pool_id=args.expect_pool,
        cutoff_date=args.expect_cutoff,
        snapshot_id=args.expect_snapshot,
        header_hash=header_hash,
        statement=statement,
    )


def _cmd_verify_claim(args: argparse.Namespace) -> dict[str, Any]:
    key = _load_key(args.key)
    policy = _witness_policy(args)
    expected = _expected(args)
    lane_sets = _lane_sets(args)
    doc = _load_doc(args.bundle)
    verified = verify_claim_answer(doc, key, expected=expected, witnesses=policy, lane_sets=lane_sets)
    ctx = verified.header.context
    lanes = verified.header.lanes
    currency = verified.header.doc["currency"]
    units = {
        m: "loans" if lanes.metric_unit(m) == "loans" else f"{currency} minor units"
        for m in verified.statement.metrics
    }
    disclosed = int(doc["proof"]["value"]) if isinstance(verified.statement, Disclosure) else None
    return {
        "verified": "claim",
        "statement": verified.statement.to_dict(),
        "units": units,
        **(
            {
                "disclosed": {
                    "metric": verified.statement.metrics[0],
                    "value": disclosed,
                    "unit": units[verified.statement.metrics[0]],
                }
            }
            if disclosed is not None
            else {}
        ),
        "pool_id": ctx.pool_id,
        "cutoff_date": ctx.cutoff_date,
        "snapshot_id": ctx.snapshot_id,
        "header_hash": verified.header.hash.hex(),
        "nonce": doc["nonce"],
        "witnesses": list(verified.witnesses) if verified.witnesses else "none required (--no-witness)",
        "checks": [
            "header signature by the gateway key you trust",
            *(["the lane aggregates unpack the header's packed sums"] if verified.unpacking_checked else []),
            "the claim proof, bound to this header and nonce",
            "the answer matches what you asked (" + ", ".join(_asked(expected)) + ")"
            if _asked(expected)
            else "nothing asked was pinned (use --expect-*)",
            (
                f"cosigned by {len(verified.witnesses)} witness(es) you require"
                if verified.witnesses
                else "NOT cosigned by any witness: the aggregates rest on the gateway's word"
            ),
        ],
    }


def _asked(expected: ExpectedClaim) -> list[str]:
    return [
        name
        for name in ("nonce", "pool_id", "cutoff_date", "snapshot_id", "header_hash", "statement")
        if getattr(expected, name) is not None
    ]


def _cmd_verify_inclusion(args: argparse.Namespace) -> dict[str, Any]:
    key = _load_key(args.key)
    policy = _witness_policy(args)
    result = verify_inclusion_bundle(
        _load_doc(args.bundle), key, witnesses=policy, lane_sets=_lane_sets(args)
    )
    return {
        "verified": "inclusion",
        "pool_id": result.header.context.pool_id,
        "cutoff_date": result.header.context.cutoff_date,
        "snapshot_id": result.header.context.snapshot_id,
        "leaf_index": result.leaf_index,
        "exposure_id": result.exposure_id,
        "outstanding_principal": result.principal,
        "dpd_bucket": BUCKETS[result.bucket],
        "witnesses": list(result.witnesses),
    }


def _cmd_verify_snapshot(args: argparse.Namespace) -> dict[str, Any]:
    key = _load_key(args.key)
    lane_sets = _lane_sets(args)
    witness = _load_private_key(args.cosign) if args.cosign else None
    if args.cosign is None and (args.witness_state or args.cosignature_out):
        raise _Unusable("--witness-state and --cosignature-out go with --cosign KEYFILE")
    start = time.monotonic()
    try:
        with (
            open(args.bundle, encoding="utf-8") as f,
            open_executor(args.workers, args.scheduler) as executor,
            counted("verifying", "leaves", enabled=not (args.json or args.quiet)) as progress,
        ):
            header = verify_snapshot(f, key, lane_sets=lane_sets, progress=progress, executor=executor)
    except OSError as exc:
        raise _Unusable(f"{args.bundle}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # the file is read as text, line by line, while it is verified
        raise _Unusable(f"{args.bundle}: not UTF-8 text (byte offset {exc.start} of a line)") from None
    except RuntimeError as exc:
        raise _Unusable(str(exc)) from None
    except RecursionError:
        raise _Unusable(f"{args.bundle}: JSON nested too deeply") from None
    cosigned = _cosign(args, header, witness) if witness is not None else {}
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
            "every loan counted exactly once; every exposure id in exactly one leaf",
            (
                "aggregates equal the sums of leaf commitments"
                if header.packed_sums is None
                else "packed sums equal the sums of leaf commitments; the per-lane aggregates unpack them"
            ),
            (
                "every loan in exactly one state with its whole balance there and none if terminated, "
                "its balance within the pool's cap and every period flow in range "
                "(pool circuit, batch verified)"
                if header.lanes.circuit is not None
                else "every per-loan lane proof (range proofs or lane circuit, batch verified)"
            ),
            *(
                [
                    f"stratification ({', '.join(header.strata['dimensions'])}): every loan in exactly one "
                    f"cell of each dimension; {header.strata['rows']} cells, each the sum of its loans, "
                    "each dimension adding up to the pool"
                ]
                if header.strata is not None
                else []
            ),
        ],
        **cosigned,
    }


def _cosign(args: argparse.Namespace, header: Header, witness: Ed25519PrivateKey) -> dict[str, Any]:
    """After every check passed: refuse a fork (witness state), then write the cosignature."""
    state_path = Path(args.witness_state or f"{args.cosign}.state.json")
    state = _load_state(state_path) if state_path.exists() else new_witness_state()
    state = admit_header(state, header)  # raises witness.fork / witness.chain
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cosignature = cosign_header(witness, header, now)
    out = Path(args.cosignature_out or f"{args.bundle}.cosignature.json")
    try:
        _write_atomically(state_path, bundle.dump_bundle(state), 0o600)
        _write_atomically(out, bundle.dump_bundle(cosignature))
    except OSError as exc:
        raise _Unusable(f"cannot write the cosignature or witness state: {exc.strerror or exc}") from None
    return {
        "cosigned_by": key_id(witness.public_key()),
        "header_hash": header.hash.hex(),
        "cosignature": str(out),
        "witness_state": str(state_path),
    }


def _load_state(path: Path) -> dict[str, Any]:
    try:
        return bundle.load_bundle(path)
    except OSError as exc:
        raise _Unusable(f"witness state {path}: {exc.strerror or exc}") from None
    except EncodingError as exc:
        raise _Unusable(f"witness state {path}: {exc}") from None


def _cmd_new_witness_key(args: argparse.Namespace) -> dict[str, Any]:
    """Write a new witness signing key (PEM, mode 0600) and its public key beside it (``.pub``)."""
    path = Path(args.keyfile)
    if path.exists():
        raise _Unusable(f"{path} exists; refusing to overwrite a witness key")
    private = generate_private_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_key_to_pem(private))
        pub = path.with_name(path.name + ".pub")
        pub.write_bytes(public_key_to_pem(private.public_key()))
    except OSError as exc:
        raise _Unusable(f"{path}: {exc.strerror or exc}") from None
    return {"written": "witness key", "key_id": key_id(private.public_key()), "public_key": str(pub)}


def _cmd_report(args: argparse.Namespace) -> dict[str, Any]:
    """Verify a folder of bundles (or fetch them) and render the investor report (:mod:`proofs.report`)."""
    return report_command.run(args, _load_key(args.key), _witness_policy(args), _lane_sets(args))


def _cmd_verify_log(args: argparse.Namespace) -> dict[str, Any]:
    """Check the signed headers of one pool, oldest first: signatures, hash chain, sequence, cut-offs."""
    key = _load_key(args.key)
    lane_sets = _lane_sets(args)
    previous = None
    for i, path in enumerate(args.headers):
        doc = _load_doc(path)
        # Accept a bare header, or any bundle that embeds one (claim, inclusion).
        header = verify_header(doc.get("header", doc), key, lane_sets=lane_sets)
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("poolproof")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poolproof-audit",
        description="Verify PoolProof bundles offline with the gateway's public key.",
    )
    parser.add_argument("--version", action="version", version=f"poolproof-audit {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, help_text: str, fn: Callable[[argparse.Namespace], dict[str, Any]]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--key", required=True, help="the gateway public key you trust (PEM or 64 hex chars)")
        p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        p.add_argument(
            "--accept-lane-set",
            action="append",
            metavar="NAME",
            help="also accept this older lane set (default: "
            + ", ".join(sorted(DEFAULT_ACCEPTED_LANE_SETS))
            + ")",
        )
        p.set_defaults(fn=fn)
        return p

    def witness_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--require-witness",
            action="append",
            metavar="KEY",
            help="a witness public key (PEM or hex) whose cosignature you require (repeatable)",
        )
        p.add_argument(
            "--witnesses-needed",
            type=int,
            metavar="K",
            help="how many of the --require-witness keys must have cosigned (default: all)",
        )
        p.add_argument(
            "--no-witness",
            action="store_true",
            help="accept a header no witness cosigned (its aggregates then rest on the gateway's word)",
        )

    claim = add(
        "verify-claim",
        "Verify an investor claim bundle: header, unpacking proof, claim proof, what was asked, witnesses. "
        "An uncosigned header is refused unless --no-witness.",
        _cmd_verify_claim,
    )
    claim.add_argument("bundle")
    witness_options(claim)
    claim.add_argument("--expect-nonce", metavar="HEX", help="the nonce you sent")
    claim.add_argument("--expect-pool", metavar="POOL", help="the pool you asked about")
    claim.add_argument("--expect-cutoff", metavar="YYYY-MM-DD", help="the cut-off you asked about")
    claim.add_argument("--expect-snapshot", metavar="ID", help="the snapshot id you asked about")
    claim.add_argument("--expect-header-hash", metavar="HEX", help="the header hash you asked about")
    claim.add_argument("--expect-statement", metavar="JSON", help="the exact statement you asked to prove")
    inclusion = add("verify-inclusion", "Verify a borrower's inclusion bundle.", _cmd_verify_inclusion)
    inclusion.add_argument("bundle")
    witness_options(inclusion)
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
    snap.add_argument(
        "--cosign",
        metavar="KEYFILE",
        help="after every check passed, cosign the header with this witness key (PEM private key)",
    )
    snap.add_argument(
        "--witness-state",
        metavar="FILE",
        help="the witness's memory of what it cosigned (default: KEYFILE.state.json)",
    )
    snap.add_argument(
        "--cosignature-out",
        metavar="FILE",
        help="where to write the cosignature (default: BUNDLE.cosignature.json)",
    )
    distribution = add(
        "verify-distribution",
        "Recompute a period's payment report from its proven inputs and the deal file; "
        "name the line that differs.",
        distribution_cli.verify_distribution,
    )
    distribution_cli.add_arguments(distribution)
    eligibility = add(
        "verify-eligibility",
        "Verify a period's purchase-eligibility statement: holds or does not hold, each proof checked.",
        eligibility_cli.verify_eligibility_command,
    )
    eligibility_cli.add_arguments(eligibility)
    log = add("verify-log", "Verify the hash-chained headers of one pool, oldest first.", _cmd_verify_log)
    log.add_argument("headers", nargs="+")
    report = add(
        "report",
        "Verify every bundle of a folder (or fetched from a gateway) and render the investor report "
        "as HTML (and PDF); only verified figures are drawn, and any failed bundle exits 1.",
        _cmd_report,
    )
    witness_options(report)
    report_command.add_arguments(report)
    link_cli.register(add, witness_options, _witness_policy)
    vintage = add(
        "verify-vintage",
        "Verify a cohort's vintage curve bundle and print its proven points.",
        vintage_cli.verify_vintage,
    )
    vintage_cli.add_arguments(vintage)
    new_key = sub.add_parser(
        "new-witness-key",
        help="Write a new witness signing key (mode 0600) and KEYFILE.pub.",
        description="Write a new witness signing key (mode 0600) and KEYFILE.pub.",
    )
    new_key.add_argument("keyfile")
    new_key.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    new_key.set_defaults(fn=_cmd_new_witness_key)
    return parser


def _print_text(result: dict[str, Any], out: TextIO) -> None:
    if "written" in result:
        out.write(f"OK: {result.pop('written')} written\n")
    else:
        out.write(f"OK: {result.pop('verified')} verified\n")
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
    except report_command.ReportCommandError as exc:
        return _fail(args, exc.exit_code, "REPORT NOT MADE", "report", str(exc))
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
