"""Sealed snapshots: commit-and-prove jobs, what they leave at rest, and what is built from them.

:mod:`~gateway.snapshots.seal_jobs` runs the resumable background job that commits, range-proves and
signs a pool's cut-off; :mod:`~gateway.snapshots.sealed` keeps sealed snapshots at rest and builds
bundles, claims, inclusion proofs and metrics from them; :mod:`~gateway.snapshots.disclosure` is the
disclosure-control point for aggregate-only parties; :mod:`~gateway.snapshots.demo` plays the whole
story against a real server.
"""
