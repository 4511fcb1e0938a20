"""PoolProof's verification package: pure cryptography, no I/O beyond what a caller passes in.

An auditor can ``pip install`` the project and verify bundles with this package alone: it never
imports Flask, a database driver, ``gateway`` or ``policies``.
"""
