"""``poolproof keygen``, ``submit``, ``get``, ``post``: a party's signing key and its calls to a gateway."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import click

from proofs.exit_codes import ExitCode

from ._common import (
    CliFailure,
    answer_json,
    emit,
    gateway_request,
    http_failure,
    json_body,
    json_option,
    url_option,
    written_whole,
)


@click.command()
@click.argument("private_key_path", type=click.Path(dir_okay=False))
@json_option
def keygen(private_key_path: str, as_json: bool) -> None:
    """Generate an Ed25519 tape-signing key (PEM, mode 0600; never overwritten) and print its public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..keys.tape_signatures import public_key_bytes, write_private_key

    key = Ed25519PrivateKey.generate()
    try:
        write_private_key(key, private_key_path)
    except FileExistsError:
        raise CliFailure(
            ExitCode.UNUSABLE, f"{private_key_path} exists; a signing key is never overwritten"
        ) from None
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{private_key_path}: {exc.strerror or exc}") from None
    public_hex = public_key_bytes(key).hex()
    emit(as_json, {"private_key_file": private_key_path, "public_key": public_hex}, [public_hex])
    if not as_json:
        click.echo(
            f"next: poolproof parties add NAME --role platform --public-key-from {private_key_path} "
            "--pool POOL --preset CN_CONSUMER",
            err=True,
        )


_FORMAT_TYPES = {"jsonl": "application/x-ndjson", "json": "application/json", "csv": "text/csv"}


def _guess_format(path: str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"ndjson": "jsonl", "jsonl": "jsonl", "json": "json", "csv": "csv"}.get(suffix, "jsonl")


def _tape_request(
    api_key: str, pool_id: str, cutoff: str, path: str, private_key_path: str, fmt: str | None
) -> dict[str, str]:
    from ..keys.tape_signatures import load_private_key, sign_tape

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    sig = sign_tape(load_private_key(private_key_path), pool_id, cutoff, digest)
    return {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": _FORMAT_TYPES[fmt or _guess_format(path)],
        "X-Tape-SHA256": digest,
        "X-Tape-Signature": base64.b64encode(sig).decode(),
    }


def _tape_url(url: str, pool_id: str, cutoff: str) -> str:
    return f"{url.rstrip('/')}/platform/pools/{pool_id}/cutoffs/{cutoff}/tapes"


def submit_file(
    url: str,
    api_key: str,
    pool_id: str,
    cutoff: str,
    path: str,
    private_key_path: str,
    *,
    fmt: str | None = None,
    idempotency_key: str | None = None,
    timeout: float = 3600,
) -> Any:
    """Sign and stream a tape file to a gateway; returns the ``requests.Response``."""
    import requests

    headers = _tape_request(api_key, pool_id, cutoff, path, private_key_path, fmt)
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    with open(path, "rb") as f:
        return requests.post(_tape_url(url, pool_id, cutoff), data=f, headers=headers, timeout=timeout)


def _rejection_lines(body: Any, limit: int = 20) -> list[str]:
    """The row / field / rule lines of a rejected tape's error report (``errors.tape``), for people."""
    errors = body.get("errors") if isinstance(body, dict) else None
    listed = errors.get("tape") if isinstance(errors, dict) else None
    if not isinstance(listed, list):
        return []
    lines = [
        f"  row {e.get('row')}, field {e.get('field')}, rule {e.get('rule')}: {e.get('message')}"
        for e in listed[:limit]
        if isinstance(e, dict)
    ]
    summary = errors.get("summary") if isinstance(errors, dict) else None
    total = summary.get("error_count") if isinstance(summary, dict) else None
    if isinstance(total, int) and total > len(lines):
        lines.append(f"  ... {total - len(lines):,} more (the whole report: --json)")
    return lines


_progress_opt = click.option(
    "--progress/--no-progress", "show_progress", default=None, help="progress bar (default: on a terminal)"
)


@click.command()
@click.argument("tape", type=click.Path(exists=True, dir_okay=False))
@url_option
@click.option(
    "--api-key",
    envvar="POOLPROOF_API_KEY",
    required=True,
    help="the platform's API key, printed once by 'poolproof parties add' (env POOLPROOF_API_KEY)",
)
@click.option("--pool", "pool_id", required=True)
@click.option("--cutoff", required=True, help="cut-off date YYYY-MM-DD")
@click.option(
    "--signing-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="the platform's Ed25519 PEM (from 'poolproof keygen')",
)
@click.option("--format", "fmt", type=click.Choice(sorted(_FORMAT_TYPES)), default=None)
@click.option("--idempotency-key", default=None)
@_progress_opt
@json_option
def submit(
    tape: str,
    url: str,
    api_key: str,
    pool_id: str,
    cutoff: str,
    signing_key: str,
    fmt: str | None,
    idempotency_key: str | None,
    show_progress: bool | None,
    as_json: bool,
) -> None:
    """Sign TAPE (Ed25519 over its SHA-256) and submit it to a running gateway."""
    from .progress import ProgressReader, byte_progress, progress_enabled

    try:
        headers = _tape_request(api_key, pool_id, cutoff, tape, signing_key, fmt)
    except ValueError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"--signing-key {signing_key}: {exc}") from None
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{exc.filename}: {exc.strerror or exc}") from None
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    size = Path(tape).stat().st_size
    with byte_progress(progress_enabled(show_progress)) as progress, open(tape, "rb") as f:
        task = progress.add_task(f"submit {Path(tape).name}", total=size)
        resp = gateway_request(
            "POST",
            _tape_url(url, pool_id, cutoff),
            data=ProgressReader(f, size, progress, task),
            headers=headers,
            timeout=3600,
        )
    if resp.status_code >= 400:
        failure = http_failure(resp, f"submit {tape}")
        if as_json:
            with contextlib.suppress(ValueError):
                click.echo(json.dumps(answer_json(resp), indent=2, ensure_ascii=False))
        else:
            try:
                details = _rejection_lines(answer_json(resp))
            except ValueError:
                details = []
            if details:
                failure = CliFailure(
                    ExitCode(failure.exit_code), "\n".join([failure.format_message(), *details])
                )
        raise failure
    result = json_body(resp, f"submit {tape}")
    emit(
        as_json,
        result,
        [
            f"tape {result.get('tape_id')} accepted for pool {result.get('pool_id')} cut-off "
            f"{result.get('cutoff_date')}: {result.get('rows', 0):,} loans, "
            f"{result.get('flagged_rows', 0):,} flagged, "
            f"signature verified: {result.get('signature_verified')}",
            f"content SHA-256 {result.get('content_sha256')}",
            f"next: poolproof seal --pool {pool_id} --cutoff {cutoff}",
        ],
    )


_party_api_key_opt = click.option(
    "--api-key",
    envvar="POOLPROOF_API_KEY",
    required=True,
    help="the calling party's API key, printed once by 'poolproof parties add' (env POOLPROOF_API_KEY)",
)


def _api_path(path: str) -> str:
    if not path.startswith("/"):
        raise CliFailure(ExitCode.UNUSABLE, f"PATH {path!r}: expected an API path starting with '/'")
    return path


@click.command("get")
@click.argument("path")
@url_option
@_party_api_key_opt
@click.option("--pick", default=None, help="print only this member, e.g. loans.0.platform_loan_id")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="write the answer to this file")
def get_cmd(path: str, url: str, api_key: str, pick: str | None, out: str | None) -> None:
    """Read PATH of the gateway's API (e.g. /auditor/pools/CN1/snapshots/2026-10-31/bundle) as a party."""
    _api_path(path)
    resp = gateway_request(
        "GET", url.rstrip("/") + path, headers={"Authorization": f"Bearer {api_key}"}, timeout=600
    )
    if resp.status_code >= 400:
        raise http_failure(resp, f"GET {path.split('?')[0]}")
    if pick is None:
        text: str = resp.text
    else:
        value = json_body(resp, f"GET {path}")
        for part in pick.split("."):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                raise CliFailure(ExitCode.UNUSABLE, f"--pick {pick}: the answer has no {part!r} there")
        text = value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False)
    if out:
        with written_whole(out) as partial:
            partial.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(text.encode()):,} bytes to {out}")
    else:
        click.echo(text)


@click.command("post")
@click.argument("path")
@click.argument("body_file", type=click.Path(dir_okay=False))
@url_option
@_party_api_key_opt
def post_cmd(path: str, body_file: str, url: str, api_key: str) -> None:
    """Send BODY_FILE, a JSON document, to PATH of the gateway's API as a party, and print the answer.

    For example a witness's cosignature (from 'poolproof-audit verify-snapshot --cosign'):
    poolproof post /auditor/pools/CN1/snapshots/2026-10-31/cosignatures snapshot.json.cosignature.json
    """
    _api_path(path)
    try:
        document = json.loads(Path(body_file).read_bytes())
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{body_file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{body_file}: not a JSON document ({exc})") from None
    resp = gateway_request(
        "POST",
        url.rstrip("/") + path,
        json=document,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=600,
    )
    if resp.status_code >= 400:
        raise http_failure(resp, f"POST {path.split('?')[0]}")
    click.echo(json.dumps(json_body(resp, f"POST {path}"), indent=1, ensure_ascii=False))


