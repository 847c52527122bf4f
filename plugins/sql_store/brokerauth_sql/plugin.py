"""The ``sql`` plugin: one store strategy, ``sql``, for any broker's profile.

Entry point ``sql = "brokerauth_sql.plugin:SqlPlugin"``; the core makes one instance per
plugin host, and the instance keeps one store (one database, a connection per thread) per
distinct store options.  This module imports only attrs-level code, so listing plugins does
not pay for sqlite3 or cryptography.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brokerauth import hookimpl
from brokerauth.contract.errors import ConfigError
from brokerauth.contract.specs import PluginInfo, StrategySpec
from brokerauth.toolkit.storeplugin import StorePlugin

from brokerauth_sql.options import SqlStoreOptions, database_kind

if TYPE_CHECKING:
    from brokerauth_sql.rows import RowStore

__all__ = ["SQL_STORE", "SqlPlugin"]

SQL_STORE = "sql"


class SqlPlugin(StorePlugin[SqlStoreOptions, "RowStore"]):
    """Provides the ``sql`` store."""

    store_name = SQL_STORE
    options_type = SqlStoreOptions
    example = 'store = { name = "sql", url = "sqlite:///path/tokens.db" }'
    needs = "a url"

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

    def make_store(self, options: SqlStoreOptions) -> RowStore:
        return _make_store(options)


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
