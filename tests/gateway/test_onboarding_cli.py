"""Onboarding from the CLI: ``home``, ``init``, ``pools create|list|show``, ``parties add|list|show``, and
what they print (the next step, the API key once, amounts with their units)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gateway.cli import cli
from gateway.storage.db import connect
from proofs.exit_codes import ExitCode
from proofs.signing import load_public_key


def _invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _ok(*args: str, env: dict[str, str | None] | None = None) -> str:
    res = _invoke(*args, env=env)
    assert res.exit_code == 0, res.output
    return res.stdout


def _json(*args: str) -> Any:
    return json.loads(_ok(*args, "--json"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("POOLPROOF_INSTANCE", "POOLPROOF_DATABASE", "POOLPROOF_MASTER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POOLPROOF_HOME", str(tmp_path / "instance"))
    _ok("init")
    _ok("keygen", str(tmp_path / "acme.pem"))
    return tmp_path


def _platform(tmp: Path, *extra: str) -> Any:
    return _json(
        "parties",
        "add",
        "acme",
        "--role",
        "platform",
        "--public-key-from",
        str(tmp / "acme.pem"),
        "--pool",
        "CN1",
        "--preset",
        "CN_CONSUMER",
        *extra,
    )


def test_the_instance_folder_is_private_and_outside_the_working_folder(home: Path) -> None:
    folder = home / "instance"
    assert _ok("home").strip() == str(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for secret in ("master.key", "gateway.key"):
        assert stat.S_IMODE((folder / secret).stat().st_mode) == 0o600
    load_public_key(folder / "gateway.pub")  # a PEM a verifier can pass to --key
    assert (folder / "poolproof.db").exists()


def test_without_poolproof_home_the_user_data_folder_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("POOLPROOF_HOME", "POOLPROOF_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert _ok("home").strip() == str(tmp_path / ".local" / "share" / "poolproof")
    assert stat.S_IMODE((tmp_path / ".local" / "share" / "poolproof").stat().st_mode) == 0o700


def test_init_json_names_every_file_and_the_operator_key(tmp_path: Path) -> None:
    out = _json(
        "init", "--db", str(tmp_path / "x" / "pp.db"), "--master-key-file", str(tmp_path / "x" / "m.key")
    )
    assert out["database"] == str(tmp_path / "x" / "pp.db")
    assert out["operator_api_key"].startswith("ppk_")
    assert Path(out["gateway_public_key_file"]).exists()


def test_a_new_platform_and_its_pool_are_registered_together(home: Path) -> None:
    res = _invoke(
        "parties",
        "add",
        "acme",
        "--role",
        "platform",
        "--public-key-from",
        str(home / "acme.pem"),
        "--pool",
        "CN1",
        "--preset",
        "CN_CONSUMER",
        "--dpd-edges",
        "0,30,60,120",
    )
    assert res.exit_code == 0, res.output
    assert "API key for acme (shown once; it is what --api-key means in acme's commands): ppk_" in res.stdout
    assert "next: poolproof submit TAPE --api-key $API_KEY --pool CN1" in res.stdout
    pool = _json("pools", "show", "CN1")
    assert pool["platform_id"] == "acme"
    assert pool["currency"] == "CNY"
    assert pool["config"]["dpd_edges"] == [0, 30, 60, 120]
    assert len(pool["config"]["dpd_labels"]) == 5
    assert _json("parties", "show", "acme")["pools"] == ["CN1"]


def test_pools_show_prints_amounts_and_rates_with_their_units(home: Path) -> None:
    _platform(home)
    text = _ok("pools", "show", "CN1")
    assert "money fields (*_fen) are in fen (CNY minor units, 100 per CNY)" in text
    assert "original principal cap: CNY 200,000.00 (20,000,000 fen)" in text
    assert "rejected above 36.00 % (3,600 bps)" in text


def test_a_further_pool_is_created_for_an_existing_platform(home: Path) -> None:
    _platform(home)
    out = _json(
        "pools", "create", "US1", "--platform", "acme", "--preset", "US_CONSUMER", "--apr-flag-bps", "3000"
    )
    assert out["currency"] == "USD"
    assert out["money_unit"] == "cent (USD minor units)"
    assert out["config"]["apr_flag_bps"] == 3000
    assert [p["pool_id"] for p in _json("pools", "list")] == ["CN1", "US1"]
    assert "USD 0.00" not in _ok("pools", "show", "US1")  # no principal cap: "none", not a zero amount


def test_a_taken_pool_id_refuses_the_whole_registration(home: Path) -> None:
    _platform(home)
    _ok("keygen", str(home / "other.pem"))
    res = _invoke(
        "parties",
        "add",
        "other",
        "--role",
        "platform",
        "--public-key-from",
        str(home / "other.pem"),
        "--pool",
        "CN1",
        "--preset",
        "CN_CONSUMER",
    )
    assert res.exit_code == ExitCode.UNUSABLE
    assert "pool 'CN1' already exists (owned by 'acme'); nothing was written" in res.stderr
    assert [p["party_id"] for p in _json("parties", "list")] == ["acme"]


def test_other_roles_are_granted_existing_pools(home: Path) -> None:
    _platform(home)
    out = _json("parties", "add", "fund1", "--role", "investor", "--pool", "CN1")
    assert out["pools"] == ["CN1"]
    assert out["api_key"].startswith("ppk_")
    assert {"party_id": "fund1", "role": "investor"} in _json("pools", "show", "CN1")["access"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bob", "--role", "borrower", "--pool", "CN1"], "a borrower needs at least one --obligor-key"),
        (["fund2", "--role", "investor", "--obligor-key", "x"], "--obligor-key is for borrowers only"),
        (["fund2", "--role", "investor", "--pool", "CN1", "--preset", "CN_CONSUMER"], "pool settings"),
        (["acme2", "--role", "platform", "--pool", "CN2"], "needs --public-key-from"),
        (["bad id!", "--role", "investor"], "party id 'bad id!': expected 1-64 characters"),
        (["fund2", "--role", "investor", "--public-key", "zz"], "--public-key"),
    ],
)
def test_a_refused_registration_names_the_rule_and_writes_nothing(
    home: Path, args: list[str], message: str
) -> None:
    _platform(home)
    res = _invoke("parties", "add", *args)
    assert res.exit_code == ExitCode.UNUSABLE
    assert message in res.stderr
    db = connect(home / "instance" / "poolproof.db")
    try:
        assert db.conn.execute("SELECT COUNT(*) FROM parties").fetchone()[0] == 1
        assert db.conn.execute("SELECT COUNT(*) FROM api_keys WHERE party_id IS NOT NULL").fetchone()[0] == 1
        assert db.conn.execute("SELECT COUNT(*) FROM pools").fetchone()[0] == 1
    finally:
        db.conn.close()


def test_an_uninitialised_instance_says_to_run_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POOLPROOF_DATABASE", raising=False)
    monkeypatch.delenv("POOLPROOF_INSTANCE", raising=False)
    monkeypatch.setenv("POOLPROOF_HOME", str(tmp_path / "empty"))
    res = _invoke("parties", "list")
    assert res.exit_code == ExitCode.UNUSABLE
    assert "run 'poolproof init' first" in res.stderr


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    assert _ok("--version").strip() == f"poolproof {version('poolproof')}"


@pytest.mark.parametrize(
    ("args", "next_step"),
    [
        (
            ["plat2", "--role", "platform", "--public-key-from", "{pem}"],
            "next: poolproof pools create POOL --platform plat2",
        ),
        (
            ["fund1", "--role", "investor", "--pool", "CN1"],
            "next: poolproof claim --api-key $API_KEY --pool CN1",
        ),
        (["aud1", "--role", "auditor", "--pool", "CN1"], "next: poolproof get /auditor/pools/CN1/snapshots/"),
        (
            ["ra1", "--role", "rating_agency", "--pool", "CN1"],
            "next: poolproof get /rating-agency/pools --api-key",
        ),
    ],
)
def test_every_registration_says_what_to_do_next(home: Path, args: list[str], next_step: str) -> None:
    _platform(home)
    out = _ok("parties", "add", *[a.format(pem=home / "acme.pem") for a in args])
    assert next_step in out


def test_a_registered_witness_is_listed_with_its_key_id(home: Path) -> None:
    from proofs.audit_cli import main as audit_main
    from proofs.signing import key_id

    key_file = home / "w.pem"
    assert audit_main(["new-witness-key", str(key_file)]) == 0
    pub = home / "w.pem.pub"
    out = _ok("witnesses", "add", "audit1", "--public-key-from", str(pub))
    expected_id = key_id(load_public_key(pub))
    assert f"witness audit1 registered, key id {expected_id}" in out
    assert "next: the witness runs 'poolproof-audit verify-snapshot" in out
    assert [(w["name"], w["key_id"]) for w in _json("witnesses", "list")] == [("audit1", expected_id)]


def test_a_witness_key_or_name_is_registered_once_and_a_bad_key_is_refused(home: Path) -> None:
    from proofs.audit_cli import main as audit_main

    assert audit_main(["new-witness-key", str(home / "w.pem")]) == 0
    pub = str(home / "w.pem.pub")
    _ok("witnesses", "add", "audit1", "--public-key-from", pub)
    again = _invoke("witnesses", "add", "audit2", "--public-key-from", pub)
    assert again.exit_code == ExitCode.UNUSABLE
    assert "already registered" in again.stderr
    bad = _invoke("witnesses", "add", "audit3", "--public-key", "00" * 31)
    assert bad.exit_code == ExitCode.UNUSABLE
    assert "--public-key: not an Ed25519 public key" in bad.stderr
    both = _invoke("witnesses", "add", "audit4", "--public-key", "00" * 32, "--public-key-from", pub)
    assert both.exit_code == ExitCode.UNUSABLE
    assert [w["name"] for w in _json("witnesses", "list")] == ["audit1"]


def test_key_commands_report_as_json(home: Path) -> None:
    rotated = _json("keys", "rotate-gateway")
    assert rotated["old_key_id"] != rotated["new_key_id"]
    assert rotated["keys_in_history"] == 2
    manifest = _json("backup", str(home / "backup"))
    assert "poolproof.db" in manifest["files"]


def test_a_backup_that_fails_its_check_is_refused_with_the_failed_code(home: Path) -> None:
    _ok("backup", str(home / "backup"))
    with (home / "backup" / "poolproof.db").open("ab") as f:
        f.write(b"\0")
    res = _invoke("restore", str(home / "backup"), "--force")
    assert res.exit_code == ExitCode.FAILED
    assert res.stderr.startswith("Error: restore refused:")
