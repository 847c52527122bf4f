"""The ``sql`` store's options, as a profile gives them::

    store = { name = "sql", url = "sqlite:///var/lib/platform/tokens.db" }
    store = { name = "sql", url = "sqlite:///~/trading/tokens.db",
              encryption_key = { env = "BROKERAUTH_SQL_KEY" } }

The URL names the database.  A ``sqlite:`` URL is read as a ``file://`` URL is: an empty
host, then the file's absolute path, so ``sqlite:///var/lib/platform/tokens.db`` is
``/var/lib/platform/tokens.db`` and ``sqlite:///~/tokens.db`` starts in the home folder; no
host, no query.  SQLAlchemy's spelling of an absolute path, four slashes, means the same;
there is no relative form (a store's file must not depend on the current folder).
A SQLite URL may be plain text: it holds no password, only a path, and a path in a shared
profile file says no more than the file store's ``path`` option does.  It may also be a
secret reference, checked when first revealed.  A URL of a database server
(``postgresql://``) carries a password or names a server to authenticate to, so it must be a
secret reference; that back end comes with psycopg 3 and is refused for now with that
message.

Messages name the option at fault and, for SQLite, the path: never a value from a secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import seconds_up_to

__all__ = ["SqlStoreOptions", "sqlite_path"]

_SQLITE = "sqlite://"
_SERVER_SCHEMES = ("postgresql", "postgres")


def sqlite_path(url: str) -> Path:
    """The database file a ``sqlite:`` URL names (``~`` expanded, made absolute).

    :raises ValueError: with a message safe to show (it names no more than the URL's form).
    """
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme in _SERVER_SCHEMES:
        raise ValueError(
            "names a PostgreSQL server, which this version of the sql store does not support "
            "yet (SQLite only); such a URL must also be a secret reference, "
            'url = { env = "BROKERAUTH_SQL_URL" }, since it holds a password'
        )
    if not url.startswith(_SQLITE):
        raise ValueError(
            "must start with sqlite:// followed by the database file's absolute path "
            "(for example sqlite:///var/lib/brokerauth/tokens.db, or "
            "sqlite:///~/tokens.db in your home folder)"
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


def _valid_url(instance: Any, attribute: attrs.Attribute[Any], value: str | Secret) -> None:
    # A secret URL is checked when it is revealed, at the first use of the store.
    if isinstance(value, str):
        try:
            sqlite_path(value)
        except ValueError as exc:
            raise ValueError(f"url {exc}") from None


@attrs.frozen
class SqlStoreOptions:
    """Options of the ``sql`` store."""

    #: The database: ``sqlite:///<absolute path>`` (text or a secret reference); a server's
    #: URL must be a secret reference.
    url: str | Secret = attrs.field(validator=_valid_url)
    #: A Fernet key (or several, comma-separated: the first encrypts, all decrypt) as a secret
    #: reference; tokens are then encrypted and authenticated at rest.  Off by default for
    #: SQLite, like the file store: the database is a 0600 file in a 0700 folder.
    encryption_key: Secret | None = None
    #: Seconds to wait for another process's write to the database before giving up with a
    #: "locked too long" error.  Writes hold it for milliseconds; the refresh lock is separate.
    busy_timeout: float = attrs.field(default=5.0, validator=seconds_up_to(300))
