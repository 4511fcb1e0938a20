"""The dashboard blueprint: sign-in, sign-out, one page per audience, and the investor's downloads.

Every page needs a signed-in session of a party with the page's role: without one a page redirects to
the sign-in form; with another role's session it answers 403; a pool outside the party's scope is
answered 404 exactly as a pool that does not exist (the API's rule,
:data:`gateway.access.checks.POOL_NOT_IN_SCOPE`). Every POST must carry the session's CSRF token and
come from this gateway's own pages by the browser's Fetch Metadata and ``Origin`` headers. Failed
sign-ins answer 401, so the failed-authentication throttle of :mod:`gateway.access.ratelimit` counts
them as it counts the API's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from policies.catalogue import TAPE_SCHEMA_V1_FIELDS

from ..access.checks import POOL_NOT_IN_SCOPE, pool_in_scope
from ..access.credentials import MAX_AUTHORIZATION_LENGTH
from ..api.common import get_db, keys_for
from ..data_quality import prior_loans, tape_quality
from ..errors import GatewayError
from ..ingest.pool_settings import IDENTITY_FIELDS
from ..snapshots.sealed import SnapshotRecord, get_snapshot, list_snapshots
from ..storage.records import (
    NotFound,
    PartyRecord,
    authenticate,
    current_tape,
    get_pool,
    get_tape,
    hash_api_key,
    iter_loans,
    list_tapes,
)
from . import figures
from .sessions import COOKIE_NAME, DashboardSession, SessionStore, csrf_matches, principal_for_key_hash

SESSIONS_EXTENSION = "poolproof_dashboard_sessions"
_STATIC = Path(__file__).resolve().parent.parent / "static"

blp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    template_folder="templates",
    static_folder=str(_STATIC),
    static_url_path="/static",
)

#: The page each role lands on after sign-in.
HOME_ENDPOINTS = {
    "platform": "dashboard.platform_home",
    "trustee": "dashboard.trustee_home",
    "regulator": "dashboard.regulator_home",
    "investor": "dashboard.investor_home",
}
#: Roles without a page of their own see the list of their pools.
OTHER_ROLES = ("rating_agency", "auditor", "borrower")


class PageError(Exception):
    """A page refused: rendered as the error page with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def refuse(status: int, message: str) -> NoReturn:
    """Stop the request with the error page."""
    raise PageError(status, message)


def _store() -> SessionStore:
    store: SessionStore = current_app.extensions[SESSIONS_EXTENSION]
    return store


def _session() -> DashboardSession | None:
    s: DashboardSession | None = g.get("dashboard_session")
    return s


def _set_cookie(resp: Response, session: DashboardSession) -> Response:
    resp.set_cookie(
        COOKIE_NAME,
        session.session_id,
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict",
    )
    return resp


def _same_origin() -> bool:
    """Whether the browser says the request comes from this gateway's own pages.

    Fetch Metadata (W3C): ``Sec-Fetch-Site`` is ``same-origin`` for our own forms (``none`` when the
    user typed the address). ``Origin`` is compared when it names an origin; it is ``null`` for our own
    forms too, because every answer carries ``Referrer-Policy: no-referrer``.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin in (None, "null") or origin.rstrip("/") == request.host_url.rstrip("/")


@blp.before_request
def _load_session() -> Any:
    """Find the session of the cookie, re-check its API key, and check CSRF on every POST."""
    if request.endpoint == "dashboard.static":
        return None
    store = _store()
    session = store.get(request.cookies.get(COOKIE_NAME))
    if session is not None and session.signed_in:
        found = principal_for_key_hash(get_db(), session.key_hash)
        if found is None or found.party is None or found.party.id != session.party_id:
            store.end(session.session_id)  # the key was revoked or expired: the session ends with it
            session = None
        else:
            g.principal = found  # what the API's role and scope checks read
    g.dashboard_session = session
    if request.method == "POST":
        if session is None or not csrf_matches(session, request.form.get("csrf_token")):
            refuse(403, "the form's CSRF token is missing or does not match this session; reload the page")
        if not _same_origin():
            refuse(403, "cross-origin form submissions are refused")
    return None


def _party() -> PartyRecord | None:
    s = _session()
    if s is None or not s.signed_in:
        return None
    principal = g.get("principal")
    return None if principal is None else principal.party


def _page_party(role: str) -> PartyRecord:
    """The signed-in party, which must have ``role`` (else 403); not signed in: redirect to sign-in."""
    party = _party()
    if party is None:
        raise _SignInFirst()
    if party.role != role:
        refuse(403, f"this page is for parties with role {role!r}")
    return party


def _scoped(party: PartyRecord, pool_id: str) -> None:
    if not pool_in_scope(party, pool_id):
        refuse(404, POOL_NOT_IN_SCOPE)


class _SignInFirst(Exception):
    """No signed-in session: the page redirects to the sign-in form."""


@blp.errorhandler(_SignInFirst)
def _to_sign_in(_exc: _SignInFirst) -> Response:
    return redirect(url_for("dashboard.sign_in_form"))  # type: ignore[return-value]


@blp.errorhandler(PageError)
def _page_error(exc: PageError) -> tuple[str, int]:
    return _render_error(exc.status, exc.message)


@blp.errorhandler(GatewayError)
def _gateway_error(exc: GatewayError) -> tuple[str, int]:
    return _render_error(exc.http_status, getattr(exc, "message", None) or str(exc))


@blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    data = getattr(exc, "data", None) or {}
    message = (data.get("message") if isinstance(data, dict) else None) or exc.description or exc.name
    return _render_error(exc.code or 500, str(message))


def _render_error(status: int, message: str) -> tuple[str, int]:
    return _render("dashboard/error.html", status=status, message=message), status


def _render(template: str, **context: Any) -> str:
    s = _session()
    return render_template(template, party=_party(), csrf_token="" if s is None else s.csrf_token, **context)


# --- sign-in and sign-out ------------------------------------------------------------------------------
@blp.get("/")
def index() -> Response:
    """The signed-in party's own page, or the sign-in form."""
    party = _party()
    if party is None:
        return redirect(url_for("dashboard.sign_in_form"))  # type: ignore[return-value]
    return redirect(url_for(HOME_ENDPOINTS.get(party.role, "dashboard.pools_home")))  # type: ignore[return-value]


@blp.get("/sign-in")
def sign_in_form() -> Response:
    """The sign-in form (a session that carries only the form's CSRF token is opened for it)."""
    session = _session() or _store().start_anonymous()
    g.dashboard_session = session
    return _set_cookie(make_response(_render("dashboard/sign_in.html", message=None)), session)


@blp.post("/sign-in")
def sign_in() -> Response:
    """Check the API key as the API does; on success a fresh session id replaces the old one."""
    key = (request.form.get("api_key") or "").strip()
    found = authenticate(get_db(), key) if 0 < len(key) <= MAX_AUTHORIZATION_LENGTH else None
    if found is None:
        body = _render("dashboard/sign_in.html", message="unknown, revoked or expired API key")
        return make_response(body, 401)
    if found.party is None:
        body = _render("dashboard/sign_in.html", message="operator keys have no dashboard; use a party's key")
        return make_response(body, 403)
    old = _session()
    session = _store().sign_in(None if old is None else old.session_id, hash_api_key(key), found.party.id)
    return _set_cookie(redirect(url_for("dashboard.index")), session)  # type: ignore[arg-type]


@blp.post("/sign-out")
def sign_out() -> Response:
    """End the session and forget its cookie."""
    s = _session()
    if s is not None:
        _store().end(s.session_id)
    resp: Response = redirect(url_for("dashboard.sign_in_form"))  # type: ignore[assignment]
    resp.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True, samesite="Strict")
    return resp


# --- the platform ----------------------------------------------------------------------------------------
def _schema_fields(pool_id: str) -> list[str]:
    cfg = get_pool(get_db(), pool_id).config
    skip = IDENTITY_FIELDS | {"repayment_account"} if cfg.id_scheme is None else frozenset()
    return [f for f in TAPE_SCHEMA_V1_FIELDS if f not in skip]


@blp.get("/platform")
def platform_home() -> str:
    """The platform's pools: submissions with their validation results, seal jobs with progress."""
    party = _page_party("platform")
    db = get_db()
    pools: list[dict[str, Any]] = []
    for pool_id in party.pools:
        tapes = []
        for item in list_tapes(db, pool_id):
            tape = get_tape(db, item["tape_id"])
            tapes.append({**item, "result": tape.result, "flagged_rows": tape.flagged_rows})
        pools.append(
            {
                "pool_id": pool_id,
                "tapes": tapes,
                "jobs": [j.progress() for j in figures.seal_jobs(pool_id)],
                "snapshots": [s.summary() for s in list_snapshots(db, pool_id)],
            }
        )
    running = any(j["state"] == "running" for p in pools for j in p["jobs"])
    return _render("dashboard/platform.html", pools=pools, running=running)


@blp.get("/platform/pools/<pool_id>/tapes/<int:tape_id>")
def tape_quality_page(pool_id: str, tape_id: int) -> str:
    """A tape's data-quality indicators, against the previous cut-off's current tape."""
    party = _page_party("platform")
    _scoped(party, pool_id)
    db = get_db()
    try:
        tape = get_tape(db, tape_id)
    except NotFound:
        refuse(404, f"no tape {tape_id} in pool {pool_id!r}")
    if tape.pool_id != pool_id:
        refuse(404, f"no tape {tape_id} in pool {pool_id!r}")
    cfg = get_pool(db, pool_id).config
    earlier = sorted(
        {t["cutoff_date"] for t in list_tapes(db, pool_id) if t["cutoff_date"] < tape.cutoff_date}
    )
    previous = previous_cutoff = None
    if earlier:
        previous_cutoff = earlier[-1]
        prior_tape = current_tape(db, pool_id, previous_cutoff)
        previous = prior_loans(s.record for s in iter_loans(db, keys_for(pool_id), prior_tape))
    quality = tape_quality(
        (s.record for s in iter_loans(db, keys_for(pool_id), tape)),
        cfg,
        tape.cutoff_date,
        _schema_fields(pool_id),
        previous=previous,
        previous_cutoff=previous_cutoff,
    )
    chart = {
        "id": "chart-completeness",
        "kind": "bar",
        "title": "Completeness by field (% of rows with a value)",
        "unit": "%",
        "x": list(quality.completeness),
        "series": [
            {"name": "completeness", "values": [round(100 * v, 2) for v in quality.completeness.values()]}
        ],
    }
    return _render("dashboard/quality.html", pool_id=pool_id, tape=tape, quality=quality, charts=[chart])


# --- trustee and regulator ---------------------------------------------------------------------------------
def _oversight(party: PartyRecord) -> str:
    pools = []
    charts = []
    for pool_id in figures.pools_in_scope(party):
        snaps = list_snapshots(get_db(), pool_id)
        series = [(s, figures.metrics_answer(party, s)) for s in snaps]
        latest, latest_metrics = series[-1] if series else (None, None)
        ratios = None if latest_metrics is None else latest_metrics["ratios_bps"]
        triggers = figures.trigger_statuses(ratios) if latest is not None else []
        cosigned = figures.cosigned_by(latest) if latest is not None else []
        alerts = [
            f"trigger {t.name} at {t.level_bps} bps breached: {t.value_bps} bps"
            for t in triggers
            if t.state == "breached"
        ]
        alerts += [
            f"trigger {t.name}: the ratio is withheld from this party"
            for t in triggers
            if t.state == "unknown"
        ]
        if latest is None:
            alerts.append("no sealed snapshot yet")
        elif not cosigned:
            alerts.append(f"the snapshot of {latest.cutoff_date} has no witness cosignature")
        stats = figures.stats_answer(party, pool_id, latest.cutoff_date) if latest is not None else None
        currency, minor_unit = figures.pool_currency(pool_id)
        deal = figures.deal_panel(party, pool_id)
        charts.extend(_deal_charts(pool_id, deal))
        links = figures.link_panel(party, pool_id, snaps)
        vintage = figures.vintage_panel(party, pool_id)
        vintage_chart = figures.vintage_chart(pool_id, vintage)
        pools.append(
            {
                "pool_id": pool_id,
                "links": links,
                "vintage": vintage,
                "vintage_chart": vintage_chart,
                "currency": currency,
                "minor_unit": minor_unit,
                "metric_units": {}
                if latest is None or latest_metrics is None
                else {m: latest.lanes.metric_unit(m) for m in latest_metrics["metrics"]},
                "latest": None if latest is None else latest.summary(),
                "metrics": latest_metrics,
                "stats": stats,
                "triggers": triggers,
                "cosigned_by": cosigned,
                "alerts": alerts,
                "deal": deal,
            }
        )
        if vintage_chart is not None:
            charts.append(vintage_chart)
        ratio = next(iter(t.ratio for t in triggers), None)
        if ratio is not None:
            charts.append(
                {
                    "id": f"chart-{pool_id}-trigger",
                    "kind": "line",
                    "title": f"{pool_id}: {ratio} against its trigger levels",
                    "unit": "bps",
                    "x": [s.cutoff_date for s, _ in series],
                    "series": [
                        {
                            "name": ratio,
                            "values": [None if m is None else m["ratios_bps"].get(ratio) for _, m in series],
                        }
                    ],
                    "marks": [{"name": f"{t.level_bps} bps", "value": t.level_bps} for t in triggers],
                    "pool_id": pool_id,
                }
            )
    return _render("dashboard/oversight.html", pools=pools, log=figures.decision_log_check(), charts=charts)


def _deal_charts(pool_id: str, deal: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The deal's charts: each trigger's proven status per period (1 breached, 0 not), and the cumulative
    default rate of the whole reports against the deal's cumulative default levels."""
    if deal is None or not deal["periods"]:
        return []
    periods = deal["periods"]
    x = [p["cutoff_date"] for p in periods]
    charts = [
        {
            "id": f"chart-{pool_id}-trigger-status",
            "kind": "line",
            "title": f"{pool_id}: proven trigger status per period (1 = breached, 0 = not breached)",
            "unit": "status",
            "x": x,
            "series": [
                {"name": t["id"], "values": [int(p["triggers"][i]["breached"]) for p in periods]}
                for i, t in enumerate(deal["triggers"])
            ],
            "pool_id": pool_id,
        }
    ]
    if all(p["cdr_ppm"] is not None for p in periods):
        charts.append(
            {
                "id": f"chart-{pool_id}-deal-cdr",
                "kind": "line",
                "title": f"{pool_id}: cumulative default rate against the deal's levels",
                "unit": "bps",
                "x": x,
                "series": [
                    {
                        "name": "cumulative default rate",
                        "values": [(p["cdr_ppm"] + 50) // 100 for p in periods],
                    }
                ],
                "marks": [
                    {"name": f"{t['id']} {t['level_bps']} bps", "value": t["level_bps"]}
                    for t in deal["triggers"]
                    if t["kind"] == "cumulative_default_rate"
                ],
                "pool_id": pool_id,
            }
        )
    return charts


@blp.get("/trustee")
def trustee_home() -> str:
    """The trustee's pools: latest figures, trigger status, alerts, cosignatures, the log's check."""
    return _oversight(_page_party("trustee"))


@blp.get("/regulator")
def regulator_home() -> str:
    """Every pool, for the regulator: as the trustee's page, over all pools."""
    return _oversight(_page_party("regulator"))


# --- the investor -----------------------------------------------------------------------------------------
def _value(figure: Any) -> int | None:
    """A released figure's value; None for a suppressed or withheld one."""
    if isinstance(figure, dict) and "value" in figure:
        return int(figure["value"])
    return None


def _investor_pool(party: PartyRecord, pool_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    snaps = list_snapshots(get_db(), pool_id)
    answers = [figures.stats_answer(party, pool_id, s.cutoff_date) for s in snaps]
    x = [a["cutoff_date"] for a in answers]
    buckets = sorted({b for a in answers for b in a["stats"].get("dpd_buckets", {})}, key=_bucket_order)
    currency, minor_unit = figures.pool_currency(pool_id)
    charts = [
        {
            "id": f"chart-{pool_id}-balance",
            "kind": "line",
            "title": f"{pool_id}: outstanding principal ({minor_unit}, {currency})",
            "unit": minor_unit,
            "x": x,
            "series": [
                {
                    "name": "current_principal_fen",
                    "values": [_value(a["stats"].get("current_principal_fen")) for a in answers],
                }
            ],
            "pool_id": pool_id,
        },
        {
            "id": f"chart-{pool_id}-dpd",
            "kind": "stacked-bar",
            "title": f"{pool_id}: outstanding principal by DPD bucket ({minor_unit}, {currency})",
            "unit": minor_unit,
            "x": x,
            "series": [
                {
                    "name": b,
                    "values": [
                        _value(a["stats"].get("dpd_buckets", {}).get(b, {}).get("current_principal_fen"))
                        for a in answers
                    ],
                }
                for b in buckets
            ],
            "pool_id": pool_id,
        },
    ]
    rows = [
        {"snapshot": s.summary(), "stats": a, "cosigned_by": figures.cosigned_by(s)}
        for s, a in zip(snaps, answers, strict=True)
    ]
    deal = figures.deal_panel(party, pool_id)
    charts.extend(_deal_charts(pool_id, deal))
    rolls = figures.investor_roll_cells(party, pool_id, snaps)
    vintage = figures.vintage_panel(party, pool_id)
    vintage_chart = figures.vintage_chart(pool_id, vintage)
    if vintage_chart is not None:
        charts.append(vintage_chart)
    pool = {"pool_id": pool_id, "rows": rows, "buckets": buckets, "deal": deal, "rolls": rolls,
            "vintage": vintage}  # fmt: skip
    return pool, charts


def _bucket_order(label: str) -> tuple[int, str]:
    digits = "".join(ch if ch.isdigit() else " " for ch in label).split()
    return (int(digits[0]) if digits else -1, label)


@blp.get("/investor")
def investor_home() -> str:
    """The investor's pools: series of disclosed figures with charts, and the bundles to download."""
    party = _page_party("investor")
    pools, charts = [], []
    for pool_id in figures.pools_in_scope(party):
        pool, pool_charts = _investor_pool(party, pool_id)
        pools.append(pool)
        charts.extend(pool_charts)
    return _render("dashboard/investor.html", pools=pools, charts=charts, gateway_url=request.host_url)


#: What the investor may download per snapshot, each the body of an API route of its audience.
DOWNLOADS = ("header", "cosignatures", "stats")


@blp.get("/investor/pools/<pool_id>/snapshots/<cutoff>/<what>.json")
def investor_download(pool_id: str, cutoff: str, what: str) -> Response:
    """A snapshot's signed header, cosignatures or disclosed statistics, as the API gives them."""
    party = _page_party("investor")
    _scoped(party, pool_id)
    if what not in DOWNLOADS:
        refuse(404, f"no download {what!r}; there are: {', '.join(DOWNLOADS)}")
    snap: SnapshotRecord = get_snapshot(get_db(), pool_id, cutoff)
    if what == "header":
        body: dict[str, Any] = snap.header
    elif what == "cosignatures":
        body = figures.cosignature_listing(snap)
    else:
        body = figures.stats_answer(party, pool_id, cutoff)
    resp = jsonify(body)
    resp.headers["Content-Disposition"] = f'attachment; filename="{what}-{pool_id}-{cutoff}.json"'
    return resp


# --- every other role ---------------------------------------------------------------------------------------
@blp.get("/pools")
def pools_home() -> str:
    """Rating agencies, auditors and borrowers: the pools in scope (their work is through the API)."""
    party = _party()
    if party is None:
        raise _SignInFirst()
    if party.role not in OTHER_ROLES:
        refuse(403, "this page is for parties with role " + " or ".join(map(repr, OTHER_ROLES)))
    return _render("dashboard/pools.html", pools=figures.pools_in_scope(party))
