"""The ``sql`` plugin: one store strategy, ``sql``, for any broker's profile.

Entry point ``sql = "brokerauth_sql.plugin:SqlPlugin"``; the core makes one instance per
plugin host, and the instance keeps one store (one database, a connection per thread) per
distinct store options.  This module imports only attrs-level code, so listing plugins does
not pay for sqlite3 or cryptography.
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

from brokerauth_sql.options import SqlStoreOptions, database_kind

if TYPE_CHECKING:
    from brokerauth_sql.rows import RowStore

__all__ = ["SQL_STORE", "SqlPlugin"]

SQL_STORE = "sql"


class SqlPlugin:
    """Provides the ``sql`` store."""

    def __init__(self) -> None:
        self._stores: dict[SqlStoreOptions, RowStore] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"SqlPlugin({len(self._stores)} stores)"

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(
            description="tokens in a SQL database, one row per profile and identity",
            strategies=(
                StrategySpec(
                    kind="store",
                    name=SQL_STORE,
                    description=(
                        "tokens in a SQLite database (url = \"sqlite:///path/tokens.db\"), "
                        "shared by every process of the host, or in a PostgreSQL database "
                        "(url = a postgresql:// URL), shared by every host of a fleet; one row "
                        "per profile and identity, schema made and migrated by itself, atomic "
                        "writes, single-flight refresh with a lock that dies with its holder "
                        "and a fence; encrypted and authenticated at rest with Fernet when "
                        "given an encryption_key (required for a server on another machine)"
                    ),
                    options=SqlStoreOptions,
                ),
            ),
        )

    @hookimpl
    def load_token(self, store: str, key: TokenKey, options: Any) -> Token | None:
        return self.store_for(options).load(key)

    @hookimpl
    def store_token(self, store: str, key: TokenKey, token: Token, options: Any) -> None:
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

    def store_for(self, options: Any) -> RowStore:
        """The store for ``options``, made on first use."""
        if not isinstance(options, SqlStoreOptions):
            raise ConfigError(
                "the sql store needs a url"
                if options is None else
                f"the sql store's options must be SqlStoreOptions, not {type(options).__name__}",
                hint='in a profile: store = { name = "sql", url = "sqlite:///path/tokens.db" }',
            )
        found = self._stores.get(options)
        if found is not None:
            return found
        with self._guard:
            found = self._stores.get(options)
            if found is None:
                found = self._stores[options] = _make_store(options)
            return found

    def close(self) -> None:
        """Close this thread's connection of every store (they reopen if used again)."""
        with self._guard:
            stores = list(self._stores.values())
        for store in stores:
            store.close()


def _make_store(options: SqlStoreOptions) -> RowStore:
    # The back end's module is imported only when a profile uses it: psycopg costs a SQLite
    # user nothing, sqlite3 a PostgreSQL user nothing.
    url = options.url
    value = url if isinstance(url, str) else url.reveal()
    if database_kind(value) == "postgresql":
        try:
            from brokerauth_sql.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                f"the sql store's url names a PostgreSQL server, and psycopg is not installed "
                f"({exc.name or exc})",
                hint="pip install 'brokerauth-sql[postgresql]'",
            ) from None
        return PostgresStore(options)
    from brokerauth_sql.sqlite import SqliteStore

    return SqliteStore(options)
