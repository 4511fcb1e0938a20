"""A real Dask cluster for tests: a scheduler and workers as subprocesses on 127.0.0.1, plaintext or
mutual TLS with a throw-away certificate authority made by pyca/cryptography."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one certificate authority and a certificate signed by it."""

    ca_file: Path
    cert: Path
    key: Path

    def cli_args(self) -> list[str]:
        return ["--tls-ca-file", str(self.ca_file), "--tls-cert", str(self.cert), "--tls-key", str(self.key)]

    def client_env(self) -> dict[str, str]:
        """Dask configuration for a client, as the documented environment variables."""
        return {
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(self.ca_file),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(self.cert),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(self.key),
            "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        }


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path, name: str, leaves: list[str]) -> dict[str, TlsFiles]:
    """A CA ``name`` and one certificate per entry of ``leaves`` (server and client auth, 127.0.0.1)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / f"{name}-ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    out = {}
    for leaf in leaves:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(leaf))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_file, key_file = directory / f"{name}-{leaf}.pem", directory / f"{name}-{leaf}-key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_file.chmod(0o600)
        out[leaf] = TlsFiles(ca_file, cert_file, key_file)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dask_cluster(workers: int = 2, tls: TlsFiles | None = None) -> Iterator[str]:
    """Start a scheduler and ``workers`` single-threaded workers; yield the scheduler address."""
    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or "dask"
    port = _free_port()
    scheme = "tls" if tls else "tcp"
    address = f"{scheme}://127.0.0.1:{port}"
    tls_args = tls.cli_args() if tls else []
    env = {**os.environ, "POOLPROOF_MSM_THREADS": "1", "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler_cmd = [dask, "scheduler", "--protocol", scheme, "--host", "127.0.0.1", "--port", str(port)]
    procs = [subprocess.Popen([*scheduler_cmd, "--no-dashboard", *tls_args], env=env, **quiet)]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        worker_cmd = [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"]
        for _ in range(workers):
            procs.append(subprocess.Popen([*worker_cmd, *tls_args], env=env, **quiet))
        from distributed import Client
        from distributed.security import Security

        security = (
            Security(tls_ca_file=str(tls.ca_file), tls_client_cert=str(tls.cert), tls_client_key=str(tls.key))
            if tls
            else None
        )
        with Client(address, security=security, timeout=60) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
