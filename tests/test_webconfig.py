"""TLS and basic auth from a web config file (exporter-toolkit format), with a throwaway CA made by the
openssl CLI: HTTPS scrapes, 401s, plain HTTP to the TLS port, mutual TLS, reload, validation."""

from __future__ import annotations

import base64
import http.client
import shutil
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import bcrypt
import pytest
from conftest import RunningDaemon

from memmond.config import ConfigError
from memmond.serve import webconfig

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI makes the test certificates")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=memmond test CA", cwd=d
    )
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            *ext,
            cwd=d,
        )
    return d


def _web_config(path: Path, pki: Path, password: str = "secret", mtls: bool = False) -> Path:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    text = f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
    if mtls:
        text += f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki / 'ca.crt'}\n"
    text += f"basic_auth_users:\n  prometheus: {hashed}\n"
    path.write_text(text)
    return path


def _https(port: int, pki: Path, auth: tuple[str, str] | None, client_cert: bool = False) -> tuple[int, dict, bytes]:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if client_cert:
        context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_https_with_basic_auth(tmp_path: Path, pki: Path) -> None:
    web = _web_config(tmp_path / "web.yml", pki)
    with RunningDaemon("--web.config.file", str(web), wait_ready=False) as daemon:
        daemon.wait_for(
            lambda: _try(lambda: _https(daemon.port, pki, ("prometheus", "secret"))[0] == 200), 10, "HTTPS answering"
        )
        status, _, body = _https(daemon.port, pki, ("prometheus", "secret"))
        assert status == 200 and b"memmond_samples_total" in body
        assert _https(daemon.port, pki, ("prometheus", "wrong"))[0] == 401
        assert _https(daemon.port, pki, ("nobody", "secret"))[0] == 401
        status, headers, _ = _https(daemon.port, pki, None)
        assert status == 401 and headers["www-authenticate"].startswith('Basic realm="memmond"')

        # Plain HTTP to the TLS port gets a plain 400 that says what went wrong, and fails for that client only.
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n")
        assert answer.endswith(b"Client sent an HTTP request to an HTTPS server.\n")
        # A handshake abandoned halfway closes that connection only.
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\xff\x01")
        assert _https(daemon.port, pki, ("prometheus", "secret"))[0] == 200

        # A reload with a new password applies to the next requests.
        _web_config(web, pki, password="rotated")
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: _https(daemon.port, pki, ("prometheus", "rotated"))[0] == 200, 5, "new password")
        assert _https(daemon.port, pki, ("prometheus", "secret"))[0] == 401


def test_mutual_tls_rejects_a_client_without_a_certificate(tmp_path: Path, pki: Path) -> None:
    web = _web_config(tmp_path / "web.yml", pki, mtls=True)
    with RunningDaemon("--web.config.file", str(web), wait_ready=False) as daemon:
        daemon.wait_for(
            lambda: _try(lambda: _https(daemon.port, pki, ("prometheus", "secret"), True)[0] == 200),
            10,
            "mTLS answering",
        )
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)):
            _https(daemon.port, pki, ("prometheus", "secret"), client_cert=False)
        assert _https(daemon.port, pki, ("prometheus", "secret"), client_cert=True)[0] == 200


def _try(check: object) -> bool:
    try:
        return bool(check())  # type: ignore[operator]
    except OSError:
        return False


def test_web_config_errors_name_file_and_line(tmp_path: Path, pki: Path) -> None:
    bad = tmp_path / "web.yml"
    bad.write_text(
        f"tls_server_config:\n  cert_file: {tmp_path / 'missing.crt'}\n  key_file: {pki / 'server.key'}\n"
        "  min_version: TLS99\nbasic_auth_users:\n  prometheus: plaintext\nbasic_auth: x\n"
    )
    with pytest.raises(ConfigError) as err:
        webconfig.load(str(bad))
    problems = err.value.problems
    assert any(p.startswith(f"{bad}:2:14: tls_server_config.cert_file: ") and "does not exist" in p for p in problems)
    assert any(p.startswith(f"{bad}:4:16: tls_server_config.min_version: expected one of") for p in problems)
    assert any(p.startswith(f"{bad}:6:15: basic_auth_users.prometheus: expected a bcrypt hash") for p in problems)
    assert any(p.startswith(f"{bad}:7:1: basic_auth: unknown key") for p in problems)

    no_ca = tmp_path / "no-ca.yml"
    no_ca.write_text(
        f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
    )
    with pytest.raises(ConfigError, match="needs client_ca_file"):
        webconfig.load(str(no_ca))


def test_auth_cache_makes_repeated_checks_cheap() -> None:
    import time

    web = webconfig.WebConfig("t", users={"u": bcrypt.hashpw(b"p", bcrypt.gensalt(rounds=10))})
    started = time.perf_counter()
    assert web.check("u", "p")
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(100):
        assert web.check("u", "p")
    assert (time.perf_counter() - started) / 100 < first / 10  # cached: far below one bcrypt
    assert not web.check("u", "wrong") and not web.check("x", "p")


def test_unknown_users_take_as_long_as_known_ones() -> None:
    """Response time must not tell which user names exist: an unknown user is checked against a real
    bcrypt hash of the same cost, not rejected in microseconds."""
    import statistics
    import time

    web = webconfig.WebConfig("t", users={"prometheus": bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=10))})

    def seconds(user: str) -> float:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            assert not web.verify(user, "wrong")
            runs.append(time.perf_counter() - started)
        return statistics.median(runs)

    known, unknown = seconds("prometheus"), seconds("nobody")
    assert known > 0.01  # bcrypt at cost 10
    assert 0.7 < unknown / known < 1.4, (unknown, known)
