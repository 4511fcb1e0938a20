"""README.md is a test: its "Running the gateway" block, and its demo and audit lines, run as written.

Each line runs in bash, in a fresh temporary folder with ``$POOLPROOF_HOME`` pointing into it, against a
real ``poolproof serve`` on 127.0.0.1 (the ``serve ... &`` line, started in the background). What the test
changes, and only this: the port 8080 becomes a free port (``$POOLPROOF_URL`` points there too), and a
``# → $NAME`` comment stores what that line printed (the ``ppk_…`` of an ``API key for`` line, else the
whole output) in the environment of the following lines, as the README tells a reader to do by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PLACEHOLDER = re.compile(r"#\s*→\s*\$([A-Z][A-Z0-9_]*)\s*$")
API_KEY_LINE = re.compile(r"^API key for .*?(ppk_[A-Za-z0-9_\-]+)\s*$", re.M)
COMMAND_TIMEOUT_S = 600


@dataclass(frozen=True)
class Step:
    """One README line: the command as bash runs it, and the placeholder it sets (if any)."""

    command: str
    sets: str | None = None

    @property
    def background(self) -> bool:
        return self.command.endswith("&")


def fenced_block(markdown: str, heading: str, index: int = 0) -> str:
    """The ``index``-th ```bash block under ``heading`` (up to the next heading of the same level)."""
    level = heading.split(" ", 1)[0]
    start = markdown.index(heading + "\n")
    rest = markdown[start + len(heading) + 1 :]
    end = re.search(rf"^{re.escape(level)} ", rest, re.M)
    section = rest[: end.start()] if end else rest
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.M | re.S)
    return str(blocks[index])


def steps(block: str) -> list[Step]:
    """The commands of a block: comment lines dropped, trailing comments cut, placeholders read."""
    out = []
    for raw in block.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = PLACEHOLDER.search(line)
        command = re.sub(r"\s{2,}#.*$", "", line).strip()
        out.append(Step(command, marker.group(1) if marker else None))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Shell:
    """Runs README lines one by one, carrying the working folder and the placeholders between them."""

    cwd: Path
    env: dict[str, str]
    port: int
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def run(self, step: Step) -> str:
        command = step.command.replace("8080", str(self.port))
        self.transcript.append(f"$ {command}")
        if step.background:
            self._start(command.rstrip("&").strip())
            return ""
        if command.startswith("cd "):
            out = self._bash(f"{command} && pwd")
            self.cwd = Path(out.strip().splitlines()[-1])
            return out
        out = self._bash(command)
        if step.sets:
            key = API_KEY_LINE.search(out)
            self.env[step.sets] = key.group(1) if key else out.strip()
            assert self.env[step.sets], f"{command!r} printed nothing for ${step.sets}"
        return out

    def _bash(self, command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        self.transcript.append(done.stdout + done.stderr)
        assert done.returncode == 0, "\n".join(self.transcript[-12:])
        return done.stdout

    def _start(self, command: str) -> None:
        log = (self.cwd / "serve.log").open("wb")
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.background.append(proc)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (self.cwd / "serve.log").read_text(errors="replace")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{command!r} did not listen on port {self.port} within 120 s")

    def close(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.fixture
def shell(tmp_path: Path) -> object:
    scripts = Path(sys.executable).parent
    assert shutil.which("poolproof", path=str(scripts)), "the package is not installed (pip install -e .)"
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("POOLPROOF_") or k in ("POOLPROOF_SHARED",)
    }
    env.update(
        PATH=f"{scripts}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path / "home"),
        POOLPROOF_HOME=str(tmp_path / "instance"),
        POOLPROOF_URL=f"http://127.0.0.1:{port}",
        POOLPROOF_RATE_LIMIT_PER_SECOND="0",
    )
    (tmp_path / "work").mkdir()
    sh = Shell(cwd=tmp_path / "work", env=env, port=port)
    yield sh
    sh.close()


def test_the_readme_blocks_are_found_and_read_as_documented() -> None:
    walkthrough = steps(fenced_block(README.read_text(encoding="utf-8"), "## Running the gateway"))
    assert walkthrough[0].command == 'cd "$(poolproof home)"'
    assert [s.command for s in walkthrough if s.background] == ["poolproof serve --port 8080 &"]
    assert {s.sets for s in walkthrough if s.sets} >= {"ACME_KEY", "FUND1_KEY", "AUDIT1_KEY", "BOB_KEY"}
    used = set(re.findall(r"\$([A-Z][A-Z0-9_]*)", " ".join(s.command for s in walkthrough)))
    assert used <= {s.sets for s in walkthrough if s.sets}, "a $NAME used before any line sets it"
    commands = " ".join(s.command for s in walkthrough)
    for role_step in ("--role platform", "--role investor", "--role auditor", "--role borrower"):
        assert role_step in commands
    for check in ("poolproof claim", "verify-claim", "verify-snapshot", "verify-inclusion"):
        assert check in commands


def test_the_running_the_gateway_block_runs_as_written(shell: Shell, tmp_path: Path) -> None:
    walkthrough = steps(fenced_block(README.read_text(encoding="utf-8"), "## Running the gateway"))
    outputs = {s.command: shell.run(s) for s in walkthrough}
    instance = tmp_path / "instance"
    assert shell.cwd == instance
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    for secret in ("master.key", "gateway.key", "acme.pem"):
        assert stat.S_IMODE((instance / secret).stat().st_mode) == 0o600, secret
    claim = next(out for cmd, out in outputs.items() if cmd.startswith("poolproof claim"))
    assert claim.startswith("OK: proven")
    verified = [out for cmd, out in outputs.items() if cmd.startswith("poolproof-audit verify")]
    assert [out.split("\n", 1)[0] for out in verified] == [
        "OK: snapshot verified",
        "OK: claim verified",
        "OK: inclusion verified",
    ]
    cosigned = next(out for cmd, out in outputs.items() if cmd.startswith("poolproof post"))
    assert '"name": "audit1"' in cosigned
    claim_doc = json.loads((instance / "claim.json").read_text(encoding="utf-8"))
    assert len(claim_doc["cosignatures"]) == 1
    submitted = next(out for cmd, out in outputs.items() if cmd.startswith("poolproof submit"))
    assert "1,000 loans" in submitted
    assert "signature verified: True" in submitted
    assert not list((tmp_path / "work").iterdir()), "the walkthrough wrote into the folder it started in"

    # "More commands": in the same folder, then the Lending Club import from the checkout.
    markdown = README.read_text(encoding="utf-8")
    more = {s.command: shell.run(s) for s in steps(fenced_block(markdown, "## Running the gateway", 1))}
    assert "CN1" in more["poolproof pools list"]
    assert "LC1" in more["poolproof pools create LC1 --platform acme --preset US_CONSUMER"]
    assert "audit1" in more["poolproof witnesses list"]
    shell.cwd = README.parent
    (imported,) = (shell.run(s) for s in steps(fenced_block(markdown, "## Running the gateway", 2)))
    assert "10,000" in imported or "10000" in imported, imported


def test_the_main_job_and_its_audit_lines_run_as_written(shell: Shell) -> None:
    text = README.read_text(encoding="utf-8")
    main_job = re.search(r"^python3\.11 -m venv .*?&& (poolproof demo [^#\n]*?)\s+# main job$", text, re.M)
    assert main_job is not None
    assert "DEMO OK" in shell.run(Step(main_job.group(1)))
    audit = steps(fenced_block(text, "## The main job"))
    assert len(audit) == 3
    for step in audit:
        assert shell.run(step).startswith("OK")
