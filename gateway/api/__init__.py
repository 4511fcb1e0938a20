"""HTTP API: routes only, one flask-smorest blueprint per audience or resource.

:func:`register_routes` mounts every blueprint, in the order of the API document; the audience table
is :mod:`.audiences`, the HTTP schemas :mod:`.schemas`, the one error handler :mod:`.error_handler`.
"""

from __future__ import annotations

from flask_smorest import Api

from .json_body import install_bounded_json_parser

# Before any blueprint module is imported: their @blp.arguments bind the parser when they are defined.
install_bounded_json_parser()


def register_routes(api: Api) -> None:
    """Mount every blueprint of the API on ``api`` (the order is the order of the API document)."""
    from . import admin, deal, keys, platform, public, seal_jobs, snapshots, views, vintage, witnesses

    api.register_blueprint(platform.blp)
    for blp in views.AUDIENCES:
        api.register_blueprint(blp)
    api.register_blueprint(admin.blp)
    api.register_blueprint(seal_jobs.blp)
    for blp in snapshots.AUDIENCE_BLUEPRINTS:
        api.register_blueprint(blp)
    api.register_blueprint(public.blp)
    api.register_blueprint(witnesses.admin_blp)
    for blp in witnesses.AUDIENCE_BLUEPRINTS:
        api.register_blueprint(blp)
    api.register_blueprint(keys.blp)
    api.register_blueprint(deal.admin_blp)
    for blp in deal.AUDIENCE_BLUEPRINTS:
        api.register_blueprint(blp)
    for blp in vintage.AUDIENCE_BLUEPRINTS:
        api.register_blueprint(blp)
