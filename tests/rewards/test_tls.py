"""TLS and mTLS between the client and a verifier service, with certificates made by openssl."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from contract.schema import Sample, Status
from rewards.client import VerifierClient
from rewards.math.service import MathVerifier
from serving.client import ClientOptions
from serving.tls import TLSFiles
from tests.conftest import ServerThread


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=verity-test-ca", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext", cwd=d)
    return d


def score_one(address, options):
    async def run():
        client = VerifierClient([address], options)
        try:
            return (await client.score([Sample(id="t", reference={"answer": "2"}, response="\\boxed{2}")]))[0]
        finally:
            await client.close()

    return asyncio.run(run())


def test_tls(pki):
    server = ServerThread(MathVerifier(workers=1), tls=TLSFiles(str(pki / "server.pem"), str(pki / "server.key"))).start()
    try:
        assert score_one(server.address, ClientOptions(tls_ca=str(pki / "ca.pem"))).status is Status.OK
        plain = score_one(server.address, ClientOptions(retries=0, deadline_s=5))
        assert plain.status is Status.ERROR  # a plaintext client cannot talk to a TLS server
    finally:
        server.stop()


def test_mtls_requires_a_client_certificate(pki):
    tls = TLSFiles(str(pki / "server.pem"), str(pki / "server.key"), client_ca=str(pki / "ca.pem"))
    server = ServerThread(MathVerifier(workers=1), tls=tls).start()
    try:
        with_cert = ClientOptions(tls_ca=str(pki / "ca.pem"), tls_cert=str(pki / "client.pem"), tls_key=str(pki / "client.key"))
        assert score_one(server.address, with_cert).status is Status.OK
        without = score_one(server.address, ClientOptions(tls_ca=str(pki / "ca.pem"), retries=0, deadline_s=5))
        assert without.status is Status.ERROR
    finally:
        server.stop()
