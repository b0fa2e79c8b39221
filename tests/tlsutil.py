"""A throwaway PKI for TLS tests: a CA, a loopback server certificate it signed, and an unrelated CA.

Made with the ``openssl`` command line tool so the tests need no extra Python package; the tests that
need it skip when it is missing. EC keys keep generation to a few milliseconds.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

_DAYS = "2"  # the certificates only have to outlive one test session
_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
"""


@dataclass(frozen=True, slots=True)
class Pki:
    ca: Path  # PEM certificate of the CA that signed ``cert``: what a client should trust
    other_ca: Path  # PEM certificate of a CA that signed nothing here: trusting it must fail
    cert: Path  # server certificate for 127.0.0.1 / localhost
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", key.name, "-out", cert.name, "-days", _DAYS, "-subj", f"/CN=newsmon {name}"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
        cwd=directory,
    )
    return cert, key


def make_pki(directory: Path) -> Pki:
    """Create the PKI in ``directory``; skips the calling test when ``openssl`` is not installed."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line tool is needed to make test certificates")
    ca, ca_key = _make_ca(directory, "test-ca")
    other_ca, _ = _make_ca(directory, "other-ca")
    (directory / "server.ext").write_text(_SERVER_EXTENSIONS)
    _openssl(
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"),
        cwd=directory,
    )
    _openssl(
        *("x509", "-req", "-in", "server.csr", "-CA", ca.name, "-CAkey", ca_key.name, "-set_serial", "2"),
        *("-days", _DAYS, "-extfile", "server.ext", "-out", "server.pem"),
        cwd=directory,
    )
    return Pki(ca=ca, other_ca=other_ca, cert=directory / "server.pem", key=directory / "server.key")
