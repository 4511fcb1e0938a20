"""How the HTTP routes and the command line are laid out: resources at module level, no private names
reached across modules, command-group modules that never import the entry point that mounts them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
API = sorted((ROOT / "gateway" / "api").glob("*.py"))
CLI = sorted((ROOT / "gateway" / "cli").glob("*.py"))
COMMAND_GROUPS = [p for p in CLI if p.name != "__init__.py"]


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports_from(path: Path) -> list[ast.ImportFrom]:
    return [n for n in ast.walk(_tree(path)) if isinstance(n, ast.ImportFrom)]


@pytest.mark.parametrize("path", API, ids=lambda p: p.name)
def test_route_modules_define_their_resources_at_module_level(path: Path) -> None:
    nested = [
        f"{inner.name} inside {outer.name} (line {inner.lineno})"
        for outer in ast.walk(_tree(path))
        if isinstance(outer, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(outer)
        if isinstance(inner, ast.ClassDef)
    ]
    assert nested == []


@pytest.mark.parametrize("path", API + CLI, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_private_name_is_imported_from_another_module(path: Path) -> None:
    private = [
        f"{node.module}.{alias.name} (line {node.lineno})"
        for node in _imports_from(path)
        if node.module != "__future__"
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []


@pytest.mark.parametrize("path", COMMAND_GROUPS, ids=lambda p: p.name)
def test_a_command_group_module_never_imports_the_entry_point(path: Path) -> None:
    entry = [
        f"line {node.lineno}"
        for node in _imports_from(path)
        if (node.level == 1 and node.module is None) or node.module == "gateway.cli"
    ]
    assert entry == []


@pytest.mark.parametrize("path", COMMAND_GROUPS, ids=lambda p: p.name)
def test_a_command_group_module_imports_on_its_own(path: Path) -> None:
    module = f"gateway.cli.{path.stem}"
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_the_entry_point_mounts_every_command() -> None:
    from gateway.cli import cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1].splitlines()
    commands = [line.split()[0] for line in listed if line.startswith("  ") and not line.startswith("   ")]
    assert commands == [
        "api-keys", "backup", "claim", "demo", "get", "grants", "home", "import", "init", "keygen",
        "keys", "parties", "policy", "pools", "post", "restore", "seal", "serve", "submit", "synth",
        "witnesses",
    ]  # fmt: skip
