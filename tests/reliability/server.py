"""A ``poolproof serve`` subprocess on 127.0.0.1 that tests can SIGKILL and restart."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``poolproof serve`` for an instance directory (database, master key, gateway key side by side)."""

    def __init__(self, db: Path, master_key: Path, **env: str) -> None:
        self.db, self.master_key, self.env = db, master_key, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {**os.environ, "POOLPROOF_RATE_LIMIT_PER_SECOND": "0", **self.env}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from gateway.cli import main; main()",
                "serve",
                "--db",
                str(self.db),
                "--master-key-file",
                str(self.master_key),
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.kill()
        raise AssertionError("server did not start")

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None
