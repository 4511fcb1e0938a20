"""``policies`` stays pure: no Flask, no database, no gateway."""

import subprocess
import sys
import textwrap

FORBIDDEN = ("flask", "flask_smorest", "sqlite3", "sqlite_utils", "marshmallow", "gateway")


def test_policies_imports_without_flask_database_or_gateway() -> None:
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {FORBIDDEN!r}:
                    raise ImportError("forbidden import in policies/: " + name)
                return None
        sys.meta_path.insert(0, Block())
        import policies
        for m in pkgutil.walk_packages(policies.__path__, "policies."):
            importlib.import_module(m.name)
        policies.load_policy()
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _internal_imports() -> dict[str, list[tuple[str, str]]]:
    """For each module of ``policies``: the (module, name) pairs it imports from ``policies`` itself,
    wherever the import stands (top level, function body or ``TYPE_CHECKING`` block)."""
    import ast
    from pathlib import Path

    import policies

    root = Path(policies.__file__).parent
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(root.glob("*.py")):
        module = "policies" if path.stem == "__init__" else f"policies.{path.stem}"
        pairs: list[tuple[str, str]] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    target = f"policies.{node.module}" if node.module else "policies"
                elif node.module and (node.module == "policies" or node.module.startswith("policies.")):
                    target = node.module
                else:
                    continue
                pairs += [(target, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                pairs += [(a.name, "") for a in node.names if a.name.split(".")[0] == "policies"]
        found[module] = pairs
    return found


def test_policies_modules_import_one_another_without_a_cycle() -> None:
    graph = {m: {t for t, _ in pairs if t != m} for m, pairs in _internal_imports().items()}
    assert "policies.decision" in graph
    assert "policies.policy_file" in graph
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, "import cycle: " + " -> ".join((*path[path.index(m) :], m))
        if m in done:
            return
        for t in sorted(graph.get(m, ())):
            visit(t, (*path, m))
        done.add(m)

    for m in sorted(graph):
        visit(m, ())


def test_no_policies_module_imports_another_modules_private_name() -> None:
    crossings = [
        f"{m} imports {name} from {t}"
        for m, pairs in _internal_imports().items()
        for t, name in pairs
        if name.startswith("_") and t != m
    ]
    assert crossings == []
