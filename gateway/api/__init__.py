"""HTTP API: one flask-smorest blueprint per audience."""
