"""The ``redis`` store's options, as a profile gives them::

    store = { name = "redis", url = "rediss://tokens.internal:6380/0",
              encryption_key = { env = "BROKERAUTH_REDIS_KEY" } }

Everything here is checked when the profile is read, before any connection (a URL given as
a secret reference is checked the same way when it is first revealed, still before any
connection):

* a URL that holds a password in clear is refused, since profiles are shared files and a
  password belongs in a secret reference (``url = { env = "REDIS_URL" }``);
* a server on another machine needs TLS (``rediss://``) and an ``encryption_key``, unless
  ``allow_plaintext = true`` says the network and the server are trusted: tokens would
  otherwise cross the network, and sit in Redis, readable;
* query options are limited to those that cannot weaken TLS or re-route the connection.
  redis-py hands every query option to its connection class, and its query options win
  over the keyword arguments this store passes, so a ``?ssl_cert_reqs=none`` or
  ``?ssl_check_hostname=false`` would otherwise silently switch verification off.

Messages name the option at fault, never the URL or a value from it: the URL is a secret
when it carries a password, and a query value may be a key's passphrase.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse, urlsplit

import attrs
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import (
    check_remote_store,
    is_loopback_host,
    seconds_up_to,
)

__all__ = [
    "DEFAULT_URL", "RedisStoreOptions", "check_transport", "check_url", "is_local",
    "safe_location",
]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_SCHEMES = ("redis", "rediss", "unix")
# Braces would change which part of a key Redis Cluster hashes; whitespace and control
# characters make keys miserable to inspect with redis-cli.
_FORBIDDEN_PREFIX_CHARS = frozenset("{} \t\r\n")

# Query options passed on as they are: they tune the connection pool and cannot weaken TLS
# or send the connection elsewhere.
_QUERY_PLAIN = frozenset((
    "db", "max_connections", "socket_keepalive", "socket_read_size", "health_check_interval",
    "retry_on_timeout", "client_name",
))
# TLS options that choose what to trust or present, not whether to verify: accepted with
# rediss:// only (a plain connection would not use them, and redis-py refuses them there).
_QUERY_TLS_CHOICE = frozenset((
    "ssl_ca_certs", "ssl_ca_path", "ssl_ca_data", "ssl_certfile", "ssl_keyfile",
))
# Options that carry a secret: only in a URL that is itself a secret reference.
_QUERY_SECRET = frozenset(("password", "username", "ssl_password"))
# Why each refused option is refused, for the message.
_QUERY_REFUSED = {
    "ssl_exclude_verify_flags": "it removes certificate checks",
    "ssl_ciphers": "it can enable weak ciphers",
    "ssl_validate_ocsp": "OCSP options are not supported by this store",
    "ssl_validate_ocsp_stapled": "OCSP options are not supported by this store",
    "ssl_ocsp_context": "OCSP options are not supported by this store",
    "ssl_ocsp_expected_cert": "OCSP options are not supported by this store",
    "host": "it would connect to another host than the URL names",
    "port": "it would connect to another port than the URL names",
    "path": "it would connect to another socket than the URL names",
    "unix_socket_path": "it would connect to a socket instead of the URL's host",
    "connection_class": "it would replace the connection (and its TLS)",
    "socket_timeout": "give the store's socket_timeout option instead",
    "socket_connect_timeout": "give the store's connect_timeout option instead",
    "timeout": "give the store's socket_timeout option instead",
}
# Verify flags that only add checks (or, for TRUSTED_FIRST, only change the order of
# the search for an anchor); PARTIAL_CHAIN and ALLOW_PROXY_CERTS would accept more.
_STRICTER_FLAGS = frozenset((
    "VERIFY_DEFAULT", "VERIFY_CRL_CHECK_LEAF", "VERIFY_CRL_CHECK_CHAIN", "VERIFY_X509_STRICT",
    "VERIFY_X509_TRUSTED_FIRST",
))
_STRICT_TLS_VERSIONS = frozenset((int(ssl.TLSVersion.TLSv1_2), int(ssl.TLSVersion.TLSv1_3)))
# What redis-py's to_bool reads as true; anything else (false, 0, no, an empty value) would
# switch the host name check off.
_TRUE_WORDS = frozenset(("1", "t", "true", "y", "yes", "on"))


def check_url(url: str, *, password_allowed: bool = False) -> None:
    """Refuse a URL this store cannot use, one whose query options would weaken TLS or
    re-route the connection, or (unless it came from a secret reference) one that carries
    a password in clear.

    Messages never quote the URL or a value from its query: it may hold a password.

    :raises ValueError: with a message safe to show.
    """
    try:
        parts = urlsplit(url)
        # Reading the port validates it; a bad one raises ValueError.
        parts.port  # noqa: B018
    except ValueError:
        raise ValueError("is not a valid Redis URL") from None
    # redis-py compares the scheme as written (lower case); urlsplit lowers it, so check the
    # text itself: both must agree on whether TLS is used.
    if parts.scheme not in _SCHEMES or not url.startswith(f"{parts.scheme}://"):
        raise ValueError(
            "must start with redis://, rediss:// (TLS) or unix:// "
            "(for example redis://127.0.0.1:6379/0)"
        )
    if parts.password is not None and not password_allowed:
        raise ValueError(
            "holds a password in clear; give the whole URL as a secret reference instead: "
            'url = { env = "REDIS_URL" } or url = { file = "..." }'
        )
    _check_query(url, tls=parts.scheme == "rediss", password_allowed=password_allowed)


def _check_query(url: str, *, tls: bool, password_allowed: bool) -> None:
    # Parsed exactly as redis-py's parse_url parses it, so what is checked is what it uses.
    try:
        options = parse_qs(urlparse(url).query)
    except ValueError:
        raise ValueError("has a query redis-py cannot read") from None
    for name, values in options.items():
        shown = name if name.isidentifier() and len(name) <= 40 else "(unreadable name)"
        if len(values) > 1:
            raise ValueError(f"gives the query option {shown} more than once")
        value = values[0]
        if name in _QUERY_PLAIN:
            continue
        if name in _QUERY_SECRET:
            if not password_allowed:
                raise ValueError(
                    f"holds a secret in clear in its query option {shown}; give the whole URL "
                    'as a secret reference instead: url = { env = "REDIS_URL" }'
                )
            if name == "ssl_password" and not tls:
                raise ValueError(f"has the TLS query option {shown}, which needs rediss://")
            continue
        if name in _QUERY_REFUSED:
            raise ValueError(f"has the query option {shown}, which is refused: "
                             f"{_QUERY_REFUSED[name]}")
        if not name.startswith("ssl_") and name not in _QUERY_TLS_CHOICE:
            raise ValueError(
                f"has the query option {shown}, which the redis store does not accept "
                f"(it accepts {', '.join(sorted(_QUERY_PLAIN))} and, with rediss://, the "
                "ssl_ options that keep verification on)"
            )
        if not tls:
            raise ValueError(f"has the TLS query option {shown}, which needs rediss://")
        if name in _QUERY_TLS_CHOICE:
            continue
        if name == "ssl_cert_reqs":
            if value != "required":
                raise ValueError(
                    f"has the query option {shown} set to something other than required: "
                    "the server's certificate must always be verified; remove the option"
                )
        elif name == "ssl_check_hostname":
            if value.lower() not in _TRUE_WORDS:
                raise ValueError(
                    f"has the query option {shown} switching the host name check off: the "
                    "certificate must name the server; remove the option"
                )
        elif name == "ssl_min_version":
            if not value.isdigit() or int(value) not in _STRICT_TLS_VERSIONS:
                raise ValueError(
                    f"has the query option {shown} below TLS 1.2 (or not a TLS version): "
                    f"use {int(ssl.TLSVersion.TLSv1_2)} (TLS 1.2) or "
                    f"{int(ssl.TLSVersion.TLSv1_3)} (TLS 1.3), or remove it"
                )
        elif name == "ssl_include_verify_flags":
            flags = {flag.strip() for flag in value.strip("[]").split(",")}
            if not flags <= _STRICTER_FLAGS:
                raise ValueError(
                    f"has the query option {shown} with a flag that loosens verification; "
                    f"only {', '.join(sorted(_STRICTER_FLAGS))} are accepted"
                )
        else:
            raise ValueError(
                f"has the TLS query option {shown}, which the redis store does not accept "
                f"(it accepts ssl_cert_reqs=required, ssl_check_hostname=true, "
                f"ssl_min_version, ssl_include_verify_flags, {', '.join(sorted(_QUERY_TLS_CHOICE))}"
                " and ssl_password)"
            )


def is_local(url: str) -> bool:
    """Whether ``url`` names this machine: a ``unix://`` socket, or a host in 127.0.0.0/8,
    ``::1`` or ``localhost`` (:func:`brokerauth.toolkit.settings_checks.is_loopback_host`).  The
    host is read as redis-py reads it (percent-decoded; none means ``localhost``).  Never raises."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme == "unix":
        return True
    host = parts.hostname
    return host is None or is_loopback_host(unquote(host))


def check_transport(url: str, *, encrypted: bool, allow_plaintext: bool) -> None:
    """Refuse to keep tokens on another machine's Redis without TLS or without encryption at
    rest, unless ``allow_plaintext``.  ``url`` has passed :func:`check_url`.

    :raises ValueError: naming the options to change, never the URL.
    """
    if allow_plaintext or is_local(url):
        return
    check_remote_store(
        server="Redis", location=safe_location(url), tls=urlsplit(url).scheme == "rediss",
        tls_fix="use rediss://", encrypted=encrypted, key_env="BROKERAUTH_REDIS_KEY",
    )


def safe_location(url: str) -> str:
    """Where the server is, for messages and logs: scheme, host, port and database, never a
    user name or password."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "an unparsable Redis URL"
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    where = f"{parts.scheme}://{host}:{port or 6379}"
    database = parts.path.strip("/")
    return f"{where}/{database or '0'}"


def _valid_url(instance: Any, attribute: attrs.Attribute[Any], value: str | Secret) -> None:
    # A secret URL is checked when it is revealed, at the first use of the store.
    if isinstance(value, str):
        try:
            check_url(value)
        except ValueError as exc:
            raise ValueError(f"url {exc}") from None


def _valid_prefix(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or _FORBIDDEN_PREFIX_CHARS & set(value) or not value.isprintable():
        raise ValueError("key_prefix must be non-empty, without spaces or braces")


@attrs.frozen
class RedisStoreOptions:
    """Options of the ``redis`` store."""

    #: The server: ``redis://host:port/db``, ``rediss://`` for TLS, or ``unix:///path``; a URL
    #: with a password must be a secret reference (``{ env = "REDIS_URL" }``).
    url: str | Secret = attrs.field(default=DEFAULT_URL, validator=_valid_url, repr=False)
    #: Prepended to every key, so several fleets (or tests) can share one database.
    key_prefix: str = attrs.field(default="brokerauth", validator=_valid_prefix)
    #: A Fernet key (or several, comma-separated: the first encrypts, all decrypt) as a secret
    #: reference; tokens are then encrypted and authenticated at rest.
    encryption_key: Secret | None = None
    #: Seconds the refresh lock outlives a holder that stopped renewing it (killed, frozen,
    #: cut off). A live holder renews it every third of this, however long its refresh takes.
    lock_ttl: float = attrs.field(default=1.0, validator=seconds_up_to(600))
    #: Seconds to wait for Redis to answer one command, and to connect.
    socket_timeout: float = attrs.field(default=2.0, validator=seconds_up_to(300))
    connect_timeout: float = attrs.field(default=2.0, validator=seconds_up_to(300))
    #: Accept a server on another machine reached without TLS (``redis://``) or used without
    #: an ``encryption_key``: only for a network and a server you trust, since tokens then
    #: cross the network or sit in Redis readable.  A loopback server or a ``unix://`` socket
    #: needs neither, and does not need this.
    allow_plaintext: bool = False

    def __attrs_post_init__(self) -> None:
        # Across fields, so not a field validator; a secret URL is checked when revealed.
        if isinstance(self.url, str):
            try:
                check_transport(self.url, encrypted=self.encryption_key is not None,
                                allow_plaintext=self.allow_plaintext)
            except ValueError as exc:
                raise ValueError(f"url {exc}") from None
