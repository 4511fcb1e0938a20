"""Seal-job routes (platforms): start sealing a cut-off as a background job, and follow its progress.

* ``POST /platform/pools/<pool>/cutoffs/<cutoff>/seal`` (202 + job);
* ``GET /platform/pools/<pool>/jobs/<id>``.

The job runs on this server's threads through :mod:`gateway.jobs`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from .. import jobs
from ..snapshots.seal_jobs import SealSettings, get_job, start_seal_job
from .common import fail, gateway_signing_key, get_db, master_key, owned_pool, require_role
from .schemas import SealJobSchema

_CUTOFF_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

blp = Blueprint(
    "platform_seal", __name__, url_prefix="/platform", description="Platforms: seal snapshots (jobs)"
)


@blp.route("/pools/<pool_id>/cutoffs/<cutoff>/seal")
class Seal(MethodView):
    @blp.response(202, SealJobSchema)
    @blp.alt_response(404, description="no tape for the cut-off")
    @blp.alt_response(409, description="already sealed, or not after the last sealed cut-off")
    def post(self, pool_id: str, cutoff: str) -> tuple[dict[str, Any], int]:
        """Seal the cut-off's current tape as a background job; poll ``.../jobs/<job_id>`` for progress.

        A running job for the same cut-off is returned instead of starting another."""
        party = require_role("platform")
        owned_pool(party, pool_id)
        if not _CUTOFF_RE.match(cutoff):
            fail(400, "cut-off must be an ISO 8601 date YYYY-MM-DD")
        gateway_signing_key()  # 503 now rather than at the end of a long job
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        job, _created = start_seal_job(
            get_db(), master_key(), pool_id, cutoff, SealSettings.from_config(app.config)
        )
        jobs.launch_job(app, job.id)
        return get_job(get_db(), job.id).progress(), 202


@blp.route("/pools/<pool_id>/jobs/<job_id>")
class Job(MethodView):
    @blp.response(200, SealJobSchema)
    @blp.alt_response(404, description="no such job for this pool")
    def get(self, pool_id: str, job_id: str) -> dict[str, Any]:
        """A seal job's state, percent done, loans per second and estimated seconds left."""
        party = require_role("platform")
        owned_pool(party, pool_id)
        job = get_job(get_db(), job_id)
        if job.pool_id != pool_id:
            fail(404, f"no seal job {job_id!r}")
        return job.progress()
