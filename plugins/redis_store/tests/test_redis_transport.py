"""How the store reaches Redis: no tokens in clear to another machine unless the profile says
so (``allow_plaintext``), and no URL option that weakens TLS or sends the connection
elsewhere.  A remote server cannot be reached from the tests, so refusals are tested with
URLs naming remote hosts while every network call fails the test: the refusal must come
before any."""

from __future__ import annotations

import logging
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brokerauth
import pytest
import redis
from brokerauth.contract.errors import ConfigError, ProfileError, StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.resolve import resolve_profile
from brokerauth.toolkit.secrets import Secret
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from redis_helpers import RedisServer, free_port, make_token

REMOTE_HOSTS = [
    "tokens.internal", "10.1.2.3", "[2001:db8::1]", "0.0.0.0",
    # Only look like loopback: the core's is_loopback_host refuses them.
    "127.0.0.1.evil.example", "localhost.evil.example", "127.1",
]


def double_profile(url: str, /, **store: Any) -> Profile:
    return Profile.from_mapping("fleet", {
        "broker": "bearer_double", "base_url": "http://127.0.0.1:9", "client_id": "c",
        "client_secret": {"env": "UNUSED_SECRET"}, "store": {"name": "redis", "url": url, **store},
    })


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every way to reach a server (name lookup, connect, redis-py's client) fails the test
    and is recorded."""
    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            attempts.append(what)
            raise AssertionError(f"{what} was attempted before the refusal")
        return call

    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(redis.Redis, "from_url", refuse("Redis.from_url"))
    yield attempts
    assert attempts == []


# -- 1. no plaintext to another machine ---------------------------------------------------


@pytest.mark.parametrize("remote", REMOTE_HOSTS)
def test_plain_redis_to_another_machine_is_a_profile_error(
    remote: str, no_network: list[str]
) -> None:
    plugins = PluginHost.create()
    started = time.monotonic()
    with pytest.raises(ProfileError) as info:
        # With a key: the missing TLS alone is refused.
        resolve_profile(double_profile(f"redis://{remote}:6379/0",
                                     encryption_key={"env": "FLEET_KEY"}), plugins)
    assert time.monotonic() - started < 0.5
    text = str(info.value)
    assert info.value.key == "store"
    assert "url points at a Redis server on another machine" in text
    assert "without TLS" in text
    assert "rediss://" in text
    assert "allow_plaintext = true" in text
    assert "encryption_key" not in text.split("without TLS")[1].split(";")[0]


@pytest.mark.parametrize("remote", ["tokens.internal", "10.1.2.3", "[2001:db8::1]"])
def test_a_remote_server_without_an_encryption_key_is_a_profile_error(
    remote: str, no_network: list[str]
) -> None:
    with pytest.raises(ProfileError) as info:
        resolve_profile(double_profile(f"rediss://{remote}:6380/0"), PluginHost.create())
    text = str(info.value)
    assert "without an encryption_key" in text
    assert 'encryption_key = { env = "BROKERAUTH_REDIS_KEY" }' in text
    assert "Fernet.generate_key" in text
    assert "allow_plaintext = true" in text
    assert "without TLS" not in text


def test_a_session_on_a_remote_plain_server_fails_when_it_opens(no_network: list[str]) -> None:
    profile = Profile.from_mapping("fleet", {
        "broker": "bearer_double", "client_id": "c", "client_secret": Secret.from_value("s" * 16),
        "store": {"name": "redis", "url": "redis://tokens.internal:6379/0"},
    })
    with pytest.raises(ProfileError, match="without TLS and without an encryption_key"):
        brokerauth.session(profile)


def test_a_secret_url_to_a_remote_plain_server_is_refused_at_first_use_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, plugin: RedisPlugin, key: TokenKey, no_network: list[str]
) -> None:
    password = "pw-" + secrets.token_hex(8)
    monkeypatch.setenv("FLEET_REDIS_URL", f"redis://:{password}@tokens.internal:6379/0")
    options = RedisStoreOptions(url=Secret(env="FLEET_REDIS_URL"))
    for call in (
        lambda: plugin.load_token("redis", key, options),
        lambda: plugin.store_token("redis", key, make_token(), options),
        lambda: plugin.delete_token("redis", key, options),
    ):
        with pytest.raises(ConfigError) as info:
            call()
        text = f"{info.value} {info.value.hint}"
        assert "url (env:FLEET_REDIS_URL)" in text
        assert "without TLS and without an encryption_key" in text
        assert "allow_plaintext = true" in text
        assert password not in text
        assert password not in repr(plugin.store_for(options))


def test_a_secret_rediss_url_without_a_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, plugin: RedisPlugin, key: TokenKey, no_network: list[str]
) -> None:
    monkeypatch.setenv("FLEET_REDIS_URL", "rediss://:pw-abcdef1234@tokens.internal:6380/0")
    with pytest.raises(ConfigError, match="without an encryption_key") as info:
        plugin.load_token("redis", key, RedisStoreOptions(url=Secret(env="FLEET_REDIS_URL")))
    assert "pw-abcdef1234" not in str(info.value)


def test_allow_plaintext_accepts_a_trusted_network_and_says_so(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = resolve_profile(
        double_profile("redis://tokens.internal:6379/0", allow_plaintext=True),
        PluginHost.create(),
    ).store.options
    assert options == RedisStoreOptions(url="redis://tokens.internal:6379/0",
                                        allow_plaintext=True)
    plugin = RedisPlugin()
    try:
        # Making the client connects nowhere yet (redis-py connects on the first command).
        with caplog.at_level(logging.WARNING, logger="brokerauth.store.redis"):
            plugin.store_for(options)._connect()
    finally:
        plugin.close()
    assert any("without TLS and an encryption_key (allow_plaintext = true)" in r.getMessage()
               for r in caplog.records)


def test_allow_plaintext_defaults_to_false(host: PluginHost) -> None:
    assert RedisStoreOptions().allow_plaintext is False
    spec, _owner = host.strategy("store", "redis")
    assert "allow_plaintext" in [field.name for field in spec.options.__attrs_attrs__]


@pytest.mark.parametrize("url", ["redis://127.0.0.1:{port}/0", "redis://localhost:{port}/0",
                                 "redis://127.0.0.1:{port}"])
def test_a_loopback_server_needs_neither_tls_nor_a_key(
    url: str, redis_server: RedisServer, plugin: RedisPlugin, key: TokenKey
) -> None:
    options = RedisStoreOptions(url=url.format(port=redis_server.port))
    token = make_token()
    plugin.store_token("redis", key, token, options)
    assert plugin.load_token("redis", key, options) == token


def test_a_unix_socket_needs_neither_tls_nor_a_key(plugin: RedisPlugin, key: TokenKey) -> None:
    # Socket paths are limited to ~100 bytes: a short folder, not pytest's tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="br-", dir="/tmp"))
    sock = folder / "redis.sock"
    server = RedisServer(folder / "data", extra_args=("--unixsocket", str(sock),
                                                      "--unixsocketperm", "700"))
    server.start()
    try:
        options = RedisStoreOptions(url=f"unix://{sock}")
        token = make_token()
        plugin.store_token("redis", key, token, options)
        assert plugin.load_token("redis", key, options) == token
    finally:
        server.stop()


# -- 2. TLS cannot be weakened from the URL -------------------------------------------------

WEAKENING = [
    ("ssl_cert_reqs=none", "ssl_cert_reqs"),
    ("ssl_cert_reqs=optional", "ssl_cert_reqs"),
    ("ssl_cert_reqs=NONE", "ssl_cert_reqs"),
    ("ssl_check_hostname=false", "ssl_check_hostname"),
    ("ssl_check_hostname=0", "ssl_check_hostname"),
    ("ssl_check_hostname=no", "ssl_check_hostname"),
    ("ssl_check_hostname=F", "ssl_check_hostname"),
    ("ssl_check%5Fhostname=false", "ssl_check_hostname"),  # percent-encoded name
    ("ssl_cert_reqs=required&ssl_cert_reqs=none", "ssl_cert_reqs"),  # given twice
    ("ssl_exclude_verify_flags=VERIFY_X509_STRICT", "ssl_exclude_verify_flags"),
    ("ssl_include_verify_flags=VERIFY_X509_PARTIAL_CHAIN", "ssl_include_verify_flags"),
    ("ssl_include_verify_flags=VERIFY_ALLOW_PROXY_CERTS", "ssl_include_verify_flags"),
    ("ssl_ciphers=NULL", "ssl_ciphers"),
    ("ssl_min_version=769", "ssl_min_version"),
    ("ssl_validate_ocsp=false", "ssl_validate_ocsp"),
    ("connection_class=Connection", "connection_class"),
    ("host=evil.example", "host"),
    ("port=1", "port"),
    ("unix_socket_path=/tmp/x", "unix_socket_path"),
    ("socket_timeout=600", "socket_timeout"),
    ("something_new=1", "something_new"),
]


@pytest.mark.parametrize(("query", "option"), WEAKENING,
                         ids=[query for query, _ in WEAKENING])
def test_url_options_that_weaken_tls_or_reroute_are_refused(
    query: str, option: str, no_network: list[str]
) -> None:
    url = f"rediss://tokens.internal:6380/0?{query}"
    with pytest.raises(ProfileError) as info:
        resolve_profile(double_profile(url, encryption_key={"env": "K"}), PluginHost.create())
    text = str(info.value)
    assert info.value.key == "store.url"
    assert f"query option {option}" in text
    assert "tokens.internal" not in text  # the URL is never shown
    value = query.rpartition("=")[2]
    if len(value) > 3:
        assert value not in text


def test_a_host_given_only_in_the_query_cannot_dodge_the_loopback_rule(
    no_network: list[str]
) -> None:
    """``redis:///0?host=...`` has no host for the loopback rule to see; redis-py would take
    the query's."""
    with pytest.raises(ProfileError, match="query option host"):
        resolve_profile(double_profile("redis:///0?host=tokens.internal"), PluginHost.create())


@pytest.mark.parametrize("query", ["password=hunter2-abcdef", "ssl_password=hunter2-abcdef"])
def test_a_secret_in_a_literal_urls_query_is_refused_without_being_shown(
    query: str, no_network: list[str]
) -> None:
    with pytest.raises(ProfileError) as info:
        resolve_profile(double_profile(f"rediss://127.0.0.1:6380/0?{query}"), PluginHost.create())
    assert "secret in clear" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_secret_url_that_weakens_tls_is_refused_at_first_use(
    monkeypatch: pytest.MonkeyPatch, plugin: RedisPlugin, key: TokenKey, no_network: list[str]
) -> None:
    monkeypatch.setenv("FLEET_REDIS_URL",
                       "rediss://:pw-abcdef1234@127.0.0.1:6380/0?ssl_cert_reqs=none")
    with pytest.raises(ConfigError) as info:
        plugin.load_token("redis", key, RedisStoreOptions(url=Secret(env="FLEET_REDIS_URL")))
    assert "url (env:FLEET_REDIS_URL)" in str(info.value)
    assert "query option ssl_cert_reqs" in str(info.value)
    assert "pw-abcdef1234" not in str(info.value)


def test_url_options_that_keep_verification_on_are_accepted() -> None:
    url = ("rediss://tokens.internal:6380/0?ssl_cert_reqs=required&ssl_check_hostname=true"
           "&ssl_ca_certs=/etc/fleet/ca.pem&ssl_min_version=771"
           "&ssl_include_verify_flags=VERIFY_X509_STRICT&db=2&max_connections=20")
    options = resolve_profile(double_profile(url, encryption_key={"env": "K"}),
                              PluginHost.create()).store.options
    assert options.url == url


def test_rediss_connections_verify_the_certificate_and_the_host_name() -> None:
    """Said explicitly, so that no redis-py version's defaults can weaken it."""
    plugin = RedisPlugin()
    try:
        options = RedisStoreOptions(url="rediss://127.0.0.1:6380/0")
        client = plugin.store_for(options)._connect()
        settings = client.connection_pool.connection_kwargs
        assert settings["ssl_cert_reqs"] == "required"
        assert settings["ssl_check_hostname"] is True
    finally:
        plugin.close()


# -- against a real TLS redis-server ----------------------------------------------------------


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for the IP address 127.0.0.1 only."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "brokerauth test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(hours=1))
              .add_extension(x509.SubjectAlternativeName(
                  [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                  ca_key.public_key()), critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[RedisServer, int, Path]]:
    """A redis-server with TLS on a second loopback port (its certificate names 127.0.0.1
    only), and the CA file that signed it."""
    ca_file, cert_file, key_file = _certificates(tmp_path / "tls")
    tls_port = free_port()
    server = RedisServer(tmp_path / "redis-tls", extra_args=(
        "--tls-port", str(tls_port), "--tls-cert-file", str(cert_file),
        "--tls-key-file", str(key_file), "--tls-ca-cert-file", str(ca_file),
        "--tls-auth-clients", "no",
    ))
    server.start()
    try:
        yield server, tls_port, ca_file
    finally:
        server.stop()


def test_tls_works_with_a_certificate_for_the_host(
    tls_server: tuple[RedisServer, int, Path], plugin: RedisPlugin, key: TokenKey
) -> None:
    _server, port, ca_file = tls_server
    options = RedisStoreOptions(url=f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca_file}")
    token = make_token()
    plugin.store_token("redis", key, token, options)
    assert plugin.load_token("redis", key, options) == token


def test_tls_refuses_a_certificate_for_another_host(
    tls_server: tuple[RedisServer, int, Path], plugin: RedisPlugin, key: TokenKey
) -> None:
    """The certificate names 127.0.0.1; reached as localhost, the host name check fails."""
    _server, port, ca_file = tls_server
    options = RedisStoreOptions(url=f"rediss://localhost:{port}/0?ssl_ca_certs={ca_file}")
    with pytest.raises(StoreError) as info:
        plugin.load_token("redis", key, options)
    assert "mismatch" in str(info.value) or "doesn't match" in str(info.value)


def test_tls_refuses_a_certificate_from_an_unknown_authority(
    tls_server: tuple[RedisServer, int, Path], plugin: RedisPlugin, key: TokenKey
) -> None:
    _server, port, _ca_file = tls_server
    options = RedisStoreOptions(url=f"rediss://127.0.0.1:{port}/0")
    with pytest.raises(StoreError, match="certificate verify failed"):
        plugin.load_token("redis", key, options)


def test_a_url_cannot_switch_the_host_name_check_off(
    tls_server: tuple[RedisServer, int, Path], plugin: RedisPlugin, key: TokenKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the refusal, this URL would connect to a server whose certificate names
    another host (redis-py lets the query win over the store's arguments)."""
    _server, port, ca_file = tls_server
    monkeypatch.setenv("FLEET_REDIS_URL", f"rediss://localhost:{port}/0?ssl_ca_certs={ca_file}"
                                          "&ssl_check_hostname=false")
    options = RedisStoreOptions(url=Secret(env="FLEET_REDIS_URL"))
    with pytest.raises(ConfigError, match="query option ssl_check_hostname"):
        plugin.store_token("redis", key, make_token(), options)
    with redis.Redis(host="127.0.0.1", port=_server.port) as client:
        assert client.keys("*") == []
