"""TLS: `clearance certs` makes a CA and certificates, the main job runs over TLS, and
a process without a certificate of that CA is refused."""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import stat
import time
from pathlib import Path

import pytest
from dask.distributed import Client, LocalCluster
from distributed.comm.core import CommClosedError, FatalCommClosedError

from cluster.cli import EXIT_OK, EXIT_USAGE, main
from cluster.run import open_client, run_job
from cluster.settings import RunConfig
from cluster.tls import CA_CERT, ROLES, client_security, cluster_security, role_files
from engine.generate import write_research_file
from tests.helpers import output_files

COMPUTE_AT = datetime.date(2020, 1, 1)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tls") / "certs"
    assert main(["certs", str(folder)]) == EXIT_OK
    return folder


@pytest.fixture(scope="module")
def stranger_certificates(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tls") / "stranger"
    assert main(["certs", str(folder)]) == EXIT_OK
    return folder


@pytest.fixture(scope="module")
def tls_cluster(certificates):
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", security=cluster_security(certificates),
                      protocol="tls://") as cluster:
        yield cluster


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_certs_files_private_and_signed(certificates):
    assert stat.S_IMODE(certificates.stat().st_mode) == 0o700
    for path in certificates.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    for role in ROLES:
        cert, key = role_files(certificates, role)
        context = ssl.create_default_context(cafile=str(certificates / CA_CERT))
        context.load_cert_chain(str(cert), str(key))


def test_certs_never_overwrite(certificates, capsys):
    before = {p.name: p.read_bytes() for p in certificates.iterdir()}
    assert main(["certs", str(certificates)]) == EXIT_USAGE
    assert "already contains" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in certificates.iterdir()} == before


def test_main_job_over_tls(tls_cluster, certificates, scheduler_address, tmp_path):
    source = tmp_path / "input.csv"
    write_research_file(str(source), rows=3_000, counties=["FRESNO", "YOLO"], seed=4)
    assert tls_cluster.scheduler_address.startswith("tls://")

    def config(out, scheduler, tls):
        return RunConfig(inputs=[str(source)], out=str(out), compute_at=COMPUTE_AT,
                         scheduler=scheduler, tls=tls, progress=False)

    outcome = run_job(config(tmp_path / "tls", tls_cluster.scheduler_address, str(certificates)))
    run_job(config(tmp_path / "plain", scheduler_address, None))

    assert outcome.rows_read == 3_000
    assert output_files(tmp_path / "tls") == output_files(tmp_path / "plain")


def test_local_cluster_with_tls_option(certificates):
    config = RunConfig(inputs=[], out="unused", tls=str(certificates), workers=1)
    with open_client(config) as client:
        assert client.scheduler.address.startswith("tls://")
        assert all(address.startswith("tls://") for address in client.scheduler_info()["workers"])
        assert client.submit(sum, [1, 2]).result() == 3


def test_client_without_certificate_refused(tls_cluster, certificates):
    records = Records()
    listener = logging.getLogger("distributed.comm.tcp")
    listener.addHandler(records)
    host, port = tls_cluster.scheduler_address.removeprefix("tls://").rsplit(":", 1)
    # The client trusts the cluster's CA but offers no certificate of its own.
    context = ssl.create_default_context(cafile=str(certificates / CA_CERT))
    context.check_hostname = False
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw, \
                context.wrap_socket(raw) as connection:
            # TLS 1.3 finishes the client's side of the handshake before the server
            # checks the client, so the refusal shows on the first exchange.
            with pytest.raises(ssl.SSLError):
                connection.sendall(b"\x00" * 8)
                connection.recv(1)
        # The scheduler's thread may log the refusal after the client has seen it.
        deadline = time.monotonic() + 30
        while not rejected_for_no_certificate(records) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        listener.removeHandler(records)
    assert rejected_for_no_certificate(records)


def rejected_for_no_certificate(records) -> bool:
    return any("PEER_DID_NOT_RETURN_A_CERTIFICATE" in message for message in list(records.messages))


def test_client_of_other_ca_refused(tls_cluster, stranger_certificates):
    with pytest.raises(FatalCommClosedError, match="TLS certificate does not match"):
        Client(tls_cluster.scheduler_address, security=client_security(stranger_certificates),
               timeout="5s")


def test_plain_tcp_client_refused(tls_cluster):
    address = tls_cluster.scheduler_address.replace("tls://", "tcp://")
    with pytest.raises(CommClosedError):
        Client(address, timeout="5s")


def test_tls_option_missing_files(tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    source = tmp_path / "input.csv"
    write_research_file(str(source), rows=10, seed=1)
    code = main(["run", str(source), "--out", str(tmp_path / "out"), "--tls", str(folder),
                 "--scheduler", "tls://127.0.0.1:1", "--no-progress"])
    assert code == EXIT_USAGE
    assert f"TLS folder {folder} has no ca.pem" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
