"""The request-body parser of every blueprint: webargs' Flask parser with the JSON limits of
:mod:`gateway.ingest.bounded_json`.

flask-smorest reads JSON bodies through ``Blueprint.ARGUMENTS_PARSER`` (its documented override point).
Python's decoder answers a 5000-digit integer with ``ValueError`` and a 50,000-deep array with
``RecursionError``, which webargs does not catch (a 500); this parser answers both with a 400 that names
the rule. :mod:`gateway.api` installs it before any blueprint module is imported, so every
``@blp.arguments`` of every blueprint uses it.
"""

from __future__ import annotations

import json
from typing import Any

import flask
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from ..ingest.bounded_json import JsonLimitError, loads_body


class BoundedJsonParser(FlaskParser):
    """A :class:`FlaskParser` whose JSON bodies are decoded by
    :func:`gateway.ingest.bounded_json.loads_body`."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        text = data.decode("utf-8")  # UnicodeDecodeError: webargs answers 400 "Invalid JSON body."
        if not text.strip():
            raise json.JSONDecodeError("empty body", "", 0)  # webargs: an empty body is a missing one
        try:
            return loads_body(text)
        except JsonLimitError as exc:
            abort(400, exc=exc, messages={"json": {"_body": [str(exc)]}})


def install_bounded_json_parser() -> None:
    """Make :class:`BoundedJsonParser` the parser of every flask-smorest blueprint created afterwards."""
    from flask_smorest import Blueprint

    Blueprint.ARGUMENTS_PARSER = BoundedJsonParser()
