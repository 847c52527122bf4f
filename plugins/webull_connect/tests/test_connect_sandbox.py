"""The sandbox on its own, over raw HTTP: Webull's gateway checks on the token endpoint,
the answer's exact shape, the API's Bearer check, and the command line."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3
from brokerauth.contract.wire import Request
from brokerauth_webull import signing
from brokerauth_webull_connect.sandbox.server import TOKEN_PATHS, ConnectSandbox
from connect_helpers import ACCOUNTS, approve, get

_pool = urllib3.PoolManager(retries=False, timeout=5.0)


def token_call(sandbox: Any, fields: dict[str, str], *, path: str = TOKEN_PATHS[0],
               secret: str | None = None, nonce: str | None = None,
               content_type: str = "application/x-www-form-urlencoded",
               sign: bool = True) -> urllib3.BaseHTTPResponse:
    body = urlencode(fields).encode()
    request = Request.from_url("POST", sandbox.base_url + path, body=body)
    headers = {"Content-Type": content_type}
    if sign:
        now = datetime.fromtimestamp(sandbox.server_now(), UTC)
        headers.update(signing.signature_headers(
            request, sandbox.app_key, secret or sandbox.app_secret,
            now.strftime(signing.TIMESTAMP_FORMAT), nonce or uuid.uuid4().hex,
        ))
    return _pool.request("POST", request.url, body=body, headers=headers, redirect=False)


def new_code(sandbox: Any) -> str:
    url = (f"{sandbox.login_url}?" + urlencode({
        "response_type": "code", "client_id": sandbox.client_id, "scope": sandbox.scope,
        "state": "s", "redirect_uri": sandbox.redirect_uri,
    }))
    location = approve(url)
    return dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))["code"]


def grant(sandbox: Any, code: str) -> dict[str, str]:
    return {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret,
            "grant_type": "authorization_code", "code": code}


def test_the_entry_point_makes_an_unstarted_sandbox(manual_clock: Any) -> None:
    from brokerauth_sandbox.emulators import make_sandbox

    sandbox = make_sandbox("webull_connect", manual_clock)
    assert isinstance(sandbox, ConnectSandbox)
    assert "not started" in repr(sandbox)
    assert sandbox.clock is manual_clock


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_answer_is_webulls_all_strings_shape(connect: Any, path: str) -> None:
    response = token_call(connect, grant(connect, new_code(connect)), path=path)
    assert response.status == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "rt_expires_in",
                         "refresh_token", "created_at", "identity_id"}
    assert all(isinstance(value, str) for value in body.values())
    assert (body["token_type"], body["expires_in"], body["rt_expires_in"]) == (
        "Bearer", "1800", "1296000")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", body["created_at"])
    assert response.headers["Cache-Control"] == "no-store"
    listed = _pool.request("GET", connect.base_url + ACCOUNTS,
                           headers={"Authorization": f"Bearer {body['access_token']}"})
    assert listed.status == 200


def test_json_bodies_are_accepted(connect: Any) -> None:
    import json

    fields = grant(connect, new_code(connect))
    body = json.dumps(fields, separators=(",", ":")).encode()
    request = Request.from_url("POST", connect.base_url + TOKEN_PATHS[1], body=body)
    now = datetime.fromtimestamp(connect.server_now(), UTC)
    headers = signing.signature_headers(request, connect.app_key, connect.app_secret,
                                        now.strftime(signing.TIMESTAMP_FORMAT), "n" * 32)
    headers["Content-Type"] = "application/json"
    assert _pool.request("POST", request.url, body=body, headers=headers).status == 200


def test_gateway_refuses_unsigned_forged_and_replayed_requests(connect: Any) -> None:
    code = new_code(connect)
    unsigned = token_call(connect, grant(connect, code), sign=False)
    assert (unsigned.status, unsigned.json()["error_code"]) == (401, "MISSING_APP_KEY")
    forged = token_call(connect, grant(connect, code), secret="guessed")
    assert (forged.status, forged.json()["error_code"]) == (401, "UNAUTHORIZED")
    assert token_call(connect, grant(connect, code), nonce="n" * 32).status == 200
    replay = token_call(connect, grant(connect, new_code(connect)), nonce="n" * 32)
    assert (replay.status, replay.json()["error_code"]) == (401, "DUPLICATE_NONCE")
    assert connect.code_exchanges == 1


def test_client_and_grant_checks(connect: Any) -> None:
    code = new_code(connect)
    wrong = token_call(connect, dict(grant(connect, code), client_secret="nope"))
    assert (wrong.status, wrong.json()["error_code"]) == (401, "token.client.error")
    odd = token_call(connect, dict(grant(connect, code), grant_type="password"))
    assert (odd.status, odd.json()["error_code"]) == (417, "token.parameter.error")
    plain = token_call(connect, grant(connect, code), content_type="text/plain")
    assert plain.status == 417
    moved = token_call(connect, dict(grant(connect, code), redirect_uri="http://else/"))
    assert moved.json()["error_code"] == "token.redirect.uri.error"
    assert token_call(connect, grant(connect, code)).status == 200
    again = token_call(connect, grant(connect, code))
    assert (again.status, again.json()["error_code"]) == (417, "token.auth.code.error")


def test_codes_live_60_seconds(connect: Any, manual_clock: Any) -> None:
    code = new_code(connect)
    manual_clock.advance(60)
    assert token_call(connect, grant(connect, code)).status == 417
    code = new_code(connect)
    manual_clock.advance(59)
    assert token_call(connect, grant(connect, code)).status == 200


def test_api_needs_a_valid_bearer(connect: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        refused = _pool.request("GET", connect.base_url + ACCOUNTS, headers=headers)
        assert (refused.status, refused.json()["error_code"]) == (401, "INVALID_TOKEN")


def test_login_page_redirects_mistakes_back_with_an_error(connect: Any) -> None:
    base = {"response_type": "code", "client_id": connect.client_id, "scope": connect.scope,
            "state": "s", "redirect_uri": connect.redirect_uri}
    for change, error in (({"scope": "admin"}, "invalid_scope"),
                          ({"response_type": "token"}, "unsupported_response_type"),
                          ({"state": ""}, "invalid_request"),
                          ({"code_challenge": "c", "code_challenge_method": "plain"},
                           "invalid_request")):
        response = get(f"{connect.login_url}?{urlencode({**base, **change})}")
        assert response.status == 302
        assert f"error={error}" in response.headers["Location"]
    unknown = get(f"{connect.login_url}?{urlencode({**base, 'client_id': 'who'})}")
    assert unknown.status == 400


def test_command_line_sandbox(tmp_path) -> None:  # a Path (this file imports no pathlib)
    """Its banner, a login through it, then Ctrl-C: a clean exit (every wait bounded; the
    other moments of a Ctrl-C are in test_connect_sandbox_cli.py)."""
    from brokerauth_sandbox.commandline_check import Child, assert_clean_exit

    command = [sys.executable, "-m", "brokerauth_webull_connect.sandbox.server", "--auto-approve",
               "--user", "ID-CLI"]
    with Child(command, tmp_path, stdin=subprocess.DEVNULL) as child:
        banner = child.until("Ctrl-C stops.")
        base_url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        redirect = re.search(r"redirect URI:\s+(\S+)", banner)
        client_id = re.search(r"client id:\s+(\S+)", banner)
        assert base_url
        assert redirect
        assert client_id
        assert 'broker = "webull_connect"' in banner
        assert f'redirect_uri = "{redirect.group(1)}"' in banner
        url = f"{base_url.group(1)}/oauth2/authenticate/login?" + urlencode({
            "response_type": "code", "client_id": client_id.group(1), "scope": "user:trade:wr",
            "state": "s", "redirect_uri": redirect.group(1),
        })
        assert approve(url).startswith(redirect.group(1) + "?code=")
        child.process.send_signal(signal.SIGINT)  # right after a request was served
        assert_clean_exit(child)
