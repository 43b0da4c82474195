"""A local CA and a server certificate for the data servers, so they speak what the AWS ones speak: Postgres with
SSL (RDS, ``sslmode=require``) and Redis with TLS (ElastiCache in-transit encryption, ``rediss://`` verified).

Containers trust the local CA the way images trust Amazon's: the runner gives them a CA bundle that is the system
bundle plus this CA (``SSL_CERT_FILE``). See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    bundle: Path  # system CAs + the local CA


def ensure(directory: Path) -> TlsFiles:
    """Create the CA, the server certificate (localhost, 127.0.0.1) and the bundle once; reuse them after."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    files = TlsFiles(
        directory / "ca.crt", directory / "server.crt", directory / "server.key", directory / "bundle.crt"
    )
    if all(p.exists() for p in (files.ca, files.cert, files.key, files.bundle)):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airflow-platform local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files.ca.write_bytes(ca.public_bytes(pem))
    files.cert.write_bytes(cert.public_bytes(pem))
    files.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(files.key, 0o600)
    system = next((Path(p) for p in SYSTEM_BUNDLES if Path(p).exists()), None)
    files.bundle.write_bytes((system.read_bytes() if system else b"") + ca.public_bytes(pem))
    return files
