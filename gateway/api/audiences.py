"""The audience table: each role whose parties call the API, and the URL prefix its routes live under.

Defined once here. The blueprints of every audience are mounted under these prefixes, and the access
checks (:mod:`gateway.access`) read a request's audience from its first path segment through
:data:`AUDIENCE_PREFIXES`.
"""

from __future__ import annotations

#: Role -> the URL prefix of its routes, in the order the audiences appear in the API document.
ROLE_PREFIXES: dict[str, str] = {
    "platform": "/platform",
    "trustee": "/trustee",
    "rating_agency": "/rating-agency",
    "investor": "/investor",
    "auditor": "/auditor",
    "regulator": "/regulator",
    "borrower": "/borrower",
}

#: First path segment -> the role whose parties may call it (``admin``: operator keys only).
AUDIENCE_PREFIXES: dict[str, str] = {
    **{prefix.lstrip("/"): role for role, prefix in ROLE_PREFIXES.items()},
    "admin": "admin",
}


#: Each audience's name in the plural, as the API document's descriptions use it.
ROLE_PLURALS: dict[str, str] = {role: role.replace("_", " ") + "s" for role in ROLE_PREFIXES} | {
    "rating_agency": "rating agencies"
}
