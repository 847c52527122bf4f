"""What the SDK's file cannot hold of a login is kept beside it, in brokerauth's pointer: the
origin the token was issued for (so a profile pointed elsewhere never sends it there), a
refused refresh (so it is not tried again and status says a person must act), when it was
issued and last used (horizons).  Once the SDK has refreshed the login itself, only what
belongs to the login, not to the token it replaced, is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.contract.tokens import ISSUED_FOR, TokenKey
from brokerauth_futu import tokenfile
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.server import RecordingServer
from futu_helpers import read_json
from test_futu_tokenfile import CLIENT, EXPIRES, oauth_token, sdk_file

KEY = TokenKey("futu-test")
ISSUED = datetime(2026, 3, 11, 11, 7, 1, tzinfo=UTC)
USED = ISSUED + timedelta(hours=5)
FAILURE = {"brokerauth.refresh_failure": "dead", "brokerauth.refresh_failures": "1",
           "brokerauth.refresh_failed_at": ISSUED.isoformat()}


def recorded() -> Any:
    token = oauth_token()
    return token.replace(issued_at=ISSUED, last_used_at=USED, extra={
        **token.extra, ISSUED_FOR: "https://openapi.futunn.com", **FAILURE})


def test_what_the_sdk_file_cannot_hold_comes_back(futu_tokens: Path) -> None:
    tokenfile.save(KEY, recorded())
    assert set(read_json(futu_tokens / CLIENT)) == {
        "client_id", "access_token", "refresh_token", "expires_at"}  # the SDK's format only
    loaded = tokenfile.load(KEY)
    assert loaded is not None
    assert loaded.extra[ISSUED_FOR] == "https://openapi.futunn.com"
    assert {k: loaded.extra[k] for k in FAILURE} == FAILURE
    assert (loaded.issued_at, loaded.last_used_at) == (ISSUED, USED)


def test_after_the_sdk_refreshed_only_the_origin_stays(futu_tokens: Path) -> None:
    tokenfile.save(KEY, recorded())
    # The Futu SDK refreshed the login on its own: a new token in its file.
    later = int((EXPIRES + timedelta(hours=2)).timestamp())
    sdk_file(futu_tokens, CLIENT, {"client_id": CLIENT, "access_token": "acc-2",
                                   "refresh_token": "ref-2", "expires_at": later})
    loaded = tokenfile.load(KEY)
    assert loaded is not None
    assert loaded.access_token == "acc-2"
    assert loaded.extra[ISSUED_FOR] == "https://openapi.futunn.com"
    assert not set(FAILURE) & set(loaded.extra)  # the refused token is gone
    assert loaded.last_used_at is None


def test_a_login_is_not_sent_where_the_profile_now_points(
    sandbox: FutuSandbox, open_futu: Any, tmp_path: Path
) -> None:
    sandbox.profile_mode = "oauth"
    first = open_futu(sandbox, name="moved")
    assert first.get("/v1/account/info").ok  # logged in (a browser approved), stored
    elsewhere = RecordingServer()
    elsewhere.start()
    try:
        moved = open_futu(sandbox, name="moved", base_url=elsewhere.base_url)
        with pytest.raises(LoginRequiredError, match="was not sent there"):
            moved.get("/v1/account/info")
    finally:
        elsewhere.stop()
    assert elsewhere.seen == []
