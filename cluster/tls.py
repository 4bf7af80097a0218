"""TLS between client, scheduler and workers: a private CA and its certificates.

`clearance certs DIR` writes a certificate authority and one key and certificate for
each role (scheduler, worker, client). distributed then runs every connection over
TLS 1.2 or newer and requires a certificate signed by that CA at both ends, so a
process without one cannot join the cluster or submit work. distributed does not
check host names (`check_hostname` is off in `distributed.security`). The CA alone
decides who is trusted, so the CA key must stay with the operator.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import stat
from pathlib import Path
from typing import Sequence

from cluster.parts import FILE_MODE, make_private_dir
from cluster.settings import ConfigError

logger = logging.getLogger(__name__)

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
ROLES = ("scheduler", "worker", "client")
DEFAULT_HOSTS = ("localhost", "127.0.0.1")
DEFAULT_DAYS = 365


def role_files(folder: Path, role: str) -> tuple[Path, Path]:
    """Return the certificate and key paths of one role."""
    return folder / f"{role}.pem", folder / f"{role}-key.pem"


def _write_private(path: Path, data: bytes) -> None:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as handle:
        handle.write(data)


def _subject_alternative_names(hosts: Sequence[str]):
    from cryptography import x509

    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_certificates(folder: Path, hosts: Sequence[str] = DEFAULT_HOSTS,
                      days: int = DEFAULT_DAYS) -> list[Path]:
    """Write a CA and a key and certificate per role into `folder`; return the paths.

    Keys are ECDSA P-256. Every leaf certificate names `hosts` (DNS names or IP
    addresses) and serves both for accepting and for opening connections, since
    schedulers, workers and clients do both. Existing files are never overwritten.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hosts:
        raise ConfigError("give at least one host name or address for the certificates")
    names = [CA_CERT, CA_KEY] + [path.name for role in ROLES for path in role_files(folder, role)]
    existing = [name for name in names if (folder / name).exists()]
    if existing:
        raise ConfigError(f"{folder} already contains {', '.join(existing)}; choose a new folder")
    make_private_dir(folder)

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Clearance cluster CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    written = [folder / CA_CERT, folder / CA_KEY]
    _write_private(folder / CA_CERT, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(folder / CA_KEY, pem_key(ca_key))

    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"clearance-{role}")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(_subject_alternative_names(hosts), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = role_files(folder, role)
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        _write_private(key_path, pem_key(key))
        written += [cert_path, key_path]
    return written


def _existing(folder: Path, names: Sequence[Path]) -> None:
    if not folder.is_dir():
        raise ConfigError(f"TLS folder {folder} is not found; make one with `clearance certs {folder}`")
    for path in names:
        if not path.is_file():
            raise ConfigError(f"TLS folder {folder} has no {path.name}; make the certificates "
                              f"with `clearance certs DIR`")
        if path.name.endswith("-key.pem") and stat.S_IMODE(path.stat().st_mode) & 0o077:
            logger.warning("key %s can be read by other users; run chmod 600 on it", path)


def cluster_security(folder: str | Path):
    """Return the `Security` of a LocalCluster: every role's certificate, TLS required."""
    from distributed import Security

    folder = Path(folder)
    files = {role: role_files(folder, role) for role in ROLES}
    _existing(folder, [folder / CA_CERT] + [path for pair in files.values() for path in pair])
    options = {}
    for role, (cert, key) in files.items():
        options[f"tls_{role}_cert"] = str(cert)
        options[f"tls_{role}_key"] = str(key)
    return Security(require_encryption=True, tls_ca_file=str(folder / CA_CERT), **options)


def client_security(folder: str | Path):
    """Return the `Security` of a client joining a TLS scheduler."""
    from distributed import Security

    folder = Path(folder)
    cert, key = role_files(folder, "client")
    _existing(folder, [folder / CA_CERT, cert, key])
    return Security(require_encryption=True, tls_ca_file=str(folder / CA_CERT),
                    tls_client_cert=str(cert), tls_client_key=str(key))
