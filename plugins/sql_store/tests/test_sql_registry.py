"""The grant registry (brokerauth.users) over the sql store, on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import brokerauth
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.profiles import Profile
from brokerauth_sql.options import SqlStoreOptions
from brokerauth_sql.plugin import SqlPlugin
from sql_helpers import Raw, make_token, needs_bearer_double


@needs_bearer_double
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
