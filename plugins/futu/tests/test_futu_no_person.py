"""With no one to log in in the browser, a Futu OAuth login fails at once, before registering
a client or reading server metadata (QUALITY item 25)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.engine.api import session as open_session
from brokerauth.engine.profiles import Profile


@pytest.mark.parametrize("interactive", [False, None], ids=["interactive=False", "no terminal"])
def test_a_login_with_no_one_there_fails_at_once(
    oauth_sandbox: Any, clock: Any, plugin_host: Any, interactive: bool | None
) -> None:
    # A short login_timeout bounds the test should the login wait after all.
    table = {"broker": "futu", **oauth_sandbox.profile_settings(), "login_timeout": 2}
    session = open_session(Profile.from_mapping("futu-bot", table), clock=clock,
                           host=plugin_host, interactive=interactive)
    started = time.monotonic()
    with pytest.raises(LoginRequiredError) as caught:
        session.get("/v1/quote/snapshot")
    assert time.monotonic() - started < 1.0
    assert "brokerauth login futu-bot" in (caught.value.hint or "")
    assert sum(oauth_sandbox.calls.values()) == 0
