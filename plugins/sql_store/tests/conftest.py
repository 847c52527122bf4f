"""The SQL store's tests run on both back ends: a test that asks for ``backend`` (through
``options``, ``store_url``, ``store_of``, ``raw`` or ``where``) runs once on a SQLite file
and once on a fresh database of a real PostgreSQL server (``postgres_url`` of the test
bench), unless it is marked ``sqlite_only`` (it is about the file) or ``postgres_only``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing as contextlib_closing
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.canary import token_stores
from brokerauth_sandbox.pytest_plugin import PG_URL_VARIABLE
from brokerauth_sql.options import SqlStoreOptions, postgres_location
from brokerauth_sql.plugin import SqlPlugin
from cryptography.fernet import Fernet
from sql_helpers import Raw

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test is about the SQLite file")
    config.addinivalue_line("markers", "postgres_only: the test is about the PostgreSQL server")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    backends: Sequence[str] = BACKENDS
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = ("sqlite",)
    elif metafunc.definition.get_closest_marker("postgres_only"):
        backends = ("postgresql",)
    metafunc.parametrize("backend", backends, indirect=True)

#: The tests' databases (see the ``database`` fixture) hold tokens on purpose.
DATABASE = "tokens.db"
token_stores(files=(DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm"))


@pytest.fixture(scope="module", autouse=True)
def double_installed(bearer_double_installed: None) -> None:
    """The test bench's bearer double (brokerauth_sandbox.bearer), the broker of these tests'
    sessions, is an installed plugin while a module of these tests runs, in this process and
    in every process it starts, and in no one else's tests."""


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """Where the test's database goes (the folder does not exist yet)."""
    return tmp_path / "state" / DATABASE


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, database: Path, request: pytest.FixtureRequest) -> Any:
    """The store's ``url`` as a profile gives it: a SQLite file's URL, or a reference to the
    PostgreSQL database's URL (it holds the server's password)."""
    if backend == "sqlite":
        return f"sqlite://{database}"
    request.getfixturevalue("postgres_url")
    return {"env": PG_URL_VARIABLE}


@pytest.fixture
def store_of(store_url: Any) -> Callable[..., dict[str, Any]]:
    """``store_of(**options)``: a profile's ``store`` value on the test's database."""
    def make(**options: Any) -> dict[str, Any]:
        return {"name": "sql", "url": store_url, **options}

    return make


@pytest.fixture
def options_of(store_url: Any) -> Callable[..., SqlStoreOptions]:
    """``options_of(**options)``: the store's options on the test's database."""
    def make(**options: Any) -> SqlStoreOptions:
        url = Secret(**store_url) if isinstance(store_url, dict) else store_url
        return SqlStoreOptions(url=url, **options)

    return make


@pytest.fixture
def options(options_of: Callable[..., SqlStoreOptions]) -> SqlStoreOptions:
    return options_of()


@pytest.fixture
def where(backend: str, database: Path, request: pytest.FixtureRequest) -> str:
    """How errors name the test's database."""
    if backend == "sqlite":
        return str(database)
    return postgres_location(request.getfixturevalue("postgres_url"))


@pytest.fixture
def raw(backend: str, database: Path, request: pytest.FixtureRequest) -> Raw:
    """``raw(sql, parameters)``: a statement run on the test's database by someone other
    than the store (a person with a SQL shell, an attacker with write access)."""
    if backend == "sqlite":
        def run_sqlite(sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
            with contextlib_closing(sqlite3.connect(database, isolation_level=None)) as db:
                return db.execute(sql, parameters).fetchall()

        return run_sqlite
    import psycopg

    url = request.getfixturevalue("postgres_url")

    def run_postgres(sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with psycopg.connect(url, autocommit=True) as db:
            cursor = db.execute(sql.replace("?", "%s"), parameters)
            return cursor.fetchall() if cursor.description else []

    return run_postgres


@pytest.fixture
def plugin() -> Iterator[SqlPlugin]:
    made = SqlPlugin()
    yield made
    made.close()


@pytest.fixture
def key() -> TokenKey:
    return TokenKey("platform", "default")


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Fernet key in $BROKERAUTH_TEST_SQL_KEY (inherited by spawned processes)."""
    value = Fernet.generate_key().decode()
    monkeypatch.setenv("BROKERAUTH_TEST_SQL_KEY", value)
    return value


@pytest.fixture
def double(bearer_double: Any) -> Any:
    """A started sandbox of the bearer double on the test's manual clock."""
    return bearer_double
