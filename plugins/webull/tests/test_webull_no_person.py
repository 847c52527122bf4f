"""With no one to enter the SMS code, a Webull 2FA login fails at once and texts no phone
(QUALITY item 25); Webull's test environment, which verifies tokens itself, needs no one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.engine.profiles import Profile
from brokerauth_webull.sandbox.server import WebullSandbox

ACCOUNTS = "/openapi/account/list"


def _session(sandbox: WebullSandbox, plugin_host: Any, interactive: bool | None) -> Any:
    table = {"broker": "webull", **sandbox.profile_settings(), "two_factor": "on"}
    return brokerauth.session(Profile.from_mapping("wb-bot", table), clock=sandbox.clock,
                              host=plugin_host, interactive=interactive)


@pytest.mark.parametrize("interactive", [False, None], ids=["interactive=False", "no terminal"])
def test_a_2fa_login_with_no_one_there_fails_at_once(
    webull: WebullSandbox, plugin_host: Any, token_home: Any, interactive: bool | None
) -> None:
    session = _session(webull, plugin_host, interactive)
    started = time.monotonic()
    with pytest.raises(LoginRequiredError) as caught:
        session.get(ACCOUNTS)
    assert time.monotonic() - started < 1.0
    assert "brokerauth login wb-bot" in (caught.value.hint or "")
    assert sum(webull.calls.values()) == 0  # no token created, so no SMS sent


def test_the_test_environment_needs_no_one(
    make_sandbox: Callable[..., WebullSandbox], plugin_host: Any, token_home: Any
) -> None:
    sandbox = make_sandbox(two_factor_required=True, auto_verify=True)
    assert _session(sandbox, plugin_host, False).get(ACCOUNTS).ok
