"""The web config file (`--web.config.file`), in the Prometheus exporter-toolkit format node_exporter
uses, so one file serves a fleet's exporters alike:

    tls_server_config:
      cert_file: /etc/memmond/tls.crt
      key_file: /etc/memmond/tls.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: /etc/memmond/ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...                          # bcrypt hash (htpasswd -nBC 10 prometheus)

Validated like the main config (file:line:col errors, all at once) and reloaded with it on SIGHUP.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from memmond.config import _INVALID, ConfigError, _one_of, _text, _Walker, compose

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Go's names for the TLS 1.2 suites exporter-toolkit accepts, in OpenSSL's spelling (TLS 1.3 suites are
# not configurable in Python's ssl module).
CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
}
AUTH_CACHE_SECONDS = 60.0  # since the last successful use: a scraper every 15 s pays bcrypt once
AUTH_CACHE_ENTRIES = 1024


@dataclass
class WebConfig:
    source: str
    tls: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    # Checked against for unknown users: a real hash of the users' own cost, so an unknown user takes as
    # long as a known one with a wrong password and response times do not tell which names exist.
    decoy_hash: bytes = b""
    _cache: dict[tuple[str, bytes], float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.users and not self.decoy_hash:
            import bcrypt

            cost = max(int(hashed.split(b"$")[2]) for hashed in self.users.values())
            self.decoy_hash = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(rounds=cost))

    @staticmethod
    def _digest(user: str, password: str) -> bytes:
        return hashlib.sha256(f"{user}\0{password}".encode()).digest()

    def cached(self, user: str, password: str) -> bool:
        """Whether these credentials passed bcrypt within AUTH_CACHE_SECONDS of their last use. The cache
        holds a hash of the password, never the password."""
        digest = self._digest(user, password)
        now = time.monotonic()
        with self._lock:
            for (cached_user, cached_digest), expires in list(self._cache.items()):
                if expires < now:
                    del self._cache[(cached_user, cached_digest)]
                elif hmac.compare_digest(cached_digest, digest) and hmac.compare_digest(cached_user, user):
                    self._cache[(cached_user, cached_digest)] = now + AUTH_CACHE_SECONDS
                    return True
        return False

    def verify(self, user: str, password: str) -> bool:
        """The bcrypt check (~50 ms by design; releases the GIL): the same work whether the user exists."""
        import bcrypt

        hashed = self.users.get(user)
        try:
            ok = bcrypt.checkpw(password.encode(), hashed if hashed is not None else self.decoy_hash)
        except ValueError:
            ok = False
        return ok and hashed is not None

    def remember(self, user: str, password: str) -> None:
        with self._lock:
            if len(self._cache) < AUTH_CACHE_ENTRIES:
                self._cache[(user, self._digest(user, password))] = time.monotonic() + AUTH_CACHE_SECONDS

    def check(self, user: str, password: str) -> bool:
        """cached() or verify(): the blocking form, for callers without a worker thread."""
        if self.cached(user, password):
            return True
        if self.verify(user, password):
            self.remember(user, password)
            return True
        return False


def _file(base: Path) -> Any:
    def check(value: Any) -> Path:
        path = Path(_text(value))
        path = path if path.is_absolute() else base / path  # relative to the web config file, as in Go
        if not path.is_file():
            raise ValueError(f"{path} does not exist or is not a file")
        return path

    return check


def parse(text: str, name: str) -> WebConfig:
    root = compose(text, name)
    if root is None:
        return WebConfig(name)
    w = _Walker(name)
    base = Path(name).resolve().parent
    tls_node: Any = None

    def tls(node: yaml.Node, path: str) -> Any:
        nonlocal tls_node
        tls_node = node
        return w.mapping(
            node,
            path,
            {
                "cert_file": lambda n, p: w.scalar(n, p, _file(base)),
                "key_file": lambda n, p: w.scalar(n, p, _file(base)),
                "client_ca_file": lambda n, p: w.scalar(n, p, _file(base)),
                "client_auth_type": lambda n, p: w.scalar(n, p, _one_of(CLIENT_AUTH_TYPES)),
                "min_version": lambda n, p: w.scalar(n, p, _one_of(tuple(TLS_VERSIONS))),
                "max_version": lambda n, p: w.scalar(n, p, _one_of(tuple(TLS_VERSIONS))),
                "cipher_suites": lambda n, p: w.sequence(
                    n, p, lambda n2, p2: w.scalar(n2, p2, _one_of(tuple(CIPHERS)))
                ),
                "prefer_server_cipher_suites": lambda n, p: w.scalar(n, p, lambda v: bool(v)),
            },
        )

    def users(node: yaml.Node, path: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            return w.error(node, path, "expected a mapping of user: bcrypt hash")
        out = {}
        for key, value in node.value:
            hashed = w.scalar(value, f"{path}.{key.value}", _text)
            if hashed is _INVALID:
                continue
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")) or len(hashed) != 60:
                w.error(value, f"{path}.{key.value}", "expected a bcrypt hash like $2y$10$... (htpasswd -nBC 10 USER)")
                continue
            out[str(key.value)] = hashed.replace("$2y$", "$2b$", 1).encode()  # same algorithm, bcrypt's spelling
        return out

    values = w.mapping(
        root,
        "",
        {
            "tls_server_config": tls,
            "basic_auth_users": users,
            "http_server_config": lambda n, p: w.mapping(n, p, {"http2": lambda n2, p2: w.scalar(n2, p2, bool)}),
        },
    )
    if w.problems or values is None:
        raise ConfigError(w.problems)
    config = WebConfig(name, users=values.get("basic_auth_users") or {})
    tls_values = values.get("tls_server_config")
    if tls_values:
        missing = [k for k in ("cert_file", "key_file") if k not in tls_values]
        if missing:
            raise ConfigError([f"{w.where(tls_node)}: tls_server_config: needs {' and '.join(missing)}"])
        auth = tls_values.get("client_auth_type", "NoClientCert")
        if auth != "NoClientCert" and "client_ca_file" not in tls_values:
            raise ConfigError([f"{w.where(tls_node)}: tls_server_config: client_auth_type {auth} needs client_ca_file"])
        config.tls = _context(tls_values, auth, w.where(tls_node))
    return config


def _context(values: dict[str, Any], auth: str, where: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[values.get("min_version", "TLS12")]
    if "max_version" in values:
        context.maximum_version = TLS_VERSIONS[values["max_version"]]
    try:
        context.load_cert_chain(values["cert_file"], values["key_file"])
        if "client_ca_file" in values:
            context.load_verify_locations(values["client_ca_file"])
        if values.get("cipher_suites"):
            context.set_ciphers(":".join(CIPHERS[name] for name in values["cipher_suites"]))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError([f"{where}: tls_server_config: {exc}"]) from None
    # Go's RequestClientCert and RequireAnyClientCert accept unverified certificates, which Python's ssl
    # cannot; they are served as their verifying counterparts (stricter, never looser), so every mode but
    # NoClientCert needs client_ca_file.
    context.verify_mode = {
        "NoClientCert": ssl.CERT_NONE,
        "RequestClientCert": ssl.CERT_OPTIONAL,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAnyClientCert": ssl.CERT_REQUIRED,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[auth]
    return context


def load(path: str) -> WebConfig:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    return parse(text, path)
