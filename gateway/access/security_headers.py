"""Response headers every gateway answer carries (OWASP Secure Headers Project recommendations).

* ``X-Content-Type-Options: nosniff`` -- browsers must not guess a JSON or CSV body is HTML or script.
* ``Cache-Control: no-store`` -- API answers hold policy-filtered data, claims and bundles tied to one
  requester; no shared or browser cache may keep them (RFC 9111 §5.2.2.5).
* ``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY`` (plus CSP ``frame-ancestors 'none'``)
  -- nothing is framed, and no URL (which names pools and cut-offs) leaks to another origin.
* ``Content-Security-Policy`` on ``/docs`` -- the documentation page may run only its own inline script
  and style (allowed by SHA-256 hash, CSP Level 3 §2.3.1) and fetch only this origin.
* ``Content-Security-Policy`` under ``/dashboard`` -- the dashboard's pages run scripts and styles of this
  origin only (no inline code at all), post forms only to this origin and fetch nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from flask import Flask, Response, request

BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: Every other response: a JSON API answer has no business loading anything.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: The dashboard's pages (``gateway/dashboard``): this origin's scripts, styles and images, nothing inline.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _inline_hashes(html: str, tag: str) -> list[str]:
    """``'sha256-...'`` sources for each inline ``<tag>`` block of ``html`` (CSP Level 3 hash sources)."""
    out = []
    for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return out


def docs_csp(docs_html: Path) -> str:
    """The Content-Security-Policy of the documentation page: its own inline code and this origin only."""
    html = docs_html.read_text(encoding="utf-8")
    scripts = " ".join(_inline_hashes(html, "script")) or "'none'"
    styles = " ".join(_inline_hashes(html, "style")) or "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def install_security_headers(app: Flask, docs_html: Path) -> None:
    """Set the headers above on every response of ``app`` (errors and streamed bodies included)."""
    docs_policy = docs_csp(docs_html)

    @app.after_request
    def _secure(resp: Response) -> Response:
        for name, value in BASE_HEADERS.items():
            resp.headers[name] = value
        if request.path == "/docs":
            resp.headers["Content-Security-Policy"] = docs_policy
        elif request.path == "/dashboard" or request.path.startswith("/dashboard/"):
            resp.headers["Content-Security-Policy"] = DASHBOARD_CSP
        else:
            resp.headers["Content-Security-Policy"] = API_CSP
        return resp
