"""The ``redis`` plugin: one store strategy, ``redis``, for any broker's profile.

Entry point ``redis = "brokerauth_redis.plugin:RedisPlugin"``; the core makes one instance
per plugin host, and the instance keeps one :class:`~brokerauth_redis.store.RedisStore`
(one connection pool) per distinct store options.  This module imports only attrs-level
code, so listing plugins does not pay for redis-py or cryptography.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from brokerauth import hookimpl
from brokerauth.contract.errors import ConfigError
from brokerauth.contract.specs import CallBudget, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token, TokenKey

from brokerauth_redis.options import RedisStoreOptions

if TYPE_CHECKING:
    from brokerauth_redis.store import RedisStore

__all__ = ["REDIS_STORE", "RedisPlugin"]

REDIS_STORE = "redis"


class RedisPlugin:
    """Provides the ``redis`` store."""

    def __init__(self) -> None:
        self._stores: dict[RedisStoreOptions, RedisStore] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisPlugin({len(self._stores)} stores)"

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(
            description="tokens shared through Redis by every process on every machine",
            strategies=(
                StrategySpec(
                    kind="store",
                    name=REDIS_STORE,
                    description=(
                        "tokens in Redis (url = ...), shared by a whole fleet; single-flight "
                        "refresh across machines with a fenced, renewed lease lock (lock_ttl); "
                        "encrypted and authenticated at rest with Fernet (encryption_key = ...), "
                        "which, with TLS (rediss://), a server on another machine needs unless "
                        "allow_plaintext = true"
                    ),
                    options=RedisStoreOptions,
                ),
            ),
        )

    @hookimpl
    def load_token(self, store: str, key: TokenKey, options: Any) -> Token | None:
        return self.store_for(options).load(key)

    @hookimpl
    def store_token(self, store: str, key: TokenKey, token: Token, options: Any) -> None:
        if store == REDIS_STORE:
            self.store_for(options).save(key, token)

    @hookimpl
    def delete_token(self, store: str, key: TokenKey, options: Any) -> bool | None:
        return self.store_for(options).delete(key)

    @hookimpl
    def list_tokens(self, store: str, profile: str, options: Any) -> Iterable[TokenKey] | None:
        return self.store_for(options).list_keys(profile)

    @hookimpl
    def take_call(
        self, store: str, key: TokenKey, options: Any, budget: CallBudget, now: float
    ) -> float | None:
        return self.store_for(options).take_call(key, budget, now)

    @hookimpl
    def lock_token(
        self, store: str, key: TokenKey, options: Any, timeout: float
    ) -> AbstractContextManager[bool] | None:
        return self.store_for(options).lock(key, timeout)

    def store_for(self, options: Any) -> RedisStore:
        """The store (and connection pool) for ``options``, made on first use."""
        if options is None:
            options = RedisStoreOptions()
        if not isinstance(options, RedisStoreOptions):
            raise ConfigError(
                f"the redis store's options must be RedisStoreOptions, not "
                f"{type(options).__name__}",
                hint='in a profile: store = { name = "redis", url = "redis://host:6379/0" }',
            )
        found = self._stores.get(options)
        if found is not None:
            return found
        from brokerauth_redis.store import RedisStore

        with self._guard:
            return self._stores.setdefault(options, RedisStore(options))

    def close(self) -> None:
        """Close every connection pool (the stores reconnect if used again)."""
        with self._guard:
            stores = list(self._stores.values())
        for store in stores:
            store.close()
