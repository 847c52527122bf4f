"""Logging in, end to end over real HTTP: through the loopback listener (a headless browser
approves) and through complete() (a platform's own server receives the redirect)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from brokerauth.contract.errors import ConfigError, LoginRequiredError
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit.oauth import AuthorizationError
from brokerauth_sandbox.server import HeadlessBrowser
from brokerauth_webull_connect import (
    AuthorizationRequired,
    PendingLogin,
    begin_login,
    complete,
    login,
)
from brokerauth_webull_connect.sandbox.server import DEFAULT_USER
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, approve, get, profile_for


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# -- the loopback listener --------------------------------------------------------------------
def test_first_request_logs_in_through_the_loopback_listener(
    connect: Any, make_session: Any, browser: HeadlessBrowser
) -> None:
    session = make_session()
    response = session.get(ACCOUNTS)
    assert response.status == 200
    assert response.json()[0]["account_id"] == f"{DEFAULT_USER}-1"
    # The browser went to the login page, then to the listener, which accepted.
    assert browser.visited[0].startswith(connect.login_url + "?")
    assert browser.visited[1].startswith(connect.redirect_uri + "?code=")
    assert browser.final_status == 200
    token = session.token
    assert token.identity == DEFAULT_USER
    assert token.refresh_token is not None
    assert token.expires_at == connect.clock.now() + timedelta(minutes=30)
    assert token.refresh_expires_at == connect.clock.now() + timedelta(days=15)
    # A single-user desktop session keeps the token under its own identity.
    assert session.identity == "default"
    assert session.binding.load() == token
    assert connect.code_exchanges == 1


def test_authorization_url_carries_what_webull_asks_for(connect: Any, make_session: Any,
                                                        browser: HeadlessBrowser) -> None:
    make_session().login()
    params = query(browser.visited[0])
    assert params["response_type"] == "code"
    assert params["client_id"] == connect.client_id
    assert params["scope"] == "user:trade:wr"
    assert params["redirect_uri"] == connect.redirect_uri
    assert len(params["state"]) >= 22  # at least 128 random bits
    assert "code_challenge" not in params  # PKCE is not documented by Webull: off by default


def test_pkce_when_the_profile_asks_for_it(connect: Any, make_session: Any,
                                           browser: HeadlessBrowser) -> None:
    session = make_session(pkce=True)
    assert session.get(ACCOUNTS).ok
    params = query(browser.visited[0])
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43


def test_login_helper_stores_under_the_identity_id_and_returns_its_session(
    connect: Any, token_home: Any, plugin_host: Any, browser: HeadlessBrowser
) -> None:
    connect.next_user = "ID-DESKTOP-7"
    session = login(profile_for(connect), host=plugin_host, clock=connect.clock,
                    interaction=browser)
    try:
        assert session.identity == "ID-DESKTOP-7"
        assert session.get(ACCOUNTS).json()[0]["account_id"] == "ID-DESKTOP-7-1"
        assert connect.code_exchanges == 1  # the session reused the stored token
    finally:
        session.close()


def test_login_helper_needs_a_loopback_redirect(connect: Any, token_home: Any,
                                                plugin_host: Any) -> None:
    connect.redirect_uri = PLATFORM_REDIRECT
    with pytest.raises(ConfigError, match="redirect_uri"):
        login(profile_for(connect), host=plugin_host, clock=connect.clock,
              interaction=HeadlessBrowser())


class _Attacker(HeadlessBrowser):
    """Before approving, plays a forged callback (wrong state) and a DNS-rebinding page
    (wrong Host); after, replays the good callback."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[str, int] = {}

    def open_url(self, url: str) -> None:
        redirect = query(url)["redirect_uri"]
        self.statuses["wrong state"] = get(f"{redirect}?code=forged&state=guess").status
        self.statuses["wrong host"] = get(
            f"{redirect}?code=forged&state={query(url)['state']}",
            headers={"Host": "evil.example"},
        ).status
        callback = approve(url)
        self.statuses["good"] = get(callback).status
        self.statuses["second"] = get(callback).status


def test_listener_refuses_wrong_state_wrong_host_and_a_second_callback(
    connect: Any, make_session: Any
) -> None:
    attacker = _Attacker()
    session = make_session(interaction=attacker)
    token = session.login()
    assert attacker.statuses == {
        "wrong state": 400, "wrong host": 400, "good": 200, "second": 400,
    }
    assert token is not None
    assert token.identity == DEFAULT_USER
    assert connect.code_exchanges == 1


class _SlowUser(HeadlessBrowser):
    """Approves, but the program gets the code only after it expired."""

    def __init__(self, clock: Any) -> None:
        super().__init__()
        self.clock = clock

    def open_url(self, url: str) -> None:
        super().open_url(url)
        self.clock.advance(61)


def test_expired_code_is_refused_with_a_clear_error(connect: Any, make_session: Any) -> None:
    session = make_session(interaction=_SlowUser(connect.clock))
    with pytest.raises(AuthorizationError) as info:
        session.login()
    assert "codes live 60 seconds" in str(info.value)
    assert connect.rejections["token.auth.code.error"] == 1
    assert session.binding.load() is None


class _Denier(HeadlessBrowser):
    def open_url(self, url: str) -> None:
        params = query(url)
        get(f"{params['redirect_uri']}?error=access_denied&state={params['state']}")


def test_denied_login_ends_the_wait_with_its_reason(connect: Any, make_session: Any) -> None:
    with pytest.raises(AuthorizationError, match="access_denied"):
        make_session(interaction=_Denier()).login()
    assert connect.code_exchanges == 0


def test_login_times_out_when_nobody_approves(connect: Any, make_session: Any) -> None:
    class Nobody(HeadlessBrowser):
        def open_url(self, url: str) -> None:
            return None

    session = make_session(interaction=Nobody(), login_timeout=0.2)
    with pytest.raises(LoginRequiredError, match="no login callback"):
        session.login()


def test_non_loopback_profile_asks_for_the_platforms_server(
    connect: Any, make_session: Any, plugin_host: Any
) -> None:
    connect.redirect_uri = PLATFORM_REDIRECT
    session = make_session()
    with pytest.raises(AuthorizationRequired) as info:
        session.get(ACCOUNTS)
    error = info.value
    assert error.login_url is not None
    assert error.login_url.startswith(connect.login_url + "?")
    assert query(error.login_url)["redirect_uri"] == PLATFORM_REDIRECT
    assert "complete(" in str(error)
    # The error carries the pending login that finishes it, for this session's identity.
    token = complete(error.pending, approve(error.login_url),
                     profile=session.binding.resolved.profile, host=plugin_host,
                     clock=connect.clock)
    assert error.pending.user == "default"
    assert session.get(ACCOUNTS).ok
    assert session.token == token


# -- complete(): the platform's own server receives the redirect ------------------------------
@pytest.fixture
def platform(connect: Any) -> Any:
    connect.redirect_uri = PLATFORM_REDIRECT
    return connect


def test_platform_login_with_begin_and_complete(
    platform: Any, token_home: Any, plugin_host: Any, make_session: Any
) -> None:
    profile = profile_for(platform)
    pending = begin_login(profile, host=plugin_host, clock=platform.clock)
    assert pending.url.startswith(platform.login_url)
    # The platform keeps it between the redirect out and the callback in.
    saved = pending.to_json()
    assert platform.client_secret not in saved
    assert platform.app_secret not in saved
    restored = PendingLogin.from_json(saved)
    assert restored == pending

    callback = approve(pending.url)
    assert callback.startswith(PLATFORM_REDIRECT + "?code=")
    token = complete(restored, callback, profile=profile, host=plugin_host, clock=platform.clock)
    assert token.identity == DEFAULT_USER
    # Stored under the user's identity_id; a session for that user uses it.
    session = make_session(user=DEFAULT_USER)
    assert session.get(ACCOUNTS).json()[0]["account_id"] == f"{DEFAULT_USER}-1"
    assert session.token == token
    assert platform.code_exchanges == 1


def test_complete_accepts_the_query_or_its_parameters(
    platform: Any, token_home: Any, plugin_host: Any
) -> None:
    profile = profile_for(platform)
    for shape in ("query", "mapping"):
        pending = begin_login(profile, host=plugin_host, clock=platform.clock)
        callback = approve(pending.url)
        given: Any = urlsplit(callback).query if shape == "query" else query(callback)
        token = complete(pending, given, profile=profile, host=plugin_host, clock=platform.clock)
        assert token.identity == DEFAULT_USER


def test_complete_refuses_a_wrong_state_before_any_exchange(
    platform: Any, token_home: Any, plugin_host: Any
) -> None:
    profile = profile_for(platform)
    first = begin_login(profile, host=plugin_host, clock=platform.clock)
    second = begin_login(profile, host=plugin_host, clock=platform.clock)
    callback = approve(first.url)
    with pytest.raises(AuthorizationError, match="state does not match"):
        complete(second, callback, profile=profile, host=plugin_host, clock=platform.clock)
    with pytest.raises(AuthorizationError, match="state does not match"):
        complete(first, callback.split("&state=")[0], profile=profile, host=plugin_host,
                 clock=platform.clock)
    assert platform.code_exchanges == 0


def test_complete_refuses_a_second_callback_and_an_expired_code(
    platform: Any, token_home: Any, plugin_host: Any, manual_clock: Any
) -> None:
    profile = profile_for(platform)
    pending = begin_login(profile, host=plugin_host, clock=platform.clock)
    callback = approve(pending.url)
    complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)
    with pytest.raises(AuthorizationError) as used:
        complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)
    assert "The authorization code is invalid or has expired." in used.value.message
    assert "work once" in (used.value.hint or "")

    late = begin_login(profile, host=plugin_host, clock=platform.clock)
    callback = approve(late.url)
    manual_clock.advance(61)
    with pytest.raises(AuthorizationError) as info:
        complete(late, callback, profile=profile, host=plugin_host, clock=platform.clock)
    assert "codes live 60 seconds" in str(info.value)
    assert info.value.hint is not None


def test_complete_refuses_a_login_older_than_login_timeout(
    platform: Any, token_home: Any, plugin_host: Any, manual_clock: Any
) -> None:
    profile = profile_for(platform, login_timeout=120.0)
    pending = begin_login(profile, host=plugin_host, clock=platform.clock)
    manual_clock.advance(121)
    callback = approve(pending.url)
    with pytest.raises(AuthorizationError, match="too long ago"):
        complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)
    assert platform.code_exchanges == 0


def test_complete_refuses_another_profiles_login(platform: Any, token_home: Any,
                                                 plugin_host: Any) -> None:
    pending = begin_login(profile_for(platform, "one"), host=plugin_host, clock=platform.clock)
    with pytest.raises(ConfigError, match="started for profile 'one'"):
        complete(pending, approve(pending.url), profile=profile_for(platform, "two"),
                 host=plugin_host, clock=platform.clock)


def test_denied_platform_login(platform: Any, token_home: Any, plugin_host: Any) -> None:
    profile = profile_for(platform)
    pending = begin_login(profile, host=plugin_host, clock=platform.clock)
    callback = f"{PLATFORM_REDIRECT}?error=access_denied&state={pending.state}"
    with pytest.raises(AuthorizationError, match="access_denied"):
        complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)


def test_complete_by_profile_name_from_the_profiles_file(
    platform: Any, token_home: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    # Secrets come from the environment, as in a real profiles file.
    monkeypatch.setenv("T_CLIENT_SECRET", platform.client_secret)
    monkeypatch.setenv("T_APP_KEY", platform.app_key)
    monkeypatch.setenv("T_APP_SECRET", platform.app_secret)
    file = tmp_path / "brokerauth.toml"
    file.write_text(
        "[profiles.connect-live]\n"
        'broker = "webull_connect"\n'
        f'base_url = "{platform.base_url}"\n'
        f'login_url = "{platform.login_url}"\n'
        f'client_id = "{platform.client_id}"\n'
        'client_secret = { env = "T_CLIENT_SECRET" }\n'
        'app_key = { env = "T_APP_KEY" }\n'
        'app_secret = { env = "T_APP_SECRET" }\n'
        'scope = "user:trade:wr"\n'
        f'redirect_uri = "{PLATFORM_REDIRECT}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("BROKERAUTH_PROFILES", str(file))
    # The login can start where no secret is available (a web front end).
    monkeypatch.delenv("T_CLIENT_SECRET")
    pending = begin_login("connect-live", clock=platform.clock)
    monkeypatch.setenv("T_CLIENT_SECRET", platform.client_secret)
    token = complete(pending, approve(pending.url), clock=platform.clock)
    import brokerauth

    with brokerauth.session("connect-live", user=token.identity, clock=platform.clock) as api:
        assert api.get(ACCOUNTS).ok
        assert api.binding.key == TokenKey("connect-live", DEFAULT_USER)


def test_sandbox_login_page_refuses_an_unregistered_redirect(connect: Any) -> None:
    page = get(f"{connect.login_url}?response_type=code&client_id={connect.client_id}"
               f"&scope=user:trade:wr&state=s&redirect_uri=http://127.0.0.1:1/elsewhere")
    assert page.status == 400
    assert "Location" not in page.headers  # never redirected to an unverified URI


def test_a_person_can_approve_on_the_sandbox_page(connect: Any) -> None:
    connect.auto_approve = False
    url = (f"{connect.login_url}?response_type=code&client_id={connect.client_id}"
           f"&scope=user:trade:wr&state=s1&redirect_uri={connect.redirect_uri}")
    page = get(url)
    assert page.status == 200
    text = page.data.decode()
    assert "Approve" in text
    assert "Deny" in text
    assert 'method="post"' in text
    assert connect.client_secret not in text
    form = dict(query(url), decision="approve", user="ID-PERSON")
    answer = urllib3.PoolManager().request(
        "POST", connect.login_url, fields=form, encode_multipart=False, redirect=False
    )
    assert answer.status == 302
    back = query(answer.headers["Location"])
    assert back["state"] == "s1"
    assert back["code"]
    denied = urllib3.PoolManager().request(
        "POST", connect.login_url, fields=dict(form, decision="deny"), encode_multipart=False,
        redirect=False,
    )
    assert query(denied.headers["Location"])["error"] == "access_denied"


def test_pending_login_hides_its_state_and_refuses_damaged_data(
    platform: Any, plugin_host: Any
) -> None:
    pending = begin_login(profile_for(platform), user="ID-7", host=plugin_host,
                          clock=platform.clock)
    for text in (repr(pending), str(pending)):
        assert pending.state not in text
        assert "ID-7" in text
    data = pending.to_dict()
    assert data["created_at"].endswith("+00:00")
    assert PendingLogin.from_dict(data) == pending
    for damaged in ({**data, "client_secret": "x"}, {k: v for k, v in data.items()
                                                     if k != "state"},
                    {**data, "expires_at": "soon"}):
        with pytest.raises(ValueError, match="not a saved Webull Connect login") as info:
            PendingLogin.from_dict(damaged)
        assert pending.state not in str(info.value)
    with pytest.raises(ValueError, match="not JSON"):
        PendingLogin.from_json("{")
