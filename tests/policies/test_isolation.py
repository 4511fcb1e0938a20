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
