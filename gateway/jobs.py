"""Seal jobs on this server's background threads: start one, resume those a previous process left running.

The HTTP route that accepts a seal request (:mod:`gateway.api.snapshots`) and ``poolproof serve``
(:mod:`gateway.cli.instance`) both run jobs through here; the work itself is
:func:`gateway.snapshots.seal_jobs.run_seal_job`. Nothing here answers HTTP: a key that cannot be read raises
:class:`gateway.keys.gateway_key.GatewayKeyError` or :class:`gateway.keys.keyring.KeyringError`.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from .keys.gateway_key import gateway_key_path, load_gateway_key
from .keys.keyring import load_master_key
from .snapshots.seal_jobs import JobRunner, SealSettings, TestingHooks, run_seal_job
from .storage.db import connect

#: Where an app keeps its loaded gateway signing key and its job runner (``app.extensions``).
GATEWAY_KEY_EXTENSION = "poolproof_gateway_key"
JOB_RUNNER_EXTENSION = "poolproof_seal_runner"


def gateway_signing_key(app: Flask) -> Ed25519PrivateKey:
    """The app's gateway signing key, loaded once; raises ``GatewayKeyError`` if it cannot be read."""
    key: Ed25519PrivateKey | None = app.extensions.get(GATEWAY_KEY_EXTENSION)
    if key is None:
        key = load_gateway_key(gateway_key_path(app.config))
        app.extensions[GATEWAY_KEY_EXTENSION] = key
    return key


def job_runner(app: Flask) -> JobRunner:
    """The app's background seal-job runner."""
    runner: JobRunner = app.extensions.setdefault(JOB_RUNNER_EXTENSION, JobRunner())
    return runner


def _testing_hooks(app: Flask) -> TestingHooks | None:
    if not app.config.get("TESTING"):
        return None
    hooks = TestingHooks()
    hooks.negative_lane_loans = frozenset(app.config.get("SEAL_TEST_NEGATIVE_LANE_LOANS", ()))
    return hooks


def launch_job(app: Flask, job_id: str) -> bool:
    """Run (or resume) a seal job on a background thread of this server; True if it was started.

    Raises ``GatewayKeyError`` or ``KeyringError`` when the gateway key or the master key cannot be read.
    """
    gkey = gateway_signing_key(app)
    mkey = load_master_key(key=app.config.get("MASTER_KEY"), key_file=app.config.get("MASTER_KEY_FILE"))
    settings = SealSettings.from_config(app.config)
    db_path = app.config["DATABASE"]
    version = app.extensions["poolproof_policy"].version
    hooks = _testing_hooks(app)

    def target() -> object:
        return run_seal_job(
            db_path,
            mkey,
            gkey,
            version,
            job_id,
            workers=settings.workers,
            scheduler=settings.scheduler,
            testing=hooks,
        )

    return job_runner(app).start(job_id, target)


def resume_running_jobs(app: Flask) -> list[str]:
    """Restart every job a previous server process left running (call once at server start)."""
    from .snapshots.seal_jobs import running_jobs

    db = connect(app.config["DATABASE"])
    try:
        jobs = running_jobs(db)
    finally:
        db.conn.close()
    return [job.id for job in jobs if launch_job(app, job.id)]
