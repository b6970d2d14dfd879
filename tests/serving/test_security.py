"""Transport security with real processes and certificates made in the test: TLS and a bearer
token on the gRPC server, mutual TLS, the gateway talking TLS + token to it while requiring its
own token, and the refusal to listen beyond loopback unprotected."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from grpc_server.client import ForecastClient
from grpc_server.registry import load_project_catalog
from grpc_server.security import AUTH_TOKEN_ENV, GRPC_TOKEN_ENV, TLSFiles, check_exposure
from rossmann.v1 import forecast_pb2 as pb
from rossmann.v1 import forecast_pb2_grpc as pbg
from tests.serving import processes as procs
from tests.serving.conftest import FAKE_DATASET, save_version, version_ts
from tests.serving.fake_forecaster import FakeForecaster

pytestmark = pytest.mark.slow
ROWS = [{"Store": 1, "Date": "2015-08-01", "Promo": 0, "StateHoliday": "0", "SchoolHoliday": 0}]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(subject: str, key, issuer_cert, issuer_key, ca: bool, server: bool = False):
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject))
               .issuer_name(issuer_cert.subject if issuer_cert is not None else _name(subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())


def _write(directory: Path, name: str, cert, key) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate it signed,
    and a client certificate from another (untrusted) CA."""
    d = tmp_path_factory.mktemp("pki")
    out: dict[str, Path] = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("test CA", ca_key, None, None, ca=True)
    out["ca"], _ = _write(d, "ca", ca, ca_key)
    for name, server in (("server", True), ("client", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        out[f"{name}_cert"], out[f"{name}_key"] = _write(
            d, name, _issue(name, key, ca, ca_key, ca=False, server=server), key)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_ca = _issue("rogue CA", rogue_key, None, None, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    out["rogue_cert"], out["rogue_key"] = _write(
        d, "rogue", _issue("rogue client", key, rogue_ca, rogue_key, ca=False), key)
    return out


@pytest.fixture()
def served(fake_workspace: Path) -> Path:
    catalog, _ = load_project_catalog(fake_workspace)
    save_version(catalog, FAKE_DATASET, FakeForecaster(), version_ts(0))
    return fake_workspace


def one_row() -> pb.PredictRequest:
    return pb.PredictRequest(rows=[pb.StoreDay(store=1, date="2015-08-01", state_holiday="0")])


def test_tls_and_tokens_on_grpc_and_the_gateway(served: Path, pki, tmp_path: Path) -> None:
    token_file = tmp_path / "grpc.token"
    token_file.write_text("s3cret-grpc-token\n")
    slog, glog = tmp_path / "server.log", tmp_path / "gateway.log"
    server, gport = procs.start_server(
        served, slog, "--tls-cert", str(pki["server_cert"]), "--tls-key", str(pki["server_key"]),
        "--auth-token-file", str(token_file))
    gateway = None
    target = f"127.0.0.1:{gport}"
    ca_only = TLSFiles(ca=pki["ca"])
    try:
        creds = grpc.ssl_channel_credentials(pki["ca"].read_bytes())
        procs.wait_serving(server, gport, slog, credentials=creds)  # health needs no token

        with grpc.insecure_channel(target) as plain:  # plaintext to a TLS server
            with pytest.raises(grpc.RpcError) as err:
                pbg.ForecastServiceStub(plain).Predict(one_row(), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with grpc.secure_channel(target, creds) as channel:
            stub = pbg.ForecastServiceStub(channel)
            for metadata in ((), (("authorization", "Bearer wrong"),),
                             (("authorization", "s3cret-grpc-token"),)):
                for call, request in ((stub.Predict, one_row()),
                                      (stub.GetModelInfo, pb.GetModelInfoRequest())):
                    with pytest.raises(grpc.RpcError) as err:
                        call(request, timeout=10, metadata=metadata)
                    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                next(reflection.ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with ForecastClient(target, tls=ca_only, token="s3cret-grpc-token") as client:
            import pandas as pd

            assert client.predict(pd.DataFrame(ROWS))["Sales"].iloc[0] == 106.0
            assert client.info()[0]["status"] == "SERVING"

        # the gateway: HTTPS with its own token, TLS + the gRPC token towards the server
        gateway, hport = procs.start_gateway(
            gport, glog, "--tls-cert", str(pki["server_cert"]), "--tls-key",
            str(pki["server_key"]), "--grpc-tls-ca", str(pki["ca"]),
            env={AUTH_TOKEN_ENV: "rest-token", GRPC_TOKEN_ENV: "s3cret-grpc-token"})
        procs.wait_http(gateway, hport, glog, scheme="https", verify=str(pki["ca"]))
        with httpx.Client(base_url=f"https://127.0.0.1:{hport}", verify=str(pki["ca"]),
                          timeout=30) as http:
            assert http.get("/healthz").status_code == 200  # probes need no token
            resp = http.post("/predict", json={"instances": ROWS})
            assert resp.status_code == 401 and resp.json()["code"] == 16
            assert resp.headers["www-authenticate"] == "Bearer"
            assert http.get("/model").status_code == 401
            auth = {"Authorization": "Bearer rest-token"}
            resp = http.post("/predict", json={"instances": ROWS}, headers=auth)
            assert resp.status_code == 200, resp.text
            assert resp.json()["predictions"][0]["Sales"] == 106.0
            assert http.get("/model", headers=auth).json()["models"][0]["status"] == "SERVING"
    finally:
        if gateway is not None:
            assert procs.stop(gateway) == 0, glog.read_text()
        assert procs.stop(server) == 0, slog.read_text()
    assert "s3cret" not in slog.read_text() + glog.read_text()  # tokens never logged


def _metrics_reachable(url: str, ca: Path | None = None,
                       cert: tuple[Path, Path] | None = None) -> bool:
    """GET /metrics (over TLS trusting `ca`, presenting `cert` if given): served with metrics?"""
    verify: bool | ssl.SSLContext = True
    if ca is not None:
        verify = ssl.create_default_context(cafile=str(ca))
        if cert is not None:
            verify.load_cert_chain(*map(str, cert))
    try:
        resp = httpx.get(url, timeout=10, verify=verify)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and "rossmann_model_version_info{" in resp.text


def test_mutual_tls_requires_a_client_certificate_from_the_ca(served: Path, pki,
                                                              tmp_path: Path) -> None:
    """... on the gRPC port and on the Prometheus metrics port alike."""
    slog = tmp_path / "server.log"
    mport = procs.free_port()
    server, gport = procs.start_server(
        served, slog, "--tls-cert", str(pki["server_cert"]), "--tls-key", str(pki["server_key"]),
        "--tls-client-ca", str(pki["ca"]), "--metrics-port", str(mport))
    target = f"127.0.0.1:{gport}"
    try:
        good = TLSFiles(cert=pki["client_cert"], key=pki["client_key"], ca=pki["ca"])
        procs.wait_serving(server, gport, slog, credentials=grpc.ssl_channel_credentials(
            pki["ca"].read_bytes(), pki["client_key"].read_bytes(),
            pki["client_cert"].read_bytes()))
        for tls in (TLSFiles(ca=pki["ca"]),  # no client certificate
                    TLSFiles(cert=pki["rogue_cert"], key=pki["rogue_key"], ca=pki["ca"])):
            with ForecastClient(target, tls=tls, timeout=10) as client:
                with pytest.raises(grpc.RpcError) as err:
                    client.info()
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with ForecastClient(target, tls=good) as client:
            assert client.info()[0]["status"] == "SERVING"
        https = f"https://127.0.0.1:{mport}/metrics"
        assert _metrics_reachable(https, pki["ca"], (pki["client_cert"], pki["client_key"]))
        assert not _metrics_reachable(f"http://127.0.0.1:{mport}/metrics")  # no plaintext
        assert not _metrics_reachable(https, pki["ca"])  # no client certificate
        assert not _metrics_reachable(https, pki["ca"], (pki["rogue_cert"], pki["rogue_key"]))
    finally:
        assert procs.stop(server) == 0, slog.read_text()


@pytest.mark.parametrize("command", ["serve", "gateway"])
def test_non_loopback_host_without_tls_or_token_is_refused(command: str, tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "grpc_server", command, "--host", "0.0.0.0", "--port",
         str(procs.free_port()), *(["--project-path", str(tmp_path)] if command == "serve"
                                   else [])],
        capture_output=True, text=True, timeout=120, cwd=procs.REPO_ROOT,
        env={k: v for k, v in __import__("os").environ.items()
             if k not in (AUTH_TOKEN_ENV, GRPC_TOKEN_ENV)},
    )
    assert run.returncode != 0
    assert "refusing to listen on 0.0.0.0 (not loopback) without TLS" in run.stderr, run.stderr


def test_exposure_rule() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        check_exposure("serve", host, tls=False, token=False, insecure=False)
    for ok in (dict(tls=True, token=False, insecure=False),
               dict(tls=False, token=True, insecure=False),
               dict(tls=False, token=False, insecure=True)):
        check_exposure("serve", "0.0.0.0", **ok)
    with pytest.raises(SystemExit, match="--insecure"):
        check_exposure("gateway", "10.1.2.3", tls=False, token=False, insecure=False)


def test_metrics_of_a_token_only_server_stay_on_loopback() -> None:
    """A scrape cannot carry the bearer token: without TLS, metrics are never exposed beyond
    127.0.0.1 even when the gRPC port is (nothing here binds beyond loopback)."""
    from grpc_server.metrics import ServerMetrics, serve_metrics

    registry = ServerMetrics().registry
    for host, token in (("0.0.0.0", True), ("127.0.0.1", True), ("127.0.0.1", False)):
        server = serve_metrics(registry, host, procs.free_port(), tls=None, token=token)
        try:
            assert server.server_address[0] == "127.0.0.1"
            port = server.server_address[1]
            assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 200
        finally:
            server.shutdown()
            server.server_close()
