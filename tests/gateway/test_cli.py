"""The ``poolproof`` command line: init, keygen, parties add, synth, import, submit, policy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from gateway.ingest.pool_settings import CN_CONSUMER
from gateway.keys.keyring import load_master_key
from gateway.storage.db import connect
from gateway.storage.records import create_pool

from .helpers import Instance, cli_add_platform
from .helpers import cli_ok as _run
from .test_e2e import Server, shared_data


def test_init_parties_synth_and_signed_submit(tmp_path: Path) -> None:
    db, key = tmp_path / "pp.db", tmp_path / "master.key"
    out = _run("init", "--db", str(db), "--master-key-file", str(key))
    admin = re.search(r"operator API key \(shown once\): (\S+)", out)
    assert admin is not None
    assert key.stat().st_mode & 0o777 == 0o600
    pub = _run("keygen", str(tmp_path / "plat.pem")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", pub)
    out = cli_add_platform(tmp_path / "plat.pem", "--db", str(db), "--master-key-file", str(key), "--json")
    api_key = json.loads(out)["api_key"]
    tape = tmp_path / "p1.jsonl"
    assert "300 rows written" in _run(
        "synth", "--loans", "300", "--cutoff", "2024-06-30", "--pool-id", "P1", "--out", str(tape)
    )
    srv = Server(Instance(db, key, admin.group(1)))
    try:
        res = CliRunner().invoke(
            cli,
            [
                "submit",
                str(tape),
                "--url",
                srv.url,
                "--api-key",
                api_key,
                "--pool",
                "P1",
                "--cutoff",
                "2024-06-30",
                "--signing-key",
                str(tmp_path / "plat.pem"),
                "--json",
                "--progress",
            ],
            catch_exceptions=False,
        )
    finally:
        srv.close()
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)  # the bar went to stderr: stdout is one JSON document
    assert result["rows"] == 300
    assert result["signature_verified"] is True
    size = tape.stat().st_size
    assert "100%" in res.stderr
    assert "ETA" in res.stderr
    assert f"{size / 1000:.1f}/{size / 1000:.1f} kB" in res.stderr


def test_import_writes_a_tape_file(tmp_path: Path) -> None:
    out = tmp_path / "lc.jsonl"
    msg = _run("import", str(shared_data() / "lendingclub_2018q1_10k.csv"), "--out", str(out))
    n = int(msg.split()[0])
    assert n > 9_000
    assert sum(1 for _ in out.open()) == n


def test_policy_group_is_mounted() -> None:
    assert "explain" in _run("policy", "--help")


def test_synth_ingest_goes_through_the_validation_path(tmp_path: Path) -> None:
    db, key = tmp_path / "pp.db", tmp_path / "master.key"
    _run("init", "--db", str(db), "--master-key-file", str(key))
    _run("keygen", str(tmp_path / "plat.pem"))
    _run(
        "parties",
        "add",
        "plat1",
        "--role",
        "platform",
        "--public-key-from",
        str(tmp_path / "plat.pem"),
        "--db",
        str(db),
    )
    conn = connect(db)
    create_pool(conn, load_master_key(key_file=key), "P1", "plat1", CN_CONSUMER)
    conn.conn.close()
    out = _run(
        "synth",
        "--loans",
        "200",
        "--cutoff",
        "2024-06-30",
        "--pool-id",
        "P1",
        "--month",
        "1",
        "--ingest",
        "--db",
        str(db),
        "--master-key-file",
        str(key),
        "--json",
    )
    result = json.loads(out)
    assert result["rows"] == 200
    assert result["cutoff_date"] == "2024-07-31"
    assert result["signature_verified"] is False  # operator ingest, not a platform submission
    bad = CliRunner().invoke(
        cli,
        [
            "synth",
            "--loans",
            "5",
            "--cutoff",
            "2024-06-30",
            "--pool-id",
            "NOPE",
            "--ingest",
            "--db",
            str(db),
            "--master-key-file",
            str(key),
        ],
    )
    assert bad.exit_code == 2  # UNUSABLE: the named pool does not exist
    assert "no pool 'NOPE'" in bad.output


def test_seal_shows_progress_with_rate_and_eta_on_stderr_and_json_on_stdout(tmp_path: Path) -> None:
    local = ["--db", str(tmp_path / "pp.db"), "--master-key-file", str(tmp_path / "master.key")]
    _run("init", *local)
    _run("keygen", str(tmp_path / "plat.pem"))
    cli_add_platform(tmp_path / "plat.pem", *local)
    _run("synth", "--loans", "24", "--cutoff", "2024-06-30", "--pool-id", "P1", "--ingest", *local)
    res = CliRunner().invoke(
        cli,
        ["seal", "--pool", "P1", "--cutoff", "2024-06-30", "--workers", "0", "--progress", "--json", *local],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    sealed = json.loads(res.stdout)["sealed"]
    assert [(s["pool_id"], s["state"], s["loans"]) for s in sealed] == [("P1", "sealed", 24)]
    assert "24/24 loans" in res.stderr
    assert "loans/s" in res.stderr
    assert "ETA" in res.stderr


def test_an_output_file_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    from gateway.cli._common import written_whole

    target = tmp_path / "tape.jsonl"

    def stopped_half_way() -> None:
        with written_whole(target) as partial:
            partial.write_text("half a tape")
            raise RuntimeError("generation stopped")

    with pytest.raises(RuntimeError, match="generation stopped"):
        stopped_half_way()
    assert list(tmp_path.iterdir()) == []
    with written_whole(target) as partial:
        partial.write_text("a whole tape")
    assert [p.name for p in tmp_path.iterdir()] == ["tape.jsonl"]
    assert target.read_text() == "a whole tape"


def test_synth_into_a_missing_folder_is_unusable_and_leaves_nothing(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["synth", "--loans", "5", "--cutoff", "2024-06-30", "--out", str(tmp_path / "no" / "t.jsonl")]
    )
    assert res.exit_code == 2
    assert "No such file or directory" in res.stderr
    assert list(tmp_path.iterdir()) == []
