"""The OAuth public client over real HTTP: registration, PKCE login through the loopback
listener, API calls, refresh (rotating or not), revocation, and what the sandbox refuses."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from brokerauth.contract.errors import ConfigError, LoginRequiredError
from brokerauth.toolkit.oauth import Pkce, new_state
from brokerauth_futu import logout, revoke_token
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.server import HeadlessBrowser
from futu_helpers import mode_of, read_json, redirect_for


def login(open_futu: Any, sandbox: FutuSandbox, **keys: Any) -> Any:
    session = open_futu(sandbox, **keys)
    assert session.get("/v1/quote/snapshot").ok
    return session


def test_registration_login_call_refresh(
    oauth_sandbox: FutuSandbox, open_futu: Any, browser: HeadlessBrowser, clock: Any,
    futu_tokens: Path,
) -> None:
    session = open_futu(oauth_sandbox)
    response = session.get("/v1/quote/snapshot")
    assert response.status == 200, response.text
    assert response.json()["data"]["auth"] == "oauth"

    # RFC 7591: exactly the seed's request body.
    (body,) = oauth_sandbox.registration_requests
    assert body == {
        "redirect_uris": [oauth_sandbox.profile_redirect_uri],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "brokerauth",
    }
    # The browser went to the authorization endpoint with PKCE S256 and a state, and the
    # loopback listener accepted the redirect.
    query = parse_qs(urlsplit(browser.visited[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 22
    assert len(query["code_challenge"][0]) == 43
    assert browser.final_status == 200
    token = session.token
    (client_id,) = oauth_sandbox.clients()
    assert token.extra["client_id"] == client_id

    # Refresh: the token lives 7200 s; inside the mandatory window the session refreshes once
    # and rotates the refresh token.
    first_refresh = token.refresh_token
    clock.advance(7200 - 30)
    assert session.get("/v1/quote/snapshot").ok
    assert oauth_sandbox.stats["refresh"] == 1
    new = session.token
    assert new.access_token != token.access_token
    assert new.refresh_token != first_refresh
    assert not oauth_sandbox.refresh_token_valid(first_refresh)
    stored = read_json(futu_tokens / client_id)
    assert stored["refresh_token"] == new.refresh_token
    assert oauth_sandbox.stats["register"] == 1
    assert oauth_sandbox.stats["code_exchange"] == 1


def test_registration_is_saved_privately_and_reused(
    oauth_sandbox: FutuSandbox, open_futu: Any, futu_tokens: Path
) -> None:
    session = login(open_futu, oauth_sandbox)
    (record,) = (futu_tokens / ".brokerauth" / "@registrations").iterdir()
    assert mode_of(record) == 0o600
    saved = read_json(record)
    assert saved["client_id"] == session.token.extra["client_id"]
    assert "registration_access_token" in saved
    # A new login (after logout) reuses the registered client instead of registering again.
    assert logout(session)
    again = login(open_futu, oauth_sandbox, name="futu-test")
    assert again.token.extra["client_id"] == saved["client_id"]
    assert oauth_sandbox.stats["register"] == 1
    assert oauth_sandbox.stats["code_exchange"] == 2


def test_refresh_without_rotation_keeps_the_refresh_token(
    make_sandbox: Any, open_futu: Any, port: int, clock: Any
) -> None:
    sandbox = make_sandbox(profile_mode="oauth", rotate_refresh=False)
    sandbox.profile_redirect_uri = redirect_for(port)
    session = login(open_futu, sandbox)
    before = session.token
    clock.advance(7200 - 10)
    assert session.get("/v1/quote/snapshot").ok
    after = session.token
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token
    clock.advance(7200 - 10)
    assert session.get("/v1/quote/snapshot").ok
    assert sandbox.stats["refresh"] == 2


def test_server_side_expiry_refreshes_once_on_401(
    oauth_sandbox: FutuSandbox, open_futu: Any
) -> None:
    session = login(open_futu, oauth_sandbox)
    oauth_sandbox.expire_access_tokens()
    assert session.get("/v1/quote/snapshot").ok
    assert oauth_sandbox.stats["refresh"] == 1
    assert oauth_sandbox.stats["invalid_token"] == 1


def test_revoked_grant_asks_for_login_without_a_loop(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any
) -> None:
    session = login(open_futu, oauth_sandbox)
    oauth_sandbox.revoke_all_grants()
    with pytest.raises(LoginRequiredError) as info:
        session.get("/v1/quote/snapshot")
    assert "brokerauth login futu-test" in str(info.value)
    assert oauth_sandbox.stats["refresh"] == 1
    assert oauth_sandbox.count("GET", "/v1/quote/snapshot") == 2


def test_logout_revokes_at_the_server_and_deletes_the_file(
    oauth_sandbox: FutuSandbox, open_futu: Any, futu_tokens: Path
) -> None:
    session = login(open_futu, oauth_sandbox)
    token = session.token
    path = futu_tokens / token.extra["client_id"]
    assert path.exists()
    assert logout(session) is True
    assert not path.exists()
    assert oauth_sandbox.stats["revoke"] == 2  # refresh token, then access token
    assert not oauth_sandbox.refresh_token_valid(token.refresh_token)
    assert not oauth_sandbox.access_token_valid(token.access_token)
    assert logout(session) is False


def test_revoke_token_function(oauth_sandbox: FutuSandbox, open_futu: Any) -> None:
    session = login(open_futu, oauth_sandbox)
    token = session.token
    binding = session.binding
    assert revoke_token(binding.settings, binding.flow_context(token).http, token) is True
    assert not oauth_sandbox.access_token_valid(token.access_token)


def test_port_in_use_fails_within_a_second(
    oauth_sandbox: FutuSandbox, open_futu: Any, port: int
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        session = open_futu(oauth_sandbox)
        started = time.perf_counter()
        with pytest.raises(ConfigError) as info:
            session.get("/v1/quote/snapshot")
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert f"port {port}" in str(info.value)
    assert "already in use" in str(info.value)
    # Nothing reached the server: the port is checked before any network call.
    assert oauth_sandbox.stats["register"] == 0


def test_discovery_finds_a_moved_authorization_endpoint(
    make_sandbox: Any, open_futu: Any, port: int
) -> None:
    # The server confirms logins at /oauth2/authorize/confirm (the webapi layout) and says so
    # only in its RFC 8414 metadata.
    sandbox = make_sandbox(profile_mode="oauth", authorize_path="/oauth2/authorize/confirm")
    sandbox.profile_redirect_uri = redirect_for(port)
    login(open_futu, sandbox)
    assert sandbox.count("GET", "/oauth2/authorize/confirm") == 1


def test_discovery_can_be_disabled_and_explicit_paths_win(
    make_sandbox: Any, open_futu: Any, port: int
) -> None:
    sandbox = make_sandbox(profile_mode="oauth", authorize_path="/oauth2/authorize/confirm")
    sandbox.profile_redirect_uri = redirect_for(port)
    login(open_futu, sandbox, discovery=False, authorize_path="/authorize/confirm")
    assert sandbox.count("GET", "/.well-known/oauth-authorization-server/oauth2") == 0
    assert sandbox.count("GET", "/oauth2/authorize/confirm") == 1


def test_without_metadata_the_configured_endpoints_are_used(
    make_sandbox: Any, open_futu: Any, port: int
) -> None:
    sandbox = make_sandbox(profile_mode="oauth", serve_metadata=False)
    sandbox.profile_redirect_uri = redirect_for(port)
    login(open_futu, sandbox)
    assert sandbox.count("GET", "/.well-known/oauth-authorization-server/oauth2") == 1
    assert sandbox.count("GET", "/.well-known/oauth-authorization-server") == 1
    assert sandbox.count("GET", "/oauth2/authorize") == 1


def test_preregistered_client_id_is_used_without_registration(
    oauth_sandbox: FutuSandbox, open_futu: Any
) -> None:
    client_id = oauth_sandbox.register_client([oauth_sandbox.profile_redirect_uri])
    session = login(open_futu, oauth_sandbox, client_id=client_id)
    assert session.token.extra["client_id"] == client_id
    assert oauth_sandbox.stats["register"] == 0


# --- what the sandbox refuses (driven by hand, as an attacker or a broken client would) -----


@pytest.fixture
def http() -> Any:
    with urllib3.PoolManager(retries=False, timeout=5.0) as pool:
        yield pool


def authorize(http: Any, sandbox: FutuSandbox, client_id: str, redirect_uri: str,
              pkce: Pkce | None, method: str | None = "S256") -> Any:
    fields = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "state": new_state()}
    if pkce is not None:
        fields["code_challenge"] = pkce.challenge if method == "S256" else pkce.verifier[:43]
    if method is not None:
        fields["code_challenge_method"] = method
    return http.request("GET", sandbox.oauth_base_url + "/authorize", fields=fields,
                        redirect=False)


def code_of(response: Any) -> str:
    assert response.status == 302, response.data
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def exchange(http: Any, sandbox: FutuSandbox, **form: str) -> Any:
    return http.request_encode_body("POST", sandbox.oauth_base_url + "/token",
                                    fields={"grant_type": "authorization_code", **form},
                                    encode_multipart=False)


@pytest.fixture
def client(oauth_sandbox: FutuSandbox) -> tuple[str, str]:
    redirect = oauth_sandbox.profile_redirect_uri
    return oauth_sandbox.register_client([redirect]), redirect


def test_wrong_code_verifier_is_refused(
    http: Any, oauth_sandbox: FutuSandbox, client: tuple[str, str]
) -> None:
    client_id, redirect = client
    pkce = Pkce.create()
    code = code_of(authorize(http, oauth_sandbox, client_id, redirect, pkce))
    wrong = Pkce.create().verifier
    answer = exchange(http, oauth_sandbox, code=code, client_id=client_id, redirect_uri=redirect,
                      code_verifier=wrong)
    assert answer.status == 400
    assert answer.json()["error"] == "invalid_grant"
    # The code is burnt by the failed attempt: the right verifier no longer helps.
    again = exchange(http, oauth_sandbox, code=code, client_id=client_id, redirect_uri=redirect,
                     code_verifier=pkce.verifier)
    assert again.json()["error"] == "invalid_grant"


def test_plain_or_missing_pkce_is_refused(
    http: Any, oauth_sandbox: FutuSandbox, client: tuple[str, str]
) -> None:
    client_id, redirect = client
    for method in ("plain", None):
        response = authorize(http, oauth_sandbox, client_id, redirect, Pkce.create(), method)
        assert response.status == 302
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["error"] == ["invalid_request"]
        assert "code" not in query
    missing = authorize(http, oauth_sandbox, client_id, redirect, None)
    assert "code" not in parse_qs(urlsplit(missing.headers["Location"]).query)


def test_redirect_uri_must_match_exactly(
    http: Any, oauth_sandbox: FutuSandbox, client: tuple[str, str]
) -> None:
    client_id, redirect = client
    for other in (redirect + "/", redirect.replace("127.0.0.1", "localhost"),
                  redirect + "?x=1"):
        response = authorize(http, oauth_sandbox, client_id, other, Pkce.create())
        assert response.status == 400  # an error page, never a redirect
        assert "Location" not in response.headers


def test_codes_are_single_use_and_short_lived(
    http: Any, oauth_sandbox: FutuSandbox, client: tuple[str, str], clock: Any
) -> None:
    client_id, redirect = client
    pkce = Pkce.create()
    code = code_of(authorize(http, oauth_sandbox, client_id, redirect, pkce))
    form = {"client_id": client_id, "redirect_uri": redirect, "code_verifier": pkce.verifier}
    first = exchange(http, oauth_sandbox, code=code, **form)
    assert first.status == 200
    issued = first.json()["access_token"]
    second = exchange(http, oauth_sandbox, code=code, **form)
    assert second.json()["error"] == "invalid_grant"
    # A code used twice may have been stolen: what it issued is revoked.
    assert not oauth_sandbox.access_token_valid(issued)

    late = Pkce.create()
    code = code_of(authorize(http, oauth_sandbox, client_id, redirect, late))
    clock.advance(61)
    expired = exchange(http, oauth_sandbox, code=code, client_id=client_id,
                       redirect_uri=redirect, code_verifier=late.verifier)
    assert expired.json() == {"error": "invalid_grant",
                              "error_description": "authorization code expired"}


def test_registration_answer_looks_like_futus(http: Any, oauth_sandbox: FutuSandbox) -> None:
    body = {"redirect_uris": ["http://localhost:60355/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "client_name": "My Futu OpenAPI"}
    response = http.request("POST", oauth_sandbox.oauth_base_url + "/register", json=body)
    assert response.status == 201
    answer = response.json()
    assert set(answer) == {
        "client_id", "client_id_issued_at", "client_secret_expires_at", "client_name",
        "redirect_uris", "grant_types", "token_endpoint_auth_method", "response_types",
        "registration_access_token", "registration_client_uri",
    }
    assert answer["registration_client_uri"].endswith("/oauth2/register/" + answer["client_id"])
    refused = http.request("POST", oauth_sandbox.oauth_base_url + "/register",
                           json={**body, "redirect_uris": ["https://evil.example/cb"]})
    assert refused.status == 400


def test_manual_approval_page(http: Any, make_sandbox: Any, port: int) -> None:
    sandbox = make_sandbox(auto_approve=False)
    redirect = redirect_for(port)
    client_id = sandbox.register_client([redirect], "Page test")
    page = authorize(http, sandbox, client_id, redirect, Pkce.create())
    assert page.status == 200
    assert b"Authorize Page test?" in page.data
    assert page.headers["Cache-Control"] == "no-store"
    request_id = page.data.decode().split("name='request_id' value='")[1].split("'")[0]
    approved = http.request_encode_body(
        "POST", sandbox.oauth_base_url + "/authorize/decision",
        fields={"request_id": request_id, "decision": "approve"}, encode_multipart=False,
        redirect=False)
    assert "code=" in approved.headers["Location"]


def test_core_logout_revokes_through_the_hook(
    oauth_sandbox: FutuSandbox, open_futu: Any
) -> None:
    from brokerauth.contract import hookspecs

    if not hasattr(hookspecs, "revoke_token"):
        pytest.skip("this core has no revoke_token hook; logout() of the plugin covers it")
    session = login(open_futu, oauth_sandbox)
    token = session.token
    session.logout()
    assert oauth_sandbox.stats["revoke"] == 2
    assert not oauth_sandbox.refresh_token_valid(token.refresh_token)


def test_failed_refreshes_keep_the_old_token_and_say_why(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any, futu_tokens: Path
) -> None:
    from brokerauth.contract.errors import RefreshError
    from brokerauth.engine import failures
    from brokerauth_sandbox.server import SandboxResponse

    session = login(open_futu, oauth_sandbox)
    token = session.token
    path = futu_tokens / token.extra["client_id"]
    before = path.read_bytes()
    # Inside the advisory window a failure is only news: the valid token keeps working.
    oauth_sandbox.token_failures.append(503)
    clock.advance(7200 - 200)
    assert session.get("/v1/quote/snapshot").ok
    assert session.token.access_token == token.access_token
    # Inside the mandatory window: a typed error naming what was wrong; nothing stored.
    clock.advance(200 - 30)
    broken = [
        SandboxResponse.html("<html><body>Bad gateway</body></html>", status=200),
        SandboxResponse.json({"token_type": "Bearer", "expires_in": 7200}),
        SandboxResponse.json({"access_token": "x" * 2_000_000, "token_type": "Bearer"}),
        SandboxResponse.json({"access_token": "ok", "token_type": "mac"}),
    ]
    for tries, (answer, words) in enumerate(
        zip(broken, ("HTML page", "no access_token", "limit", "Bearer"), strict=True), 1
    ):
        oauth_sandbox.token_failures.append(answer)
        with pytest.raises(RefreshError) as info:
            session.get("/v1/quote/snapshot")
        assert words in str(info.value)
        assert path.read_bytes() == before
        # The next try waits for the back-off, the advisory window's 503 counted too: the
        # failures are recorded with the login, beside the SDK's file.
        clock.advance(failures.backoff(tries + 1))
    # The server recovers: the next call refreshes normally.
    assert session.get("/v1/quote/snapshot").ok
    assert session.token.access_token != token.access_token


def test_a_login_reads_the_metadata_again_so_a_moved_endpoint_is_found(
    make_sandbox: Any, open_futu: Any, port: int, browser: HeadlessBrowser
) -> None:
    # The kept metadata spares refreshes a request; a login, where a person waits in a
    # browser, reads it again: a kept copy naming an endpoint the server has since moved
    # would show the person the server's 404 while the client waited out its login timeout.
    sandbox = make_sandbox(profile_mode="oauth")
    sandbox.profile_redirect_uri = redirect_for(port)
    login(open_futu, sandbox, name="first")
    sandbox.authorize_path = "/oauth2/authorize/confirm"  # moved, within the kept copy's day
    started = time.perf_counter()
    login(open_futu, sandbox, name="second", login_timeout=5)
    assert time.perf_counter() - started < 4
    assert sandbox.count("GET", "/oauth2/authorize") == 1  # the first login's only
    assert sandbox.count("GET", "/oauth2/authorize/confirm") == 1
    assert browser.final_status == 200
