"""The ``sql`` store's options, as a profile gives them::

    store = { name = "sql", url = "sqlite:///var/lib/platform/tokens.db" }
    store = { name = "sql", url = "sqlite:///~/trading/tokens.db",
              encryption_key = { env = "BROKERAUTH_SQL_KEY" } }
    store = { name = "sql", url = { env = "BROKERAUTH_SQL_URL" },
              encryption_key = { env = "BROKERAUTH_SQL_KEY" } }   # postgresql://...

The URL names the database.  A ``sqlite:`` URL is read as a ``file://`` URL is: an empty
host, then the file's absolute path, so ``sqlite:///var/lib/platform/tokens.db`` is
``/var/lib/platform/tokens.db`` and ``sqlite:///~/tokens.db`` starts in the home folder; no
host, no query.  SQLAlchemy's spelling of an absolute path, four slashes, means the same;
there is no relative form (a store's file must not depend on the current folder).
A SQLite URL may be plain text: it holds no password, only a path, and a path in a shared
profile file says no more than the file store's ``path`` option does.  It may also be a
secret reference, checked when first revealed.

A ``postgresql://`` (or ``postgres://``) URL is a libpq connection URI, passed to psycopg as
it is.  One with a password must be a secret reference, since the profile file is not a
secret; one without (peer or certificate authentication, a password in ``~/.pgpass``) may be
plain text.  A server on another machine needs TLS that checks its certificate and host name
(``sslmode=verify-full``) and an ``encryption_key``, unless ``allow_plaintext = true`` (the
Redis store's rule, :func:`check_postgres_transport`).  How the URL is read, and the forms
refused, are :mod:`brokerauth_sql.pgurl`'s.

Messages name the option at fault and where the database is: never a value from a secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import attrs
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import check_remote_store, seconds_up_to

from brokerauth_sql.pgurl import PgUrl

__all__ = [
    "SqlStoreOptions", "check_postgres_transport", "check_postgres_url", "database_kind",
    "postgres_location", "sqlite_path",
]

_SQLITE = "sqlite://"
_SERVER_SCHEMES = ("postgresql", "postgres")


def sqlite_path(url: str) -> Path:
    """The database file a ``sqlite:`` URL names (``~`` expanded, made absolute).

    :raises ValueError: with a message safe to show (it names no more than the URL's form).
    """
    if not url.startswith(_SQLITE):
        raise ValueError(
            "must start with sqlite:// followed by the database file's absolute path "
            "(for example sqlite:///var/lib/brokerauth/tokens.db, or "
            "sqlite:///~/tokens.db in your home folder), or with postgresql:// for a "
            "PostgreSQL server"
        )
    rest = url[len(_SQLITE):]
    if not rest.startswith("/"):
        raise ValueError(
            "names a host: a SQLite database is a local file, written sqlite:///<path>"
        )
    if "?" in rest or "#" in rest:
        raise ValueError("has a query or a fragment, which the sql store does not accept")
    if rest.startswith("/~/"):
        path = Path(os.path.expanduser("~" + rest[2:]))
    else:
        # Extra leading slashes (SQLAlchemy's sqlite:////abs) name the same absolute path.
        path = Path("/" + rest.lstrip("/"))
    if not path.is_absolute() or rest.endswith("/") or path.name in ("", ".", ".."):
        raise ValueError(
            "must name a file by its absolute path: sqlite:///<folder>/<file>.db"
        )
    if path.name == ":memory:":
        raise ValueError("names an in-memory database, which processes cannot share")
    return path


def database_kind(url: str) -> Literal["sqlite", "postgresql"]:
    """Which back end a URL is for (anything that is not PostgreSQL's is SQLite's, whose
    checks then say what is wrong with it)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return "postgresql" if scheme in _SERVER_SCHEMES else "sqlite"


def check_postgres_url(url: str, *, plain: bool) -> PgUrl:
    """Read ``url`` as libpq does (:mod:`brokerauth_sql.pgurl`) and refuse what cannot be
    right: an unreadable or ambiguous URL, a password written in plain text in the profile
    (``plain``), no database.

    :raises ValueError: with a message safe to show (it never repeats the URL).
    """
    read = PgUrl.read(url)
    if plain and read.password:
        raise ValueError(
            "holds a password in plain text: put the whole URL in a secret reference, "
            'url = { env = "BROKERAUTH_SQL_URL" }, or keep the password in ~/.pgpass'
        )
    if not read.fields.get("dbname"):
        raise ValueError("names no database: postgresql://user@host:port/<database>")
    return read


def check_postgres_transport(url: str | PgUrl, *, encrypted: bool,
                             allow_plaintext: bool) -> None:
    """Refuse to keep tokens on another machine's PostgreSQL without TLS that checks the
    server (``sslmode=verify-full``), or without encryption at rest, unless
    ``allow_plaintext``.

    :raises ValueError: naming the options to change, never the URL's user or password.
    """
    read = url if isinstance(url, PgUrl) else PgUrl.read(url)
    if allow_plaintext or read.is_local:
        return
    check_remote_store(
        server="PostgreSQL", location=read.location, tls=read.verifies_server,
        tls_fix="add ?sslmode=verify-full to the URL (with sslrootcert= when the server's "
        "certificate is not signed by a system authority)",
        encrypted=encrypted, key_env="BROKERAUTH_SQL_KEY",
    )


def postgres_location(url: str) -> str:
    """Where the server is, for messages and logs: hosts, ports and database, never a user
    name, a password or another query option."""
    try:
        return PgUrl.read(url).location
    except ValueError:
        return "an unreadable PostgreSQL URL"


def _valid_url(instance: Any, attribute: attrs.Attribute[Any], value: str | Secret) -> None:
    # A secret URL is checked when it is revealed, at the first use of the store.
    if isinstance(value, str):
        try:
            if database_kind(value) == "postgresql":
                check_postgres_url(value, plain=True)
            else:
                sqlite_path(value)
        except ValueError as exc:
            raise ValueError(f"url {exc}") from None


@attrs.frozen
class SqlStoreOptions:
    """Options of the ``sql`` store."""

    #: The database: ``sqlite:///<absolute path>`` (text or a secret reference), or a
    #: ``postgresql://`` URL (a secret reference when it holds a password).
    url: str | Secret = attrs.field(validator=_valid_url, repr=False)
    #: A Fernet key (or several, comma-separated: the first encrypts, all decrypt) as a secret
    #: reference; tokens are then encrypted and authenticated at rest.  Off by default for
    #: SQLite, like the file store: the database is a 0600 file in a 0700 folder; needed for
    #: a PostgreSQL server on another machine.
    encryption_key: Secret | None = None
    #: Seconds to wait for another writer of the same row (SQLite: of the database) before
    #: giving up with a "locked too long" error; a write holds it for milliseconds, the
    #: refresh lock is separate.  On PostgreSQL, also the longest one statement may run.
    busy_timeout: float = attrs.field(default=5.0, validator=seconds_up_to(300))
    #: PostgreSQL: seconds to wait for a connection (to connect, or for a free one of the
    #: pool) before the store reports the database unreachable.
    connect_timeout: float = attrs.field(default=5.0, validator=seconds_up_to(300))
    #: PostgreSQL: the most connections one process keeps open to the server.
    pool_size: int = attrs.field(default=8, validator=[attrs.validators.instance_of(int),
                                                       attrs.validators.ge(1),
                                                       attrs.validators.le(100)])
    #: PostgreSQL: accept a server on another machine reached without a checked TLS
    #: connection or used without an ``encryption_key``: only for a network and a server you
    #: trust.  A server on loopback or a Unix socket needs neither.
    allow_plaintext: bool = False
    #: PostgreSQL: roles other than the connecting user's that may own the store's tables
    #: (a migration role that created them); tables owned by any other role are refused.
    table_owners: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        # Across fields, so not a field validator; a secret URL is checked when revealed.
        if isinstance(self.url, str) and database_kind(self.url) == "postgresql":
            try:
                check_postgres_transport(self.url, encrypted=self.encryption_key is not None,
                                         allow_plaintext=self.allow_plaintext)
            except ValueError as exc:
                raise ValueError(f"url {exc}") from None
