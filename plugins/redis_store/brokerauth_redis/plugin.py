"""The ``redis`` plugin: one store strategy, ``redis``, for any broker's profile.

Entry point ``redis = "brokerauth_redis.plugin:RedisPlugin"``; the core makes one instance
per plugin host, and the instance keeps one :class:`~brokerauth_redis.store.RedisStore`
(one connection pool) per distinct store options.  This module imports only attrs-level
code, so listing plugins does not pay for redis-py or cryptography.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brokerauth import hookimpl
from brokerauth.contract.specs import PluginInfo, StrategySpec
from brokerauth.toolkit.storeplugin import StorePlugin

from brokerauth_redis.options import RedisStoreOptions

if TYPE_CHECKING:
    from brokerauth_redis.store import RedisStore

__all__ = ["REDIS_STORE", "RedisPlugin"]

REDIS_STORE = "redis"


class RedisPlugin(StorePlugin[RedisStoreOptions, "RedisStore"]):
    """Provides the ``redis`` store (one store, and connection pool, per distinct options)."""

    store_name = REDIS_STORE
    options_type = RedisStoreOptions
    example = 'store = { name = "redis", url = "redis://host:6379/0" }'

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

    def make_store(self, options: RedisStoreOptions) -> RedisStore:
        from brokerauth_redis.store import RedisStore

        return RedisStore(options)
