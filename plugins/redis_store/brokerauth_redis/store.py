"""The ``redis`` store for one server: load, store, delete and lock tokens.

Every Redis failure becomes a :class:`~brokerauth.errors.StoreError` naming the server
(scheme, host, port, database: never a password) and what to do, so the core can treat an
outage like any store trouble: a session keeps using the token it holds while that token is
valid, an early refresh is skipped and logged, and once the token must be refreshed the
caller gets a :class:`~brokerauth.errors.RefreshError` saying Redis is unreachable.  No
refresh ever happens without the lock, since taking the lock needs Redis.

The client (``redis-py``) keeps a connection pool and opens a new connection on the next
command after one broke, so the store reconnects by itself when Redis comes back; a command
on a connection that broke meanwhile is tried once more on a fresh one.
"""

from __future__ import annotations

import itertools
import logging
import os
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs
import redis
from brokerauth.errors import ConfigError, StaleTokenError, StoreError
from brokerauth.secrets import Secret
from brokerauth.tokens import Token, TokenKey
from redis.backoff import NoBackoff
from redis.retry import Retry

from brokerauth_redis import scripts
from brokerauth_redis.envelope import make_cipher, open_token, seal_token
from brokerauth_redis.lock import LeaseLock, held_fence
from brokerauth_redis.options import RedisStoreOptions, check_url, safe_location

if TYPE_CHECKING:
    from brokerauth.descriptions import CallBudget
    from cryptography.fernet import MultiFernet

__all__ = ["KeyNames", "RedisStore", "StaleWriteError", "key_names"]

log = logging.getLogger("brokerauth.store.redis")

_SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
_REASON_LIMIT = 200
_store_ids = itertools.count(1)


class StaleWriteError(StaleTokenError):
    """A lock holder whose lease lapsed tried to store a token after a newer holder stored
    one; the newer token is kept."""


@attrs.frozen
class KeyNames:
    """The Redis keys of one profile and identity."""

    token: str
    lock: str
    fence: str


def key_names(prefix: str, key: TokenKey) -> KeyNames:
    """The keys for ``key``: ``<prefix>:{<profile>:<identity>}:token`` and so on.

    Profile and identity are percent-encoded outside ``A-Za-z0-9._-``, so ``:`` and braces
    inside a name cannot make two names share a key.
    """
    slot = f"{prefix}:{{{_encode(key.profile)}:{_encode(key.identity)}}}"
    return KeyNames(token=f"{slot}:token", lock=f"{slot}:lock", fence=f"{slot}:fence")


def _encode(name: str) -> str:
    if not name:
        raise StoreError("a token cannot be stored under an empty profile or identity name")
    return "".join(
        char if char in _SAFE_CHARS
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in name
    )


class RedisStore:
    """The tokens kept on one Redis server under one key prefix (one per options value)."""

    def __init__(self, options: RedisStoreOptions) -> None:
        self.options = options
        self._guard = threading.Lock()
        self._client: redis.Redis | None = None
        self._location: str | None = None
        self._cipher: MultiFernet | None = None
        self._cipher_ready = False
        self._scripts: dict[str, Any] = {}
        #: Tells this store's held locks from another store's in the same thread; the
        #: lock and the write of one refresh always go through the same store object.
        self._identity = f"store-{next(_store_ids)}"

    def __repr__(self) -> str:
        return f"RedisStore({self.location}, prefix={self.options.key_prefix!r})"

    @property
    def location(self) -> str:
        """The server, safe to show."""
        if self._location is not None:
            return self._location
        url = self.options.url
        if isinstance(url, Secret):
            # Not revealed just for a name: the secret may not be available yet.
            return f"the Redis server of url ({url.source})"
        return safe_location(url)

    # -- the four operations -------------------------------------------------------------
    def load(self, key: TokenKey) -> Token | None:
        names = key_names(self.options.key_prefix, key)
        with self._redis("read the token of", key):
            data = self._connect().hget(names.token, "v")
        if data is None:
            return None
        assert isinstance(data, bytes)
        return open_token(
            data, key, self._get_cipher(), source=self._source(names), key_source=self._key_source()
        )

    def save(self, key: TokenKey, token: Token) -> None:
        names = key_names(self.options.key_prefix, key)
        data = seal_token(token, key, self._get_cipher())
        fence = held_fence(self._identity, names.lock)
        with self._redis("store the token of", key):
            written = self._script("write")(
                keys=[names.token, names.fence], args=[data, "" if fence is None else fence]
            )
        if not written:
            raise StaleWriteError(
                f"{key}: this process's refresh lock expired while it was refreshing (it was "
                "paused or cut off from Redis for longer than lock_ttl) and another process has "
                "stored a newer token since; this one was not stored",
                hint="nothing to do: the newer token is used from the next request; if this "
                "happens often, raise the redis store's lock_ttl",
            )
        log.debug("stored the token for %s in %s%s", key, self.location,
                  "" if fence is None else f" (fence {fence})")

    def delete(self, key: TokenKey) -> bool:
        names = key_names(self.options.key_prefix, key)
        with self._redis("delete the token of", key):
            removed = self._script("delete")(keys=[names.token, names.fence])
        return bool(removed)

    def take_call(self, key: TokenKey, budget: CallBudget, now: float) -> float:
        """Count one token-endpoint call against ``budget`` for every machine of the fleet."""
        names = key_names(self.options.key_prefix, key)
        counted = f"{names.token.rsplit(':', 1)[0]}:budget:{_encode(budget.name)}"
        member = f"{now!r}:{os.urandom(6).hex()}"
        with self._redis("count a token request of", key):
            wait = self._script("take_call")(
                keys=[counted], args=[repr(now), repr(budget.per), budget.calls, member]
            )
        return float(wait)

    def lock(self, key: TokenKey, timeout: float) -> LeaseLock:
        names = key_names(self.options.key_prefix, key)

        def acquire(holder: str, ttl_ms: int) -> int:
            with self._redis("take the refresh lock of", key):
                return int(self._script("acquire")(keys=[names.lock, names.fence],
                                                   args=[holder, ttl_ms]))

        def renew(value: str, ttl_ms: int) -> bool:
            with self._redis("renew the refresh lock of", key):
                return bool(self._script("renew")(keys=[names.lock], args=[value, ttl_ms]))

        def release(value: str) -> bool:
            with self._redis("release the refresh lock of", key):
                return bool(self._script("release")(keys=[names.lock], args=[value]))

        return LeaseLock(
            store_id=self._identity, lock_key=names.lock, label=str(key),
            ttl=self.options.lock_ttl, timeout=timeout,
            acquire=acquire, renew=renew, release=release,
        )

    def close(self) -> None:
        with self._guard:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- connection, scripts, cipher -----------------------------------------------------
    def _connect(self) -> redis.Redis:
        client = self._client
        if client is not None:
            return client
        with self._guard:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> redis.Redis:
        options = self.options
        if isinstance(options.url, Secret):
            url = options.url.reveal()
            try:
                check_url(url, password_allowed=True)
            except ValueError as exc:
                raise ConfigError(
                    f"the redis store's url ({options.url.source}) {exc}",
                    hint="fix the value the reference points to",
                ) from None
        else:
            url = options.url
        location = safe_location(url)
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=options.socket_timeout,
                socket_connect_timeout=options.connect_timeout,
                # One more try on a fresh connection covers a pooled connection that broke
                # while idle (Redis restarted); more would only delay the error of an outage.
                retry=Retry(NoBackoff(), 1),
                health_check_interval=0,
                client_name="brokerauth",
            )
        except (ValueError, TypeError):
            # redis-py's message may quote parts of the URL.
            raise ConfigError(
                f"the redis store's url ({self._url_source()}) is not a URL redis-py accepts",
                hint="use redis://host:port/db, rediss://host:port/db or unix:///path",
            ) from None
        self._scripts = {
            "acquire": client.register_script(scripts.ACQUIRE),
            "renew": client.register_script(scripts.RENEW),
            "release": client.register_script(scripts.RELEASE),
            "write": client.register_script(scripts.WRITE),
            "delete": client.register_script(scripts.DELETE),
            "take_call": client.register_script(scripts.TAKE_CALL),
        }
        self._location = location
        return client

    def _script(self, name: str) -> Any:
        self._connect()
        return self._scripts[name]

    def _get_cipher(self) -> MultiFernet | None:
        if self._cipher_ready:
            return self._cipher
        secret = self.options.encryption_key
        cipher = make_cipher(secret) if secret is not None else None
        with self._guard:
            self._cipher, self._cipher_ready = cipher, True
        return cipher

    def _key_source(self) -> str:
        secret = self.options.encryption_key
        return secret.source if secret is not None else "none"

    def _url_source(self) -> str:
        url = self.options.url
        return url.source if isinstance(url, Secret) else "in the profile"

    def _source(self, names: KeyNames) -> str:
        return f"{names.token!r} on {self.location}"

    @contextmanager
    def _redis(self, action: str, key: TokenKey) -> Iterator[None]:
        """Turn what redis-py raises into a :class:`StoreError` that says what to do."""
        try:
            yield
        except redis.exceptions.RedisError as exc:
            raise _store_error(exc, f"cannot {action} {key} in Redis at {self.location}") from None


def _store_error(exc: redis.exceptions.RedisError, what: str) -> StoreError:
    reason = f"{type(exc).__name__}: {str(exc)[:_REASON_LIMIT]}"
    if isinstance(exc, redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError):
        hint = "check the user name and password in the store's url secret"
    elif isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        hint = ("check that Redis is running and reachable from this machine; sessions keep "
                "using their current token until it expires, then need Redis to refresh it")
    elif isinstance(exc, redis.exceptions.ResponseError) and "NOAUTH" in str(exc):
        hint = "this Redis needs a password: give the url as a secret reference with it"
    else:
        hint = ("if something else uses these keys, give this fleet its own key_prefix; "
                "otherwise report it with the error")
    return StoreError(f"{what} ({reason})", hint=hint)
