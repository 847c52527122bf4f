"""The grant registry (brokerauth.users) over the sql store, on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.profiles import Profile
from brokerauth_sql.options import SqlStoreOptions
from brokerauth_sql.plugin import SqlPlugin
from sql_helpers import Raw, make_token


def test_users_lists_every_identity_with_its_state(
    double: Any, store_of: Any, options: SqlStoreOptions, raw: Raw, where: str
) -> None:
    profile = Profile.from_mapping("platform", {
        "broker": "bearer_double", **double.profile_settings(), "store": store_of()})
    plugin = SqlPlugin()
    now = datetime.now(UTC)
    plugin.store_token("sql", TokenKey("platform", "alice"), make_token("a"), options)
    plugin.store_token("sql", TokenKey("platform", "bob"),
                       make_token("b", expires_at=now + timedelta(minutes=1)), options)
    plugin.store_token("sql", TokenKey("platform", "carol"), make_token("c"), options)
    plugin.store_token("sql", TokenKey("platform", "dave"), make_token("d"), options)
    plugin.delete_token("sql", TokenKey("platform", "carol"), options)
    plugin.store_token("sql", TokenKey("elsewhere", "erin"), make_token("e"), options)
    raw("UPDATE brokerauth_tokens SET data = ? WHERE identity = 'dave'", (b"{damaged",))
    grants = {grant.identity: grant for grant in brokerauth.users(profile)}
    assert set(grants) == {"alice", "bob", "dave"}
    assert grants["alice"].state == "fresh"
    assert grants["bob"].state != "fresh"
    # A row that cannot be read is listed, with what is wrong and no secret.
    assert grants["dave"].state == "error"
    assert where in (grants["dave"].problem or "")
    # Bob's access token ends within the hour, but his refresh token renews it: only the
    # row that needs a person is among those ending.
    expiring = {g.identity for g in brokerauth.users(profile, expiring=timedelta(hours=1))}
    assert expiring == {"dave"}


def test_users_reads_many_identities_in_few_queries(
    double: Any, store_of: Any, options: SqlStoreOptions, raw: Raw,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = Profile.from_mapping("platform", {
        "broker": "bearer_double", **double.profile_settings(), "store": store_of()})
    plugin = SqlPlugin()
    plugin.store_token("sql", TokenKey("platform", "first"), make_token("f"), options)
    raw("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1199) "
        "INSERT INTO brokerauth_tokens (profile, identity, data, generation, fence) "
        "SELECT 'platform', 'user-' || CAST(10000 + n.i AS TEXT), t.data, 1, 0 "
        "FROM brokerauth_tokens t, n WHERE t.identity = 'first'")
    raw("UPDATE brokerauth_tokens SET data = ? WHERE identity = 'user-10500'", (b"{damaged",))
    reads: list[str] = []
    # Each statement a back end runs for a load goes through its _read: count them.
    store = type(plugin.store_for(options))
    counted = store._read

    def counting(self: Any, action: str, key: Any, sql: str, parameters: Any) -> Any:
        reads.append(action)
        return counted(self, action, key, sql, parameters)

    monkeypatch.setattr(store, "_read", counting)
    grants = list(brokerauth.users(profile))
    assert len(grants) == 1201
    assert [g.identity for g in grants if g.state == "error"] == ["user-10500"]
    # 1,201 identities: 2 listing pages and 3 pages of tokens, not one read each.
    assert reads.count("read the token of") == 0
    assert reads.count("read the tokens of") == 3
