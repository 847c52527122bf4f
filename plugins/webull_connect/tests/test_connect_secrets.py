"""No secret in any log line, message or repr: canary credentials through a whole lifecycle
(login both ways, refresh, rotation, refusals) at DEBUG logging."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import brokerauth
import pytest
from brokerauth.contract.errors import BrokerAuthError
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.server import HeadlessBrowser
from brokerauth_webull_connect import begin_login, complete
from brokerauth_webull_connect.sandbox.server import LOGIN_PATHS, ConnectSandbox
from connect_helpers import (
    ACCOUNTS,
    CANARY_APP_KEY,
    CANARY_APP_SECRET,
    CANARY_CLIENT_SECRET,
    PLATFORM_REDIRECT,
    approve,
    profile_for,
)


class RecordingBrowser(HeadlessBrowser):
    """Keeps every code and state it carried, to look for them afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.carried: list[str] = []

    def open_url(self, url: str) -> None:
        super().open_url(url)
        for visited in self.visited:
            for key in ("code", "state"):
                self.carried += parse_qs(urlsplit(visited).query).get(key, [])


def test_no_secret_reaches_a_log_a_message_or_a_repr(
    manual_clock: Any, token_home: Any, plugin_host: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = ConnectSandbox(manual_clock, client_secret=CANARY_CLIENT_SECRET,
                             app_key=CANARY_APP_KEY, app_secret=CANARY_APP_SECRET,
                             auto_approve=True)
    sandbox.start()
    texts: list[str] = []
    secrets = [CANARY_CLIENT_SECRET, CANARY_APP_SECRET]
    try:
        browser = RecordingBrowser()
        profile = profile_for(sandbox)
        with brokerauth.session(profile, clock=manual_clock, host=plugin_host,
                                interaction=browser) as session:
            assert session.get(ACCOUNTS).ok
            first = session.token
            manual_clock.advance(1801)
            assert session.get(ACCOUNTS).ok
            second = session.token
            texts += [repr(session), repr(first), repr(second), str(second),
                      repr(session.binding.settings), repr(sandbox)]
            secrets += [first.access_token, first.refresh_token, second.access_token,
                        second.refresh_token]
            # Refusals: a forged refresh token, a wrong client secret.
            session.binding.save(second.replace(refresh_token="forged-" + "x" * 20,
                                                expires_at=second.issued_at))
            session.tokens.forget()
            with pytest.raises(BrokerAuthError) as refused:
                session.get(ACCOUNTS)
            texts += [str(refused.value), repr(refused.value), str(refused.value.hint)]

        sandbox.redirect_uri = PLATFORM_REDIRECT
        platform = profile_for(sandbox)
        pending = begin_login(platform, host=plugin_host, clock=manual_clock)
        callback = approve(pending.url)
        secrets += [pending.state, parse_qs(urlsplit(callback).query)["code"][0]]
        token = complete(pending, callback, profile=platform, host=plugin_host,
                         clock=manual_clock)
        secrets += [token.access_token, token.refresh_token]
        texts += [repr(pending), str(pending), repr(token)]
        with pytest.raises(BrokerAuthError) as again:
            complete(pending, callback, profile=platform, host=plugin_host, clock=manual_clock)
        texts += [str(again.value)]
        wrong = profile_for(sandbox, client_secret=Secret.from_value("wrong-" + "y" * 20))
        other = begin_login(wrong, host=plugin_host, clock=manual_clock)
        with pytest.raises(BrokerAuthError) as bad_client:
            complete(other, approve(other.url), profile=wrong, host=plugin_host,
                     clock=manual_clock)
        texts += [str(bad_client.value)]
        secrets += browser.carried
    finally:
        sandbox.stop()

    # urllib3 logs each request line at DEBUG; the lines of the test's stand-in browser
    # (login page and callback URLs carry the state and the code) are the browser's, not
    # this program's.  Every other line, urllib3's included, is checked.
    logged = "\n".join(
        record.getMessage() for record in caplog.records
        if not (record.name.startswith("urllib3") and _browser_line(record.getMessage()))
    )
    assert "stored the token" in logged  # the log was captured at all
    for text in [logged, *texts]:
        for secret in secrets:
            assert secret not in text
    # Nothing besides the token store's own files was written.
    written = [p for p in token_home.rglob("*") if p.is_file()]
    assert all(p.suffix in (".json", ".lock") for p in written), written


def _browser_line(message: str) -> bool:
    return any(path in message for path in (*LOGIN_PATHS, "/callback?", "/webull/callback?"))
