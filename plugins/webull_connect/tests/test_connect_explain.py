"""The ``webull-connect`` signer explains what it did: Webull's HMAC steps, those of the very
signature sent, on a request without a token (the token endpoint); on one with a token, that
the access token rides as Bearer and nothing is signed.  Never a secret or the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request
from brokerauth.engine.api import open_binding
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.emulators import profile_table
from brokerauth_webull.verifier import check_request
from brokerauth_webull_connect import plugin
from brokerauth_webull_connect.sandbox.server import ConnectSandbox
from brokerauth_webull_connect.settings import ConnectSettings
from connect_helpers import CANARY_APP_KEY, CANARY_APP_SECRET, CANARY_CLIENT_SECRET

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
NOW = datetime(2024, 9, 1, 19, 37, 22, tzinfo=UTC)
TOKEN = "canary-connect-access-token-8Hq2"
REFRESH = "canary-connect-refresh-token-3Kd9"


def settings() -> ConnectSettings:
    return ConnectSettings(
        client_id="client-1",
        client_secret=Secret.from_value(CANARY_CLIENT_SECRET),
        app_key=Secret.from_value(CANARY_APP_KEY),
        app_secret=Secret.from_value(CANARY_APP_SECRET),
        scope="user:trade:wr",
        redirect_uri="http://127.0.0.1:8765/callback",
    )


def token_request() -> Request:
    return Request.from_url(
        "POST", "https://us-oauth-open-api.webull.com/oauth2/tokens/create?lang=en",
        body=b'{"grant_type":"refresh_token"}', headers={"Content-Type": "application/json"},
    )


def explain(host: PluginHost, request: Request, token: Token | None,
            nonce: str) -> dict[str, str]:
    host.load("webull_connect")
    steps = host.explain_signature(plugin.SIGNER, request, settings(), token, NOW, nonce,
                                   owner="webull_connect")
    assert steps is not None
    return dict(steps)


def assert_no_secret(steps: dict[str, str]) -> None:
    for name, value in steps.items():
        for secret in (CANARY_APP_SECRET, CANARY_CLIENT_SECRET, TOKEN, REFRESH):
            assert secret not in name + value, f"a secret in step {name!r}"


def test_without_a_token_the_steps_are_those_of_the_hmac_signature_sent(
    plugin_host: PluginHost,
) -> None:
    request, nonce = token_request(), uuid.uuid4().hex
    headers = plugin.sign_request(plugin.SIGNER, request, settings(), None, NOW, nonce)
    assert headers is not None
    steps = explain(plugin_host, request, None, nonce)
    assert steps["scheme"].startswith("Webull OpenAPI signature")
    assert steps["signature"] == headers["x-signature"]
    mac = hmac.new((CANARY_APP_SECRET + "&").encode(), steps["string to sign"].encode(),
                   hashlib.sha256).digest()
    assert base64.b64encode(mac).decode() == headers["x-signature"]
    assert steps["canonical string"].startswith("/oauth2/tokens/create&host=")
    assert "&lang=en&" in steps["canonical string"]
    digest = hashlib.sha256(request.body or b"").hexdigest().upper()
    assert steps["body digest (SHA-256, upper-case hex)"] == digest
    assert steps["canonical string"].endswith("&" + digest)
    # Webull's server-side check, written independently of the signer, accepts the headers.
    assert check_request(
        path=request.path, params=request.params,
        headers={k.lower(): v for k, v in headers.items()}, body=request.body or b"",
        host=request.host, secret_for={CANARY_APP_KEY: CANARY_APP_SECRET}.get,
        now=NOW.timestamp(), window=60,
    ) is None
    assert_no_secret(steps)


def test_with_a_token_the_steps_say_bearer_and_show_no_token(plugin_host: PluginHost) -> None:
    token = Token(access_token=TOKEN, refresh_token=REFRESH, broker="webull_connect")
    request = Request.from_url("GET", "https://us-oauth-open-api.webull.com/oauth-openapi/"
                                      "account/list")
    headers = plugin.sign_request(plugin.SIGNER, request, settings(), token, NOW, "n" * 32)
    assert headers == {"Authorization": f"Bearer {TOKEN}"}
    steps = explain(plugin_host, request, token, "n" * 32)
    assert list(steps) == ["scheme"]
    assert "Bearer" in steps["scheme"]
    assert "nothing signed" in steps["scheme"]
    assert_no_secret(steps)


def test_sign_explain_for_a_connect_profile(
    connect: ConnectSandbox, tmp_path: Path, token_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, env = profile_table("webull_connect", connect.profile_settings(), "EXPLAIN_")
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(tomli_w.dumps({"profiles": {"wc": table}}), encoding="utf-8")
    secrets = [env[name] for name in env if name.endswith(("_SECRET", "CLIENT_SECRET"))]
    assert len(secrets) == 2

    def sign(*extra: str) -> dict[str, Any]:
        result = subprocess.run(
            [BROKERAUTH, "sign", "--profiles", str(profiles), "-p", "wc", "POST",
             "/oauth2/tokens/create", "--data", "{}", "--json", "--explain", *extra],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
        )
        assert result.returncode == 0, result.stderr
        for secret in secrets:
            assert secret not in result.stdout + result.stderr
        shown: dict[str, Any] = json.loads(result.stdout)
        return shown

    bare = sign("--no-token")
    steps = bare["explanation"]["steps"]
    assert steps["signature"] == bare["headers"]["x-signature"]
    assert bare["explanation"]["nonce"] == bare["headers"]["x-signature-nonce"]
    assert bare["explanation"]["signed_at"] == bare["headers"]["x-timestamp"]

    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        open_binding("wc", profiles=profiles).save(
            Token(access_token=TOKEN, refresh_token=REFRESH, broker="webull_connect"))
    for extra in ((), ("--reveal",)):
        shown = sign(*extra)
        assert list(shown["explanation"]["steps"]) == ["scheme"]
        assert TOKEN not in json.dumps(shown["explanation"])
        assert (shown["headers"]["Authorization"] == f"Bearer {TOKEN}") is bool(extra)
