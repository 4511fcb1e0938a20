"""``poolproof seal`` and ``poolproof demo``: thin click commands over
:mod:`gateway.snapshots.seal_jobs` and :mod:`gateway.snapshots.demo` (mounted on the ``poolproof``
group by :mod:`gateway.cli`)."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from proofs.exit_codes import ExitCode

from ..config import GatewayConfig
from ._common import (
    CliFailure,
    database_and_key,
    db_option,
    emit,
    json_option,
    master_key_option,
    url_option,
)


@click.command("seal")
@click.option("--pool", "pool_id", default=None, help="pool id")
@click.option("--cutoff", default=None, help="cut-off date YYYY-MM-DD")
@click.option("--resume", is_flag=True, help="resume jobs left running by a crash (all, or --pool/--cutoff)")
@click.option(
    "--chunk-log2", type=int, default=None, help="leaves per chunk = 2^k (default: by pool size, 6 to 10)"
)
@click.option(
    "--ipa-rounds", default=None, help="inner-product rounds, or 'full' (default: the lane set's default, 2)"
)
@click.option("--workers", type=int, default=None, help="worker processes (default: all cores; 0 = inline)")
@click.option(
    "--scheduler",
    default=None,
    help="run the chunks on a Dask cluster: tls://HOST:PORT, or tcp:// on loopback "
    "(env POOLPROOF_SCHEDULER; see docs/scale-out.md)",
)
@db_option
@master_key_option
@click.option("--gateway-key-file", default=None, help="gateway signing key (default: beside the master key)")
@click.option(
    "--progress/--no-progress", "show_progress", default=None, help="progress bar (default: on a terminal)"
)
@json_option
def seal_cmd(
    pool_id: str | None,
    cutoff: str | None,
    resume: bool,
    chunk_log2: int | None,
    ipa_rounds: str | None,
    workers: int | None,
    scheduler: str | None,
    db_path: str | None,
    master_key_file: str | None,
    gateway_key_file: str | None,
    show_progress: bool | None,
    as_json: bool,
) -> None:
    """Seal a pool's cut-off into a signed snapshot on the local database, showing progress."""
    from policies import load_policy
    from proofs.executors import SchedulerError
    from proofs.progress import item_progress

    from ..keys.gateway_key import GatewayKeyError, gateway_key_path, load_gateway_key
    from ..keys.keyring import KeyringError, load_master_key
    from ..snapshots.seal_jobs import (
        SealError,
        SealSettings,
        find_running_job,
        get_job,
        run_seal_job,
        running_jobs,
        shutdown_executor,
        start_seal_job,
    )
    from ..storage.db import connect, migrate
    from ..storage.records import StorageError
    from .progress import progress_enabled

    dbp, kp = database_and_key(db_path, master_key_file)
    try:
        master = load_master_key(key_file=kp)
        gkey = load_gateway_key(
            gateway_key_path({"GATEWAY_KEY_FILE": gateway_key_file, "MASTER_KEY_FILE": str(kp)})
        )
    except (KeyringError, GatewayKeyError) as exc:
        raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
    version = load_policy(GatewayConfig.from_environment().policy_path).version
    try:
        settings = SealSettings.from_config(
            {
                "SEAL_CHUNK_LOG2": chunk_log2,
                "SEAL_IPA_ROUNDS": ipa_rounds,
                "SEAL_WORKERS": workers,
                "SEAL_SCHEDULER": scheduler,
            }
        )
    except SchedulerError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"--scheduler: {exc}") from None
    db = connect(dbp)
    try:
        migrate(db)
        if resume:
            if pool_id and cutoff:
                job = find_running_job(db, pool_id, cutoff)
                jobs = [job] if job else []
            else:
                jobs = running_jobs(db)
            if not jobs:
                emit(as_json, {"sealed": []}, ["no seal job is left running"])
                return
            job_ids = [j.id for j in jobs]
        else:
            if not (pool_id and cutoff):
                raise click.UsageError("give --pool and --cutoff (or --resume)")
            try:
                job, created = start_seal_job(db, master, pool_id, cutoff, settings)
            except (StorageError, SealError, ValueError) as exc:
                raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None
            if not created:
                click.echo(
                    f"a seal job for this cut-off is already running ({job.id}); resuming it", err=True
                )
            job_ids = [job.id]
        failed = False
        results: list[dict[str, Any]] = []
        for job_id in job_ids:
            outcome: dict[str, Any] = {}

            def work(job_id: str = job_id, outcome: dict[str, Any] = outcome) -> None:
                try:
                    outcome["job"] = run_seal_job(
                        dbp,
                        master,
                        gkey,
                        version,
                        job_id,
                        workers=settings.workers,
                        scheduler=settings.scheduler,
                    )
                except BaseException as exc:  # noqa: BLE001 - reported below, in the main thread
                    outcome["error"] = exc

            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            first = get_job(db, job_id)
            with item_progress(progress_enabled(show_progress), "loans") as progress:
                task = progress.add_task(
                    f"seal {first.pool_id} {first.cutoff_date}",
                    total=first.leaf_total,
                    completed=first.leaves_done,
                )
                while thread.is_alive():
                    progress.update(task, completed=get_job(db, job_id).leaves_done)
                    thread.join(0.5)
                final = get_job(db, job_id)
                progress.update(task, completed=final.leaves_done)
            if "error" in outcome:
                raise CliFailure(
                    ExitCode.SERVER,
                    f"seal job {job_id} stopped: {outcome['error']!r} (it stays resumable: --resume)",
                )
            results.append(
                {
                    "job_id": job_id,
                    "pool_id": final.pool_id,
                    "cutoff": final.cutoff_date,
                    "state": final.state,
                    "snapshot_id": final.snapshot_id,
                    "loans": final.leaf_total,
                    "error": final.error,
                }
            )
            if final.state != "sealed":
                failed = True
                click.echo(f"seal job {job_id} {final.state}: {final.error}", err=True)
        emit(
            as_json,
            {"sealed": results},
            [
                f"sealed {r['pool_id']} {r['cutoff']}: snapshot {r['snapshot_id']} ({r['loans']:,} loans)\n"
                f"next: investors ask for claims "
                f"('poolproof claim --pool {r['pool_id']} --cutoff {r['cutoff']} ...'); "
                "auditors fetch the bundle for 'poolproof-audit verify-snapshot'"
                for r in results
                if r["state"] == "sealed"
            ],
        )
        if failed:  # the prover refused a loan or the tape changed: the input, not the tool
            sys.exit(int(ExitCode.UNUSABLE))
    finally:
        db.conn.close()
        shutdown_executor()


@click.command("demo")
@click.option(
    "--out", "out_dir", default=None, type=click.Path(file_okay=False), help="write every bundle here"
)
@click.option("--loans", "n_loans", default=None, type=int, help="loans in the synthetic pool (default 1000)")
@click.option("--workers", type=int, default=None, help="sealing worker processes (default: all cores)")
def demo_cmd(out_dir: str | None, n_loans: int | None, workers: int | None) -> None:
    """Run the whole story against a real local server and print what was proven."""
    from proofs.claims import statement_from_dict

    from ..snapshots.demo import DEFAULT_LOANS, DemoFailed, describe, run_demo
    from ..snapshots.seal_jobs import shutdown_executor

    t0 = time.monotonic()
    out = Path(out_dir) if out_dir else None
    try:
        result = run_demo(n_loans or DEFAULT_LOANS, out, workers=workers, echo=click.echo)
    except DemoFailed as exc:
        click.echo(f"DEMO FAILED: {exc}", err=True)
        sys.exit(1)
    finally:
        shutdown_executor()
    total = time.monotonic() - t0
    click.echo("")
    click.echo(f"Summary ({result.loans} loans, cut-off {result.cutoff}, {total:.0f}s in all)")
    click.echo(
        f"  sealed in {result.seal_seconds:.1f}s; snapshot bundle {result.snapshot_bytes:,} bytes, "
        f"verified in {result.snapshot_verify_seconds:.1f}s"
    )
    for i, c in enumerate(result.claims, 1):
        click.echo(
            f"  claim {i}: {describe(statement_from_dict(c['statement']))} proven; "
            f"bundle {c['bytes']:,} bytes, "
            f"verified in {c['verify_ms']:.0f} ms"
        )
    click.echo(
        f"  auditor cosigned header {result.witness['header_hash'][:16]}… as witness "
        f"{result.witness['key_id'][:16]}… in {result.witness['cosign_ms']:.1f} ms; "
        "every claim above was required to carry that cosignature"
    )
    click.echo(f"  a false claim got: {result.refused_claim!r}")
    released = sum(1 for f in result.servicer_report.values() if "value" in f)
    click.echo(
        f"  servicer report: {released} of {len(result.servicer_report)} figures proven exact "
        "(the rest suppressed by disclosure control)"
    )
    click.echo(
        f"  borrower's loan: leaf {result.inclusion['leaf_index']}, {result.inclusion['principal']:,} fen, "
        f"bucket {result.inclusion['bucket']}"
    )
    if out is not None:
        click.echo(f"  wrote {', '.join(result.files)} to {out}; re-check with e.g.")
        click.echo(f"    poolproof-audit verify-snapshot {out / 'snapshot.json'} --key {out / 'gateway.pub'}")
        click.echo(
            f"    poolproof-audit verify-claim {out / 'claim-1.json'} --key {out / 'gateway.pub'} "
            f"--require-witness {out / 'witness.pub'}"
        )
        click.echo(
            f"    poolproof-audit verify-inclusion {out / 'inclusion.json'} --key {out / 'gateway.pub'}"
        )
        _demo_report(out)
    _demo_deal(out)
    click.echo("DEMO OK")


def _demo_report(out: Path) -> None:
    """The investor's report of the demo pool, rendered from the written bundles by ``proofs`` alone."""
    from proofs.report import render_report
    from proofs.signing import load_public_key
    from proofs.witness import WitnessPolicy

    result = render_report(
        out,
        load_public_key(out / "gateway.pub"),
        out=out / "report.html",
        pdf=out / "report.pdf",
        witnesses=WitnessPolicy((load_public_key(out / "witness.pub"),)),
    )
    if result.failures:
        click.echo(
            f"DEMO FAILED: the investor report found {len(result.failures)} unverified bundles", err=True
        )
        sys.exit(1)
    click.echo(
        f"  investor report (every figure verified by poolproof-audit report): {out / 'report.html'}, "
        f"{out / 'report.pdf'}"
    )


def _demo_deal(out: Path | None) -> None:
    """A short revolving deal over three months: each period's proven trigger table, roll matrix and
    waterfall; with ``out``, the trustee's and the investor's deal reports rendered from the written
    payment reports, and the linked months' snapshot and link bundles in ``out/deal/series/``."""
    from ..alerts.demo import print_deal_tables, run_revolving_deal

    click.echo("")
    click.echo("A revolving deal over three months (a trigger near its level):")
    demo = run_revolving_deal()
    buf = io.StringIO()
    print_deal_tables(demo, buf)
    click.echo(buf.getvalue().rstrip("\n"))
    if out is not None:
        from ..snapshots.demo import render_deal_reports

        codes = render_deal_reports(out, demo)
        if any(codes.values()):
            click.echo(f"DEMO FAILED: a deal report found unverified payment reports {codes}", err=True)
            sys.exit(1)
        click.echo(
            f"  deal reports, every payment report verified (trustee / investor): "
            f"{out / 'deal' / 'report.html'}, {out / 'deal-investor' / 'report.html'}"
        )
        series = out / "deal" / "series"
        click.echo(
            f"  linked months ({len(demo.snapshots)} snapshot bundles, {len(demo.links)} link bundles, "
            f"each verified): {series}; re-check with"
        )
        click.echo(f"    poolproof-audit verify-series {series} --key {out / 'deal' / 'gateway.pub'}")


@click.command("claim")
@url_option
@click.option(
    "--api-key", envvar="POOLPROOF_API_KEY", required=True, help="your API key (env POOLPROOF_API_KEY)"
)
@click.option("--role-prefix", default="/investor", show_default=True, help="your audience's URL prefix")
@click.option("--pool", "pool_id", required=True)
@click.option("--cutoff", required=True, help="cut-off date YYYY-MM-DD of a sealed snapshot")
@click.option("--statement", required=True, help='claim statement JSON, e.g. \'{"type": "ratio", ...}\'')
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="the gateway public key you trust (PEM)",
)
@click.option(
    "--require-witness",
    "witness_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="a witness public key (PEM) whose cosignature of the header you require (repeatable)",
)
@click.option(
    "--witnesses-needed", type=int, default=None, help="how many of those must have cosigned (default: all)"
)
@click.option(
    "--no-witness",
    is_flag=True,
    help="accept a header no witness cosigned (its aggregates then rest on the gateway's word)",
)
@click.option(
    "--accept-lane-set", "lane_sets", multiple=True, help="also accept this older lane set (by name)"
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of text")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="write the claim bundle here")
def claim_cmd(
    url: str,
    api_key: str,
    role_prefix: str,
    pool_id: str,
    cutoff: str,
    statement: str,
    key_file: str,
    witness_files: tuple[str, ...],
    witnesses_needed: int | None,
    no_witness: bool,
    lane_sets: tuple[str, ...],
    as_json: bool,
    out: str | None,
) -> None:
    """Ask a gateway for a claim with a fresh nonce; verify the answer as the answer to this question.

    The answer must be bound to this nonce, pool, cut-off and exact statement, its header signed by
    the key you trust, its aggregates unpacked, and -- unless --no-witness -- cosigned by the
    witnesses you name. Exit codes: 0 proven, 1 false claim or failed check, 2 unusable input,
    3 refused by policy, 4 authentication failed, 5 gateway unreachable, 6 gateway error.
    """
    from .claim_client import ask_claim

    outcome = ask_claim(
        url=url,
        api_key=api_key,
        role_prefix=role_prefix,
        pool_id=pool_id,
        cutoff=cutoff,
        statement_json=statement,
        key_file=key_file,
        witness_files=witness_files,
        witnesses_needed=witnesses_needed,
        no_witness=no_witness,
        lane_sets=lane_sets,
        out=out,
    )
    if as_json:
        import json

        click.echo(json.dumps(outcome.to_json(), sort_keys=True))
    elif outcome.ok:
        click.echo(outcome.message)
    else:
        click.echo(outcome.message, err=True)
    sys.exit(int(outcome.code))
