"""Who may call the gateway, how much and how large, and what every answer carries.

:mod:`~gateway.access.credentials` reads a request's API key; :mod:`~gateway.access.checks` authenticates
and checks audience and pool scope before a body is read; :mod:`~gateway.access.admin` issues and revokes
API keys and pool grants, logging every change; :mod:`~gateway.access.onboarding` registers a party with
its pools in one transaction; :mod:`~gateway.access.ratelimit` throttles callers;
:mod:`~gateway.access.body_limits` bounds request bodies from the request head;
:mod:`~gateway.access.security_headers` sets the response headers every answer carries.
"""
