"""HTTP API: one flask-smorest blueprint per audience."""

from .json_body import install_bounded_json_parser

# Before any blueprint module is imported: their @blp.arguments bind the parser when they are defined.
install_bounded_json_parser()
