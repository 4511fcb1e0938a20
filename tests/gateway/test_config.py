"""gateway/config.py: the POOLPROOF_* variables parsed in one place, and read nowhere else in gateway/."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from gateway.config import ConfigError, GatewayConfig, use_one_msm_thread
from proofs.executors import SCHEDULER_ENV

ROOT = Path(__file__).resolve().parents[2]
FIELDS = [f.name for f in dataclasses.fields(GatewayConfig)]


def test_an_empty_environment_gives_the_defaults() -> None:
    assert GatewayConfig.from_environment({}) == GatewayConfig()


def test_the_defaults_are_the_documented_ones() -> None:
    config = GatewayConfig()
    assert (config.body_limit_bytes, config.max_tape_bytes) == (1 << 20, 4 << 30)
    assert config.max_reported_errors == 100
    assert (config.rate_limit_per_second, config.rate_limit_burst) == (50.0, 200)
    assert (config.auth_failures_per_minute, config.auth_failure_burst) == (10.0, 20)
    assert (config.sqlite_busy_ms, config.sqlite_cache_kib_or_default) == (30_000, 65536)
    assert config.url == "http://127.0.0.1:8080"
    assert config.database is None
    assert config.seal_workers is None
    assert config.scheduler is None


def test_each_field_is_read_from_poolproof_and_its_name_in_capitals() -> None:
    assert {name: GatewayConfig.variable(name) for name in FIELDS} == {
        name: "POOLPROOF_" + name.upper() for name in FIELDS
    }


def test_the_scheduler_field_is_the_variable_proofs_reads() -> None:
    assert GatewayConfig.variable("scheduler") == SCHEDULER_ENV


def test_variable_refuses_a_name_that_is_not_a_field() -> None:
    with pytest.raises(ValueError, match="not a GatewayConfig field"):
        GatewayConfig.variable("nonsense")


TEXT_FIELDS = [
    "database",
    "master_key",
    "master_key_file",
    "policy_path",
    "decision_log_database",
    "gateway_key_file",
    "instance",
    "home",
    "url",
    "shared",
    "fault_at",
    "seal_lane_set",
    "seal_scheduler",
    "scheduler",
]
PARSED: list[tuple[str, str, Any]] = [
    ("body_limit_bytes", "2048", 2048),
    ("max_tape_bytes", "1000000", 1_000_000),
    ("max_reported_errors", "7", 7),
    ("rate_limit_per_second", "2.5", 2.5),
    ("rate_limit_burst", "12", 12),
    ("rate_limit_burst", "12.9", 12),
    ("auth_failures_per_minute", "0", 0.0),
    ("auth_failure_burst", "3", 3),
    ("sqlite_busy_ms", "100", 100),
    ("sqlite_cache_kib", "256", 256),
    ("seal_chunk_log2", "8", 8),
    ("seal_chunk_log2", "", None),
    ("seal_ipa_rounds", "3", 3),
    ("seal_ipa_rounds", "full", "full"),
    ("seal_ipa_rounds", "", None),
    ("seal_workers", "0", 0),
    ("seal_workers", "", None),
]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_a_text_variable_is_kept_as_given(field: str) -> None:
    config = GatewayConfig.from_environment({GatewayConfig.variable(field): "/some/where"})
    assert getattr(config, field) == "/some/where"


@pytest.mark.parametrize(("field", "value", "expected"), PARSED)
def test_a_number_variable_is_parsed(field: str, value: str, expected: Any) -> None:
    config = GatewayConfig.from_environment({GatewayConfig.variable(field): value})
    assert getattr(config, field) == expected


def test_every_field_is_covered_by_these_tests() -> None:
    assert set(TEXT_FIELDS) | {field for field, _, _ in PARSED} == set(FIELDS)


def test_an_empty_lane_set_means_the_default() -> None:
    assert GatewayConfig.from_environment({"POOLPROOF_SEAL_LANE_SET": ""}).seal_lane_set is None


def test_a_set_page_cache_is_kept() -> None:
    config = GatewayConfig.from_environment({"POOLPROOF_SQLITE_CACHE_KIB": "8"})
    assert config.sqlite_cache_kib_or_default == 8


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("body_limit_bytes", "1MiB", "an integer"),
        ("max_tape_bytes", "", "an integer"),
        ("max_reported_errors", "ten", "an integer"),
        ("rate_limit_per_second", "fast", "a number"),
        ("rate_limit_burst", "inf", "a number"),
        ("auth_failures_per_minute", "", "a number"),
        ("auth_failure_burst", "x", "a number"),
        ("sqlite_busy_ms", "1.5", "an integer"),
        ("sqlite_cache_kib", "", "an integer"),
        ("seal_chunk_log2", "big", "an integer"),
        ("seal_ipa_rounds", "FULL", "an integer or 'full'"),
        ("seal_workers", "all", "an integer"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_expects(field: str, value: str, expected: str) -> None:
    variable = GatewayConfig.variable(field)
    with pytest.raises(ConfigError, match=f"^{variable}=.*: expected {expected}$"):
        GatewayConfig.from_environment({variable: value})


def test_a_bad_value_is_a_value_error_as_before() -> None:
    with pytest.raises(ValueError, match="POOLPROOF_SEAL_WORKERS"):
        GatewayConfig.from_environment({"POOLPROOF_SEAL_WORKERS": "all"})


def test_the_master_key_is_never_printed() -> None:
    config = GatewayConfig.from_environment({"POOLPROOF_MASTER_KEY": "c2VjcmV0"})
    assert "c2VjcmV0" not in repr(config)


def test_the_process_environment_is_read_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLPROOF_SQLITE_BUSY_MS", "123")
    assert GatewayConfig.from_environment().sqlite_busy_ms == 123
    monkeypatch.setenv("POOLPROOF_SQLITE_BUSY_MS", "456")
    assert GatewayConfig.from_environment().sqlite_busy_ms == 456


def test_one_msm_thread_is_written_for_the_process_and_its_children() -> None:
    env: dict[str, str] = {}
    use_one_msm_thread(env)
    assert env == {"POOLPROOF_MSM_THREADS": "1"}


def test_a_bad_variable_ends_a_command_in_one_line_with_unusable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("POOLPROOF_HOME", str(tmp_path))
    monkeypatch.setenv("POOLPROOF_SQLITE_BUSY_MS", "soon")
    result = CliRunner().invoke(cli, ["pools", "list"])
    assert result.exit_code == 2
    assert "Error: POOLPROOF_SQLITE_BUSY_MS='soon': expected an integer" in result.output
    assert "Traceback" not in result.output


def test_every_variable_is_in_the_configuration_table() -> None:
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert [name for name in FIELDS if f"| `{GatewayConfig.variable(name)}` |" not in table] == []


def _environment_reads(source: str) -> list[str]:
    """The lines of ``source`` that name ``environ``, ``getenv``, ``putenv`` or ``unsetenv``, sorted."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in names:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"line {node.lineno}: from os import {a.name}" for a in node.names if a.name in names]
    return sorted(found)


def test_no_gateway_module_but_config_reads_the_environment() -> None:
    config = ROOT / "gateway" / "config.py"
    reads = {
        path.relative_to(ROOT).as_posix(): hits
        for path in sorted((ROOT / "gateway").rglob("*.py"))
        if path != config and (hits := _environment_reads(path.read_text(encoding="utf-8")))
    }
    assert reads == {}


def test_the_environment_check_finds_each_kind_of_read() -> None:
    source = "import os\nfrom os import getenv\nA = os.environ.get('X')\nB = getenv('Y')\n"
    assert _environment_reads(source) == [
        "line 2: from os import getenv",
        "line 3: .environ",
        "line 4: getenv",
    ]
