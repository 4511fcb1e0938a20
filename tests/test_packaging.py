"""The auditor's package stays free of the gateway's dependencies."""

import subprocess
import sys
import textwrap

FORBIDDEN = ("flask", "flask_smorest", "sqlite3", "sqlite_utils", "marshmallow", "gateway", "policies")


def test_proofs_imports_without_gateway_dependencies() -> None:
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {FORBIDDEN!r}:
                    raise ImportError("forbidden import in proofs/: " + name)
                return None
        sys.meta_path.insert(0, Block())
        import proofs
        for m in pkgutil.walk_packages(proofs.__path__, "proofs."):
            importlib.import_module(m.name)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
