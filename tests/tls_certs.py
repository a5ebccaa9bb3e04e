"""Certificates for the Ray TLS tests, made with the ``openssl`` command line (no Python crypto library).

``Pki(folder)`` holds a private CA; ``issue`` signs a certificate for a node or a client (the same key usage Ray's
nodes need: a Ray node presents its certificate both as a server and as a client), optionally with a validity
period in the past (``openssl ca -startdate/-enddate``, which OpenSSL 1.1 and 3.x both have). ``other_ca`` is an
unrelated CA, for "the client trusts the wrong CA".
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

OPENSSL = shutil.which("openssl")

_CA_CNF = """\
[ca]
default_ca = test_ca
[test_ca]
dir = {dir}
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir/issued
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[anything]
commonName = supplied
organizationName = optional
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
{san}
"""


def _openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL, "the openssl command line is needed"
    subprocess.run([OPENSSL, *args], cwd=str(cwd), check=True, capture_output=True, timeout=120)


def machine_addresses() -> List[str]:
    """This machine's own IPv4 addresses: the one Ray's GCS advertises (the address of the default route, found as
    Ray finds it) and the others the host names."""
    found: List[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("8.8.8.8", 80))  # no packet is sent: this picks the source address of the default route
            found.append(probe.getsockname()[0])
    except OSError:
        pass
    try:
        found.extend(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout
        found.extend(a for a in out.split() if ":" not in a)
    except (OSError, subprocess.TimeoutExpired):
        pass
    return list(dict.fromkeys(a for a in found if a and a != "127.0.0.1"))


class Pki:
    """A CA in ``folder`` (``ca.crt``) and the certificates it issues."""

    def __init__(self, folder: Path, name: str = "ray-preflight test CA"):
        self.dir = folder
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "issued").mkdir(exist_ok=True)
        (folder / "index.txt").write_text("")
        (folder / "serial").write_text("1000\n")
        self._config("")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={name}", "-config", "ca.cnf",
                 "-extensions", "ca_ext", "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)
        os.chmod(folder / "ca.key", 0o600)

    @property
    def ca(self) -> str:
        return str(self.dir / "ca.crt")

    def _config(self, san: str) -> None:
        (self.dir / "ca.cnf").write_text(_CA_CNF.format(dir=self.dir, san=f"subjectAltName = {san}" if san else ""))

    def issue(self, name: str, ips: Iterable[str] = (), dns: Iterable[str] = (), days: int = 30,
              period: Optional[Tuple[str, str]] = None) -> Tuple[str, str]:
        """(certificate, key) for ``CN=name`` with those IP and DNS names; ``period`` = (start, end) as
        ``YYYYMMDDHHMMSSZ`` for a certificate valid only then (e.g. one that expired in 2020)."""
        san = ", ".join([f"IP:{ip}" for ip in ips] + [f"DNS:{d}" for d in dns])
        self._config(san)
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 cwd=self.dir)
        validity = ["-startdate", period[0], "-enddate", period[1]] if period else ["-days", str(days)]
        _openssl("ca", "-batch", "-config", "ca.cnf", "-extensions", "leaf_ext", "-notext", *validity, "-in", f"{name}.csr",
                 "-out", f"{name}.crt", cwd=self.dir)
        os.chmod(self.dir / f"{name}.key", 0o600)
        return str(self.dir / f"{name}.crt"), str(self.dir / f"{name}.key")


def tls_environment(cert: str, key: str, ca: str) -> dict:
    """The four variables Ray reads."""
    return {"RAY_USE_TLS": "1", "RAY_TLS_SERVER_CERT": cert, "RAY_TLS_SERVER_KEY": key, "RAY_TLS_CA_CERT": ca}
