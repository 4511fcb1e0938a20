"""Every SQL statement of the gateway lives in ``gateway/storage/``.

Read statically: outside ``gateway/storage/`` no module of ``gateway/`` holds SQL in a string literal
(a ``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``, ``CREATE``/``DROP``/``ALTER`` of a schema object,
``PRAGMA``, ``BEGIN``/``COMMIT``/``ROLLBACK``) or calls a connection's ``execute``, ``executemany`` or
``executescript``. Docstrings and comments may speak of SQL; they are not statements.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "gateway"
STORAGE = GATEWAY / "storage"

#: Where SQL may appear outside ``gateway/storage/``, as ``path: why``. Empty: nowhere.
ALLOWED: dict[str, str] = {}

SQL = re.compile(
    r"^\s*(?:"
    r"SELECT\s.+\sFROM\s|INSERT\s+(?:OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
    r"|(?:CREATE|DROP|ALTER)\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)\s"
    r"|PRAGMA\s|BEGIN(?:\s+IMMEDIATE|\s+EXCLUSIVE)?\s*$|COMMIT\s*$|ROLLBACK\s*$"
    r")",
    re.IGNORECASE | re.DOTALL,
)
EXECUTE_METHODS = {"execute", "executemany", "executescript"}


def _modules() -> list[Path]:
    return sorted(p for p in GATEWAY.rglob("*.py") if STORAGE not in p.parents)


def _docstring_ids(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def sql_in(source: str, where: str = "<source>") -> list[str]:
    """Every SQL string literal and ``execute``-family call in ``source``, as ``where:line: what``."""
    tree = ast.parse(source, where)
    docstrings = _docstring_ids(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in EXECUTE_METHODS:
                found.append(f"{where}:{node.lineno}: calls .{node.func.attr}()")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if SQL.match(node.value):
                found.append(f"{where}:{node.lineno}: SQL text {node.value[:60]!r}")
        elif isinstance(node, ast.JoinedStr):
            # A formatted value stands for some text (a column list, a condition).
            text = "".join(v.value if isinstance(v, ast.Constant) else " x " for v in node.values)
            if SQL.match(text):
                found.append(f"{where}:{node.lineno}: SQL text {text[:60]!r}")
    return found


@pytest.mark.parametrize(
    "source",
    [
        'conn.execute("SELECT 1")',
        'db.conn.executemany(q, rows)',
        'c.executescript(s)',
        'Q = "SELECT id FROM pools ORDER BY id"',
        'Q = "INSERT OR IGNORE INTO pool_access (a) VALUES (?)"',
        'Q = "update pools set x = 1"',
        'Q = "DELETE FROM seal_chunks WHERE job_id = ?"',
        'Q = "CREATE TABLE IF NOT EXISTS t (a)"',
        'Q = f"SELECT {cols} FROM seal_jobs WHERE id = ?"',
        'Q = "PRAGMA integrity_check"',
    ],
)
def test_the_check_finds_sql(source: str) -> None:
    assert sql_in(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Reads ``SELECT`` results; INSERT INTO nothing here."""',
        'MESSAGE = "select a pool first"',
        'HELP = "update the settings, then seal again"',
        'LABEL = "delete"',
        'x = parties.insert_grant(conn, "P1", "inv1", now)',
    ],
)
def test_the_check_lets_prose_and_storage_calls_be(source: str) -> None:
    assert sql_in(source) == []


def test_no_sql_outside_gateway_storage() -> None:
    found: list[str] = []
    for path in _modules():
        where = str(path.relative_to(ROOT))
        if where not in ALLOWED:
            found += sql_in(path.read_text(encoding="utf-8"), where)
    assert found == [], "SQL outside gateway/storage/ (move it into a storage function):\n" + "\n".join(found)


def test_every_allowed_module_exists_and_still_needs_it() -> None:
    for where in ALLOWED:
        path = ROOT / where
        assert path.is_file(), f"{where} is allowed SQL but does not exist"
        assert sql_in(path.read_text(encoding="utf-8"), where), f"{where} no longer needs its allowance"
