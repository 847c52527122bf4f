"""The ``redis`` store's options, as a profile gives them::

    store = { name = "redis", url = "redis://tokens.internal:6379/0",
              encryption_key = { env = "BROKERAUTH_REDIS_KEY" } }

Everything here is checked when the profile is read, before any connection: a URL that
holds a password in clear is refused, since profiles are shared files and a password
belongs in a secret reference (``url = { env = "REDIS_URL" }``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs
from brokerauth.secrets import Secret

__all__ = ["DEFAULT_URL", "RedisStoreOptions", "check_url", "safe_location"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_SCHEMES = ("redis", "rediss", "unix")
# Braces would change which part of a key Redis Cluster hashes; whitespace and control
# characters make keys miserable to inspect with redis-cli.
_FORBIDDEN_PREFIX_CHARS = frozenset("{} \t\r\n")


def check_url(url: str, *, password_allowed: bool = False) -> None:
    """Refuse a URL this store cannot use, or (unless it came from a secret reference) one
    that carries a password in clear.

    Messages never quote the URL: it may hold a password.

    :raises ValueError: with a message safe to show.
    """
    try:
        parts = urlsplit(url)
        # Reading the port validates it; a bad one raises ValueError.
        parts.port  # noqa: B018
    except ValueError:
        raise ValueError("is not a valid Redis URL") from None
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            "must start with redis://, rediss:// (TLS) or unix:// "
            "(for example redis://127.0.0.1:6379/0)"
        )
    if parts.password is not None and not password_allowed:
        raise ValueError(
            "holds a password in clear; give the whole URL as a secret reference instead: "
            'url = { env = "REDIS_URL" } or url = { file = "..." }'
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


def _positive(upper: float) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
        if not 0 < value <= upper:
            raise ValueError(f"{attribute.name} must be more than 0 and at most {upper:g} seconds")

    return check


@attrs.frozen
class RedisStoreOptions:
    """Options of the ``redis`` store."""

    #: The server: ``redis://host:port/db``, ``rediss://`` for TLS, or ``unix:///path``; a URL
    #: with a password must be a secret reference (``{ env = "REDIS_URL" }``).
    url: str | Secret = attrs.field(default=DEFAULT_URL, validator=_valid_url)
    #: Prepended to every key, so several fleets (or tests) can share one database.
    key_prefix: str = attrs.field(default="brokerauth", validator=_valid_prefix)
    #: A Fernet key (or several, comma-separated: the first encrypts, all decrypt) as a secret
    #: reference; tokens are then encrypted and authenticated at rest.
    encryption_key: Secret | None = None
    #: Seconds the refresh lock outlives a holder that stopped renewing it (killed, frozen,
    #: cut off). A live holder renews it every third of this, however long its refresh takes.
    lock_ttl: float = attrs.field(default=1.0, validator=_positive(600))
    #: Seconds to wait for Redis to answer one command, and to connect.
    socket_timeout: float = attrs.field(default=2.0, validator=_positive(300))
    connect_timeout: float = attrs.field(default=2.0, validator=_positive(300))
