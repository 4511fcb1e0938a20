"""Test helpers: valid tape rows, signed submissions, a gateway instance on disk."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.access.admin import create_party
from gateway.cli import cli
from gateway.ingest.rules import prc_id_check_char
from gateway.keys.keyring import generate_master_key_file, load_master_key
from gateway.keys.tape_signatures import public_key_bytes, sign_tape
from gateway.storage.db import connect, migrate
from gateway.storage.records import create_admin_key

CUTOFF = "2024-06-30"


def prc_id(first17: str) -> str:
    return first17 + prc_id_check_char(first17)


def cn_row(i: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid CN_CONSUMER row for cut-off 2024-06-30 (loan number ``i``)."""
    seq = 100 + (i % 800)
    seq = seq if seq % 2 else seq + 1  # odd sequence: male
    row: dict[str, Any] = {
        "platform_loan_id": f"L{i:07d}",
        "obligor_name": "张三",
        "id_type": "RESIDENT_ID",
        "id_number": prc_id(f"11010519900307{seq:03d}"),
        "mobile": "13812345678",
        "repayment_account": "6222020200112233445",
        "home_address": "北京市朝阳区建国路1号",
        "region_code": "110105",
        "region_code_version": 2020,
        "birth_date": "1990-03-07",
        "gender": "M",
        "income_monthly_fen": 1_200_000,
        "occupation": "EMPLOYED_PRIVATE",
        "internal_score": 650,
        "consent_basis": "CONTRACT_CLAUSE",
        "consent_version": "v3",
        "consent_time": "2024-01-05T10:00:00+08:00",
        "product_type": "INSTALLMENT_PURCHASE",
        "merchant_category": "ELECTRONICS",
        "origination_channel": "APP",
        "origination_date": "2024-01-05",
        "first_due_date": "2024-02-05",
        "maturity_date": "2024-12-05",
        "term_months": 12,
        "installments_total": 12,
        "installments_paid": 5,
        "repayment_method": "EQUAL_INSTALMENT",
        "original_principal_fen": 600_000 + i,
        "nominal_rate_bps": 1500,
        "apr_all_in_bps": 1800,
        "current_principal_fen": 350_000,
        "days_past_due": 0,
        "overdue_principal_fen": 0,
        "overdue_interest_fen": 0,
        "loan_status": "NORMAL",
        "five_tier_class": "NORMAL",
        "default_date": None,
        "charge_off_date": None,
        "pool_addition_date": "2024-06-01",
    }
    row.update(overrides)
    return row


def us_row(i: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid US_CONSUMER row (no identity fields)."""
    row: dict[str, Any] = {
        "platform_loan_id": f"LC{i:07d}",
        "region_code": "NJ",
        "origination_date": "2018-03-01",
        "maturity_date": "2023-03-01",
        "term_months": 60,
        "original_principal_fen": 2_800_000,
        "nominal_rate_bps": 1407,
        "current_principal_fen": 2_701_586,
        "days_past_due": 0,
        "loan_status": "NORMAL",
    }
    row.update(overrides)
    return row


def cli_ok(*args: str) -> str:
    """Run ``poolproof <args>`` in process; assert it exits 0 and return its standard output."""
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def cli_add_platform(public_key: Path, *args: str) -> str:
    """``poolproof parties add plat1``: a platform with ``public_key``, owning the CN_CONSUMER pool P1.

    ``args`` follow (instance options, ``--json``); returns the command's standard output.
    """
    return cli_ok(
        "parties",
        "add",
        "plat1",
        "--role",
        "platform",
        "--public-key-from",
        str(public_key),
        "--pool",
        "P1",
        "--preset",
        "CN_CONSUMER",
        *args,
    )


def jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


@dataclass
class Platform:
    party_id: str
    api_key: str
    signing_key: Ed25519PrivateKey

    def headers(
        self, pool_id: str, cutoff: str, body: bytes, content_type: str = "application/x-ndjson", **extra: str
    ) -> dict[str, str]:
        digest = hashlib.sha256(body).hexdigest()
        sig = sign_tape(self.signing_key, pool_id, cutoff, digest)
        h = {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": content_type,
            "X-Tape-SHA256": digest,
            "X-Tape-Signature": base64.b64encode(sig).decode(),
        }
        h.update(extra)
        return h


@dataclass
class Instance:
    db_path: Path
    key_path: Path
    admin_key: str

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"DATABASE": str(self.db_path), "MASTER_KEY_FILE": str(self.key_path), **extra}

    def db(self) -> Any:
        return connect(self.db_path)

    def master(self) -> bytes:
        return load_master_key(key_file=self.key_path)

    def add_platform(self, party_id: str) -> Platform:
        sk = Ed25519PrivateKey.generate()
        db = self.db()
        try:
            _, key = create_party(db, party_id, "platform", public_key=public_key_bytes(sk))
        finally:
            db.conn.close()
        return Platform(party_id, key, sk)

    def add_party(self, party_id: str, role: str, obligor_keys: tuple[str, ...] = ()) -> str:
        db = self.db()
        try:
            _, key = create_party(db, party_id, role, obligor_keys=obligor_keys)
        finally:
            db.conn.close()
        return key


def make_instance(tmp: Path) -> Instance:
    db_path = tmp / "poolproof.db"
    key_path = tmp / "master.key"
    generate_master_key_file(key_path)
    db = connect(db_path)
    try:
        migrate(db)
        admin = create_admin_key(db)
    finally:
        db.conn.close()
    return Instance(db_path, key_path, admin)
