"""futu-cli's habits, over real HTTP against the sandbox: the ``webapi`` environment's scopes
(sent at registration and authorization) and callback ports 18888 to 18890, the first free one
taken; and the account facts of Futu's token answers, kept on the token, carried over a
refresh, kept beside the SDK's file (never in it), and cleaned as text a server wrote."""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from brokerauth.contract.errors import ConfigError
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.api import session as open_session
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth_futu import account, tokenfile
from brokerauth_futu.environments import CLI_REDIRECT_URIS, CLI_SCOPE
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_futu.settings import FutuFileOptions
from brokerauth_sandbox.server import HeadlessBrowser
from futu_helpers import read_json

CLI_PORTS = [int(urlsplit(uri).port or 0) for uri in CLI_REDIRECT_URIS]


@pytest.fixture
def taken() -> Iterator[Any]:
    """``taken(port)``: that loopback port is listened on by someone else for the test."""
    held: list[socket.socket] = []

    def take(port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # So that an earlier login's connections in TIME_WAIT do not pass for a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:  # listened on already: as good for the test
                raise
            return
        held.append(sock)

    yield take
    for sock in held:
        sock.close()


def webapi_session(sandbox: FutuSandbox, clock: Any, browser: HeadlessBrowser,
                   plugin_host: PluginHost) -> Any:
    table = {"broker": "futu", **sandbox.profile_settings(), "environment": "webapi"}
    del table["redirect_uri"]  # the environment's: futu-cli's ports
    return open_session(Profile.from_mapping("cli-like", table), clock=clock,
                        interaction=browser, host=plugin_host)


def test_webapi_login_asks_futu_cli_s_scope_on_the_first_free_port(
    make_sandbox: Any, clock: Any, browser: HeadlessBrowser, plugin_host: PluginHost,
    taken: Any,
) -> None:
    sandbox = make_sandbox(profile_mode="oauth")
    taken(CLI_PORTS[0])
    with webapi_session(sandbox, clock, browser, plugin_host) as session:
        assert session.get("/v1/quote/snapshot").ok
        (registered,) = sandbox.registration_requests
        assert registered["scope"] == CLI_SCOPE
        (redirect,) = registered["redirect_uris"]
        assert urlsplit(redirect).port in CLI_PORTS[1:]
        query = parse_qs(urlsplit(browser.visited[0]).query)
        assert query["scope"] == [CLI_SCOPE]
        assert query["redirect_uri"] == [redirect]
        assert session.token.scope is None or session.token.scope == CLI_SCOPE


def test_with_every_futu_cli_port_taken_the_login_says_so_before_sending_anything(
    make_sandbox: Any, clock: Any, browser: HeadlessBrowser, plugin_host: PluginHost,
    taken: Any,
) -> None:
    sandbox = make_sandbox(profile_mode="oauth")
    for port in CLI_PORTS:
        taken(port)
    with webapi_session(sandbox, clock, browser, plugin_host) as session, \
            pytest.raises(ConfigError) as info:
        session.login()
    assert "18888, 18889, 18890" in info.value.message
    assert "redirect_uri" in (info.value.hint or "")
    assert sum(sandbox.calls.values()) == 0
    assert browser.visited == []


def test_account_facts_are_kept_shown_and_carried_over_a_refresh(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any, futu_tokens: Path
) -> None:
    session = open_futu(oauth_sandbox)
    assert session.get("/v1/quote/snapshot").ok
    token = session.token
    assert token.facts()["futu_id"] == "10000001"
    assert token.facts()["account_name"] == "Sandbox User"  # from the nested account object
    assert token.facts()["quote_permissions"] == "us:lv1 hk:lv2"
    client_id = token.extra["client_id"]
    # The SDK's file stays its four fields; the facts live in the login record beside it.
    assert set(read_json(futu_tokens / client_id)) == {"client_id", "access_token",
                                                       "refresh_token", "expires_at"}
    loaded = tokenfile.load(TokenKey("futu-test"), FutuFileOptions(path=str(futu_tokens)))
    assert loaded is not None
    assert loaded.facts()["account_no"] == "SANDBOX-0001"
    # A refresh answer without them keeps the login's.
    oauth_sandbox.account_facts = {}
    clock.advance(7200 - 30)
    assert session.get("/v1/quote/snapshot").ok
    assert oauth_sandbox.stats["refresh"] == 1
    assert session.token.facts()["futu_id"] == "10000001"
    # New ones replace them.
    oauth_sandbox.account_facts = {"futu_id": 20000002}
    clock.advance(7200 - 30)
    assert session.get("/v1/quote/snapshot").ok
    assert session.token.facts()["futu_id"] == "20000002"


def test_a_damaged_fact_record_drops_the_facts_not_the_login(
    oauth_sandbox: FutuSandbox, open_futu: Any, futu_tokens: Path
) -> None:
    session = open_futu(oauth_sandbox)
    assert session.get("/v1/quote/snapshot").ok
    (pointer,) = (futu_tokens / ".brokerauth").rglob("*.client")
    record = json.loads(pointer.read_text(encoding="utf-8"))
    pointer.write_text(json.dumps({**record, "account": ["not", "facts"]}), encoding="utf-8")
    loaded = tokenfile.load(TokenKey("futu-test"), FutuFileOptions(path=str(futu_tokens)))
    assert loaded is not None
    assert loaded.access_token == session.token.access_token
    assert loaded.facts() == {"client_id": record["client_id"], "mode": "oauth"}


def test_facts_are_one_printable_line_without_the_answer_s_tokens() -> None:
    body = {
        "access_token": "at-0123456789abcdef",
        "refresh_token": "rt-0123456789abcdef",
        "name": "top-level name",
        "futu_id": 12345,
        "member_id": True,  # not a number of any use
        "account_type": {"nested": "object"},
        "account": {"name": "Eve\x1b[2J\x1b]0;pwned\x07 at-0123456789abcdef",
                    "account_no": "x" * 500},
        "quote_permissions": ["us:lv1", 7, "hk:lv2"],
        "activated_packages": "a,b c",
    }
    facts = account.from_answer(body)
    assert facts["futu_id"] == "12345"
    assert "member_id" not in facts
    assert "account_type" not in facts
    name = facts["account_name"]  # the nested account wins
    assert "\x1b" not in name
    assert "\x07" not in name
    assert "at-0123456789abcdef" not in name
    assert name.startswith("Eve")
    assert len(facts["account_no"]) <= account.MAX_CHARS + 1
    assert facts["quote_permissions"] == "us:lv1 hk:lv2"
    assert facts["activated_packages"] == "a b c"
    assert account.cleaned({"futu_id": "1", "other": "x", "name": 3}) == {"futu_id": "1"}
