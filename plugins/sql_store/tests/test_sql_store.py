"""The sql store on real SQLite files and a real PostgreSQL server: the store contract, file
safety, schema, errors."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import ConfigError, CorruptStoreError, ProfileError, StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.resolve import resolve_profile
from brokerauth_sql.options import SqlStoreOptions, sqlite_path
from brokerauth_sql.plugin import SqlPlugin
from brokerauth_sql.schema import SQLITE_MIGRATIONS as MIGRATIONS
from brokerauth_sql.schema import VERSION
from sql_helpers import Raw, make_token


def test_a_token_round_trips_and_logout_removes_it(
    plugin: SqlPlugin, options: SqlStoreOptions, key: TokenKey
) -> None:
    assert plugin.load_token("sql", key, options) is None
    first, second = make_token("first"), make_token("second")
    plugin.store_token("sql", key, first, options)
    assert plugin.load_token("sql", key, options) == first
    plugin.store_token("sql", key, second, options)
    assert plugin.load_token("sql", key, options) == second
    # Another plugin instance (another process, as far as the store can tell) reads it too.
    assert SqlPlugin().load_token("sql", key, options) == second
    assert plugin.delete_token("sql", key, options) is True
    assert plugin.load_token("sql", key, options) is None
    assert plugin.delete_token("sql", key, options) is False


@pytest.mark.parametrize("identity", [
    "Alice", "alice", "o'brien; DROP TABLE brokerauth_tokens; --", "ユーザー", "a/b\\c",
    "%41", "x" * 2000, "tab\tnew\nline", "@app",
])
def test_unusual_identities_are_distinct_rows(
    plugin: SqlPlugin, options: SqlStoreOptions, identity: str
) -> None:
    mine, other = make_token("mine"), make_token("other")
    plugin.store_token("sql", TokenKey("platform", identity), mine, options)
    plugin.store_token("sql", TokenKey("platform", identity.swapcase() + "!"), other, options)
    assert plugin.load_token("sql", TokenKey("platform", identity), options) == mine
    listed = {k.identity for k in plugin.list_tokens("sql", "platform", options)}
    assert listed == {identity, identity.swapcase() + "!"}


def test_a_name_that_is_not_text_is_refused_clearly(
    plugin: SqlPlugin, options: SqlStoreOptions
) -> None:
    with pytest.raises(StoreError, match="lone surrogate"):
        plugin.store_token("sql", TokenKey("platform", "\udcff"), make_token(), options)
    with pytest.raises(StoreError, match="empty identity"):
        plugin.load_token("sql", TokenKey("platform", ""), options)


def test_other_profiles_are_isolated(plugin: SqlPlugin, options: SqlStoreOptions) -> None:
    ours, theirs = make_token("ours"), make_token("theirs")
    plugin.store_token("sql", TokenKey("one", "u"), ours, options)
    plugin.store_token("sql", TokenKey("two", "u"), theirs, options)
    assert plugin.load_token("sql", TokenKey("one", "u"), options) == ours
    assert plugin.delete_token("sql", TokenKey("two", "u"), options) is True
    assert plugin.load_token("sql", TokenKey("one", "u"), options) == ours
    assert [k.identity for k in plugin.list_tokens("sql", "one", options)] == ["u"]
    assert list(plugin.list_tokens("sql", "two", options)) == []


@pytest.mark.sqlite_only
def test_the_database_is_0600_in_a_0700_folder_whatever_the_umask(
    plugin: SqlPlugin, options: SqlStoreOptions, database: Path, key: TokenKey
) -> None:
    old = os.umask(0)
    try:
        plugin.store_token("sql", key, make_token(), options)
        lock = plugin.lock_token("sql", key, options, 1.0)
        assert lock is not None
        with lock as held:
            assert held
    finally:
        os.umask(old)
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    made = [p for p in database.parent.iterdir() if p.is_file()]
    assert database in made
    assert database.with_name("tokens.db-wal") in made
    for path in [*made, *database.parent.glob("*.locks/*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in database.parent.glob("*.locks"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


@pytest.mark.sqlite_only
def test_a_database_others_can_read_is_refused_and_named(
    plugin: SqlPlugin, options: SqlStoreOptions, database: Path, key: TokenKey
) -> None:
    plugin.store_token("sql", key, make_token(), options)
    plugin.close()
    database.chmod(0o644)
    with pytest.raises(StoreError, match="mode 0644") as info:
        SqlPlugin().load_token("sql", key, options)
    assert str(database) in str(info.value)


@pytest.mark.sqlite_only
def test_a_folder_others_can_write_is_refused(
    plugin: SqlPlugin, options: SqlStoreOptions, database: Path, key: TokenKey
) -> None:
    database.parent.mkdir(mode=0o700)
    database.parent.chmod(0o777)
    with pytest.raises(StoreError, match="mode 0777"):
        plugin.store_token("sql", key, make_token(), options)
    assert not database.exists()


@pytest.mark.sqlite_only
def test_a_link_at_the_database_is_not_followed(
    plugin: SqlPlugin, options: SqlStoreOptions, database: Path, key: TokenKey, tmp_path: Path
) -> None:
    database.parent.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.db"
    elsewhere.touch(mode=0o600)
    database.symlink_to(elsewhere)
    with pytest.raises(StoreError, match="symbolic link"):
        plugin.store_token("sql", key, make_token(), options)
    assert elsewhere.stat().st_size == 0


@pytest.mark.sqlite_only
def test_a_corrupt_database_is_named_in_the_error(
    plugin: SqlPlugin, options: SqlStoreOptions, database: Path, key: TokenKey
) -> None:
    database.parent.mkdir(mode=0o700)
    fd = os.open(database, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"this is not a database, just text" * 200)
    os.close(fd)
    with pytest.raises(CorruptStoreError) as info:
        plugin.load_token("sql", key, options)
    assert str(database) in info.value.message
    assert "move" in (info.value.hint or "")


@pytest.mark.sqlite_only
def test_a_database_locked_too_long_is_a_clear_error(
    plugin: SqlPlugin, database: Path, key: TokenKey, backend: str
) -> None:
    options = SqlStoreOptions(url=f"sqlite://{database}", busy_timeout=0.2)
    plugin.store_token("sql", key, make_token(), options)
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # Readers are never blocked by a writer (WAL)...
        assert plugin.load_token("sql", key, options) is not None
        # ...writers wait busy_timeout, then say who to look for.
        with pytest.raises(StoreError, match="stayed locked") as info:
            plugin.store_token("sql", key, make_token(), options)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(database) in info.value.message
    assert plugin.load_token("sql", key, options) is not None


@pytest.mark.sqlite_only
def test_the_schema_creates_itself_in_wal_mode(
    plugin: SqlPlugin, options: SqlStoreOptions, database: Path, key: TokenKey
) -> None:
    plugin.store_token("sql", key, make_token(), options)
    with sqlite3.connect(database) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert check.execute("SELECT version FROM brokerauth_schema").fetchall() == [(VERSION,)]
        assert check.execute("SELECT count(*) FROM brokerauth_tokens").fetchone()[0] == 1


@pytest.mark.sqlite_only
def test_an_older_schema_is_migrated_forward_keeping_its_tokens(
    plugin: SqlPlugin, options: SqlStoreOptions, database: Path, key: TokenKey
) -> None:
    token = make_token("kept")
    # A database as version 1 wrote it, token and all.
    plugin.store_token("sql", key, token, options)
    plugin.close()
    data = sqlite3.connect(database).execute(
        "SELECT data FROM brokerauth_tokens").fetchone()[0]
    database.unlink()
    for leftover in database.parent.glob("tokens.db-*"):
        leftover.unlink()
    fd = os.open(database, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    with sqlite3.connect(database) as old:
        old.execute("CREATE TABLE brokerauth_schema (version INTEGER NOT NULL)")
        old.execute("INSERT INTO brokerauth_schema VALUES (1)")
        for statement in MIGRATIONS[0]:
            old.execute(statement)
        old.execute("INSERT INTO brokerauth_tokens (profile, identity, data, generation) "
                    "VALUES (?, ?, ?, 5)", (key.profile, key.identity, data))
    fresh = SqlPlugin()
    assert fresh.load_token("sql", key, options) == token
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT version FROM brokerauth_schema").fetchall() == [(VERSION,)]
        columns = {row[1] for row in check.execute("PRAGMA table_info(brokerauth_tokens)")}
        assert {"fence", "updated_at"} <= columns
    # The migrated database takes writes and locks like a new one.
    fresh.store_token("sql", key, make_token("after"), options)
    lock = fresh.lock_token("sql", key, options, 1.0)
    assert lock is not None
    with lock as held:
        assert held


def test_a_newer_schema_is_refused(
    plugin: SqlPlugin, options: SqlStoreOptions, raw: Raw, where: str, key: TokenKey
) -> None:
    plugin.store_token("sql", key, make_token(), options)
    raw("UPDATE brokerauth_schema SET version = ?", (VERSION + 1,))
    with pytest.raises(StoreError, match="newer brokerauth-sql") as info:
        SqlPlugin().load_token("sql", key, options)
    assert where in info.value.message


def test_the_registry_lists_identities_with_tokens_in_batches(
    plugin: SqlPlugin, options: SqlStoreOptions, raw: Raw
) -> None:
    plugin.store_token("sql", TokenKey("platform", "first"), make_token(), options)
    # 2,500 more rows in one statement: a copy of the first under other names.
    raw("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2499) "
        "INSERT INTO brokerauth_tokens (profile, identity, data, generation, fence) "
        "SELECT p.profile, 'user-' || CAST(10000 + n.i AS TEXT), t.data, 1, 0 "
        "FROM brokerauth_tokens t, n, (SELECT 'platform' AS profile UNION ALL "
        "SELECT 'elsewhere') p WHERE t.identity = 'first' "
        "AND (p.profile = 'platform' OR n.i < 10)")
    plugin.delete_token("sql", TokenKey("platform", "user-10007"), options)
    listed = [k.identity for k in plugin.list_tokens("sql", "platform", options)]
    assert len(listed) == len(set(listed)) == 2500
    assert "user-10007" not in listed
    assert "first" in listed
    assert len(list(plugin.list_tokens("sql", "elsewhere", options))) == 10


def test_the_token_budget_is_shared_by_every_plugin_on_the_database(
    options: SqlStoreOptions, key: TokenKey
) -> None:
    from brokerauth.contract.specs import CallBudget

    budget = CallBudget(name="token", calls=2, per=60.0)
    one, two = SqlPlugin(), SqlPlugin()
    assert one.take_call("sql", key, options, budget, 1000.0) == 0.0
    assert two.take_call("sql", key, options, budget, 1001.0) == 0.0
    assert one.take_call("sql", key, options, budget, 1002.0) == pytest.approx(58.0)
    assert two.take_call("sql", key, options, budget, 1060.5) == 0.0


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://user:pw@db.internal/tokens", "password in plain text"),
    ("postgresql://user@db.internal/tokens", "without TLS and without an encryption_key"),
    ("postgresql://user@db.internal/tokens?sslmode=require",
     "without TLS and without an encryption_key"),
    ("postgresql://user@127.0.0.1:5432/", "names no database"),
    ("sqlite://host/tokens.db", "names a host"),
    ("sqlite:///tokens.db?mode=ro", "query"),
    ("file:///tokens.db", "must start with sqlite://"),
    ("sqlite:///var/", "absolute path"),
])
def test_urls_the_store_cannot_use_are_profile_errors(url: str, message: str) -> None:
    profile = Profile.from_mapping("p", {"broker": "bearer_double", "client_id": "c",
                                         "client_secret": {"env": "X"},
                                         "store": {"name": "sql", "url": url}})
    with pytest.raises(ProfileError, match=message) as info:
        resolve_profile(profile, PluginHost.create())
    # The transport rule is about the url and encryption_key together: the store is named.
    assert info.value.key == ("store" if "without TLS" in message else "store.url")
    assert "pw" not in str(info.value)


def test_url_forms() -> None:
    assert sqlite_path("sqlite:///var/lib/tokens.db") == Path("/var/lib/tokens.db")
    assert sqlite_path("sqlite:////var/lib/tokens.db") == Path("/var/lib/tokens.db")
    assert sqlite_path("sqlite:///~/tokens.db") == Path.home() / "tokens.db"


def test_a_session_uses_the_store_from_its_profile(
    double: Any, store_of: Any, options_of: Any
) -> None:
    import brokerauth

    profile = Profile.from_mapping("p", {"broker": "bearer_double", **double.profile_settings(),
                                         "store": store_of(busy_timeout=2)})
    with brokerauth.session(profile) as session:
        assert session.get("/api/me").ok
        token = session.token
    options = options_of(busy_timeout=2.0)
    assert SqlPlugin().load_token("sql", TokenKey("p", "default"), options) == token


def test_options_are_required(key: TokenKey) -> None:
    with pytest.raises(ConfigError, match="needs a url"):
        SqlPlugin().load_token("sql", key, None)


@pytest.mark.sqlite_only
def test_a_url_from_a_secret_reference_is_checked_when_revealed(
    plugin: SqlPlugin, database: Path, key: TokenKey, monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    from brokerauth.toolkit.secrets import Secret

    monkeypatch.setenv("BROKERAUTH_TEST_SQL_URL", f"sqlite://{database}")
    options = SqlStoreOptions(url=Secret(env="BROKERAUTH_TEST_SQL_URL"))
    token = make_token()
    plugin.store_token("sql", key, token, options)
    assert plugin.load_token("sql", key, options) == token
    assert database.exists()
    monkeypatch.setenv("BROKERAUTH_TEST_SQL_URL", "postgresql://app:hunter2-password@db/tokens")
    server = SqlStoreOptions(url=Secret(env="BROKERAUTH_TEST_SQL_URL"))
    with pytest.raises(ConfigError, match="env:BROKERAUTH_TEST_SQL_URL") as info:
        SqlPlugin().load_token("sql", key, server)
    assert "hunter2" not in str(info.value)
    assert "password in plain text" not in str(info.value)  # a reference may hold one
    assert "without TLS" in str(info.value)
