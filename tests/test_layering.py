"""The layering of the three packages, read statically from their import statements.

* No module imports another module's ``_private`` name: not ``from m import _x``, not ``m._x``
  through an imported module, not a ``_private`` module of another package. A package's own
  ``_private`` modules (its internal API, e.g. ``proofs._ipa``) are open to that package only.
* No import cycle among a package's modules (imports anywhere in a module count, except under
  ``if TYPE_CHECKING:``; ``from pkg import name`` is an import of ``pkg.name`` when that is a
  module, else of ``pkg`` itself).

``PRIVATE_NAME_PACKAGES`` and ``CYCLE_PACKAGES`` list the packages each check covers.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("proofs", "policies", "gateway")
#: The packages whose modules must not use each other's ``_private`` names, each a test parameter.
PRIVATE_NAME_PACKAGES = [
    pytest.param("proofs", id="proofs"),
    pytest.param("policies", id="policies"),
    pytest.param("gateway", id="gateway"),
]
#: The packages that must have no import cycle among their modules, each a test parameter.
CYCLE_PACKAGES = [
    pytest.param("proofs", id="proofs"),
    pytest.param("policies", id="policies"),
    pytest.param("gateway", id="gateway"),
]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_files() -> dict[str, Path]:
    """Every first-party module by dotted name (a package by its own name, for its ``__init__``)."""
    out: dict[str, Path] = {}
    for package in FIRST_PARTY:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _module_files()


@dataclass(frozen=True)
class Import:
    """One imported thing: ``module`` (a first-party module) and, for ``from`` imports, ``name``."""

    line: int
    module: str
    name: str | None


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(importer: str, level: int, module: str | None) -> str:
    """The absolute module of a (possibly relative) ``from`` import in ``importer``."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """Ids of the nodes under ``if TYPE_CHECKING:`` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            if name == "TYPE_CHECKING":
                skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def _parse(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"), str(MODULES[module]))


def imports_of(module: str) -> Iterator[Import]:
    """The first-party imports of ``module``, resolved to absolute names."""
    tree = _parse(module)
    skipped = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield Import(node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.level, node.module)
            if base not in MODULES:
                continue
            for alias in node.names:
                yield Import(node.lineno, base, alias.name)


def _module_aliases(module: str) -> dict[str, str]:
    """Local names in ``module`` bound to first-party modules by its imports."""
    aliases: dict[str, str] = {}
    tree = _parse(module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.level, node.module)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in MODULES:
                    aliases[alias.asname or alias.name] = target
    return aliases


def _top(module: str) -> str:
    return module.split(".")[0]


def _private_module_of_another_package(importer: str, module: str) -> bool:
    return _top(importer) != _top(module) and any(_is_private(part) for part in module.split("."))


def private_imports(importer: str) -> list[str]:
    """Every use of another module's ``_private`` name in ``importer``, as ``path:line: what``."""
    where = MODULES[importer].relative_to(ROOT)
    found: list[str] = []
    for imp in imports_of(importer):
        if _private_module_of_another_package(importer, imp.module):
            found.append(f"{where}:{imp.line}: imports {imp.module}, internal to another package")
            continue
        if imp.name is None or not _is_private(imp.name):
            continue
        target = f"{imp.module}.{imp.name}"
        if target in MODULES:
            if _top(target) != _top(importer):
                found.append(f"{where}:{imp.line}: imports {target}, internal to another package")
            continue
        found.append(f"{where}:{imp.line}: from {imp.module} import {imp.name}")
    aliases = _module_aliases(importer)
    for node in ast.walk(_parse(importer)):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        module = aliases.get(node.value.id)
        if module is None or not _is_private(node.attr):
            continue
        target = f"{module}.{node.attr}"
        if target in MODULES and _top(target) == _top(importer):
            continue
        found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr} (a private name of {module})")
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        if _top(module) != package:
            continue
        edges = graph.setdefault(module, set())
        for imp in imports_of(module):
            target = imp.module
            if imp.name is not None and f"{imp.module}.{imp.name}" in MODULES:
                target = f"{imp.module}.{imp.name}"
            if _top(target) == package and target != module:
                edges.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
                continue
            if child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


# -- the checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", PRIVATE_NAME_PACKAGES)
def test_no_module_imports_another_modules_private_name(package: str) -> None:
    found = [line for module in MODULES if _top(module) == package for line in private_imports(module)]
    assert not found, "private names used across modules:\n" + "\n".join(found)


@pytest.mark.parametrize("package", CYCLE_PACKAGES)
def test_no_import_cycle_among_the_packages_modules(package: str) -> None:
    found = cycles(import_graph(package))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


# -- the checker itself ------------------------------------------------------------------------------


def test_cycle_finder_finds_a_cycle_and_only_the_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_cycle_finder_accepts_a_diamond() -> None:
    assert cycles({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) == []


def test_private_name_checker_sees_every_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A throwaway package laid out like ours: each line of `user` is a violation but the last two.
    files = {
        "proofs/__init__.py": "",
        "proofs/lib.py": "_secret = 1\npublic = 2\n",
        "proofs/_internal.py": "helper = 3\n",
        "gateway/__init__.py": "",
        "gateway/user.py": (
            "from proofs.lib import _secret\n"
            "from proofs import lib\n"
            "x = lib._secret\n"
            "from proofs._internal import helper\n"
            "from proofs import _internal\n"
            "from proofs.lib import public\n"
            "from . import __name__ as n\n"
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "ROOT", tmp_path)
    monkeypatch.setattr(this, "MODULES", _module_files())
    found = private_imports("gateway.user")
    assert [line.split(":")[1] for line in found] == ["1", "4", "5", "3"], found
