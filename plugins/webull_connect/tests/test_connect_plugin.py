"""Registration, settings, environments and the signer."""

from __future__ import annotations

import importlib.metadata
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from brokerauth.contract.errors import ConfigError, ProfileError
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request
from brokerauth.engine.profiles import Profile
from brokerauth.engine.resolve import resolve_profile
from brokerauth.toolkit.secrets import Secret
from brokerauth_webull import signing as webull_signing
from brokerauth_webull.verifier import check_request
from brokerauth_webull_connect import environments, plugin, signing
from brokerauth_webull_connect.settings import ConnectSettings

NOW = datetime(2024, 9, 1, 19, 37, 22, tzinfo=UTC)
BASE = {
    "broker": "webull_connect",
    "client_id": "client-1",
    "client_secret": {"env": "WC_CLIENT_SECRET"},
    "app_key": {"env": "WC_APP_KEY"},
    "app_secret": {"env": "WC_APP_SECRET"},
    "scope": "user:trade:wr",
    "redirect_uri": "https://platform.example/webull/callback",
}


def resolve(plugin_host: Any, **changes: Any) -> Any:
    table = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    return resolve_profile(Profile.from_mapping("p", table), plugin_host)


def settings(**changes: Any) -> ConnectSettings:
    values: dict[str, Any] = {
        "client_id": "client-1",
        "client_secret": Secret.from_value("client-secret"),
        "app_key": Secret.from_value("app-key-1"),
        "app_secret": Secret.from_value("app-secret-1"),
        "scope": "user:trade:wr",
        "redirect_uri": "http://127.0.0.1:8765/callback",
    }
    values.update(changes)
    return ConnectSettings(**values)


def test_entry_point_and_description(plugin_host: Any) -> None:
    (entry,) = [ep for ep in importlib.metadata.entry_points(group="brokerauth")
                if ep.name == "webull_connect"]
    assert entry.value == "brokerauth_webull_connect.plugin"
    assert entry.dist is not None
    assert entry.dist.name == "brokerauth-webull-connect"
    spec, owner = plugin_host.broker("webull_connect")
    assert owner == "webull_connect"
    assert (spec.signer, spec.flow, spec.store) == ("webull-connect", "webull-connect-oauth",
                                                    "file")
    assert [env.name for env in spec.environments] == ["prod", "sandbox", "uat"]
    # Loading the plugin must not import the flow (loopback listener) or the sandbox.
    assert plugin_host.loaded["webull_connect"].info.strategies[0].needs == signing.NEEDS


def test_every_setting_has_help() -> None:
    for field in attrs.fields(ConnectSettings):
        assert field.metadata.get("help"), field.name


def test_named_environments_in_one_table(plugin_host: Any) -> None:
    expected = {
        "uat": ("https://us-oauth-open-api.uat.webullbroker.com",
                "https://passport.uat.webullbroker.com/oauth2/authenticate/login",
                "/openapi/oauth2/token"),
        "sandbox": ("https://oauth-open-api.sandbox.webull.com",
                    "https://passport.webull.com/oauth2/sandbox/authenticate/login",
                    "/oauth2/tokens/create"),
        "prod": ("https://us-oauth-open-api.webull.com",
                 "https://passport.webull.com/oauth2/authenticate/login",
                 "/oauth2/tokens/create"),
    }
    for name, (api, login, token) in expected.items():
        resolved = resolve(plugin_host, environment=name)
        s = resolved.settings
        assert (s.api_base_url, s.authorize_url, s.token_url) == (api, login, token)
    assert resolve(plugin_host).settings.environment == environments.DEFAULT_ENVIRONMENT == "prod"


def test_every_host_and_path_is_overridable(plugin_host: Any) -> None:
    s = resolve(
        plugin_host, environment="uat", base_url="http://127.0.0.1:9/",
        login_url="https://login.example/authorize?tenant=1",
        token_path="https://auth.example/token",
    ).settings
    assert s.api_base_url == "http://127.0.0.1:9"
    assert s.authorize_url == "https://login.example/authorize?tenant=1"
    assert s.token_url == "https://auth.example/token"
    assert resolve(plugin_host, token_path="/v2/token").settings.token_url == "/v2/token"


@pytest.mark.parametrize(("changes", "key", "words"), [
    ({"surprise": 1}, "surprise", "unknown key"),
    ({"client_secret": "literal"}, "client_secret", "secret reference"),
    ({"app_secret": "literal"}, "app_secret", "secret reference"),
    ({"client_id": None}, "client_id", "required"),
    ({"scope": None}, "scope", "required"),
    ({"redirect_uri": None}, "redirect_uri", "required"),
    ({"redirect_uri": "/callback"}, "redirect_uri", "absolute"),
    ({"environment": "live"}, "environment", "uat"),
    ({"token_body": "xml"}, "token_body", "token_body"),
    ({"signature_algorithm": "HMAC-MD5"}, "signature_algorithm", "signature_algorithm"),
    ({"login_timeout": 0}, "login_timeout", "positive"),
    ({"token_path": "tokens"}, "token_path", "absolute"),
    ({"base_url": "https://x.example/?q=1"}, "base_url", "without a query"),
    ({"pkce": "yes"}, "pkce", "true or false"),
])
def test_profile_mistakes_name_the_key(plugin_host: Any, changes: dict[str, Any], key: str,
                                       words: str) -> None:
    with pytest.raises(ProfileError) as info:
        resolve(plugin_host, **changes)
    # Type errors carry the key; a validator's error (raised when the class is built, after
    # the fields were structured) names it in its message instead.
    assert info.value.key == key or (info.value.key is None and key in str(info.value))
    assert words in str(info.value)


def test_settings_repr_shows_no_secret() -> None:
    text = repr(settings())
    for secret in ("client-secret", "app-secret-1", "app-key-1"):
        assert secret not in text


def test_loopback_detection() -> None:
    assert settings().loopback
    assert settings(redirect_uri="http://localhost:8765/cb").loopback
    assert settings(redirect_uri="http://[::1]:8765/cb").loopback
    assert not settings(redirect_uri="https://127.0.0.1:8765/cb").loopback
    assert not settings(redirect_uri="https://platform.example/cb").loopback


# -- the signer -------------------------------------------------------------------------------
def request(body: bytes | None = None) -> Request:
    return Request.from_url("POST", "https://us-oauth-open-api.webull.com/oauth2/tokens/create",
                            body=body, headers={"Content-Type": "application/json"})


def test_without_a_token_it_signs_exactly_like_the_webull_signer() -> None:
    req = request(b'{"grant_type":"refresh_token"}')
    nonce = uuid.uuid4().hex
    headers = signing.sign(req, settings(), None, NOW, nonce)
    expected = webull_signing.signature_headers(
        req, "app-key-1", "app-secret-1", "2024-09-01T19:37:22Z", nonce, "HMAC-SHA256"
    )
    assert headers == expected
    assert "Authorization" not in headers
    # Webull's own server-side check (the webull plugin's independent verifier) accepts it.
    problem = check_request(
        path=req.path, params=req.params, headers={k.lower(): v for k, v in headers.items()},
        body=req.body or b"", host=req.host, secret_for={"app-key-1": "app-secret-1"}.get,
        now=NOW.timestamp(), window=60,
    )
    assert problem is None


def test_hmac_sha1_and_a_non_utc_clock() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=8)))
    headers = signing.sign(request(b"{}"), settings(signature_algorithm="HMAC-SHA1"), None,
                           now, "n" * 32)
    assert headers["x-signature-algorithm"] == "HMAC-SHA1"
    assert headers["x-timestamp"] == "2024-09-01T19:37:22Z"


def test_with_a_token_it_sends_only_the_bearer() -> None:
    token = Token(access_token="access-1", broker="webull_connect")
    headers = signing.sign(request(), settings(), token, NOW, "n" * 32)
    assert headers == {"Authorization": "Bearer access-1"}


def test_signing_through_the_hook_is_pure(plugin_host: Any) -> None:
    resolved = resolve(plugin_host)
    resolved = attrs.evolve(resolved, settings=settings())
    signer = resolved.signer
    first = plugin_host.sign_request(signer.name, request(b"{}"), resolved.settings, None, NOW,
                                     "a" * 32, owner=signer.owner)
    again = plugin_host.sign_request(signer.name, request(b"{}"), resolved.settings, None, NOW,
                                     "a" * 32, owner=signer.owner)
    assert first == again


def test_signer_needs_webull_settings() -> None:
    class Other:
        pass

    with pytest.raises(ConfigError, match="app_key"):
        signing.sign(request(), Other(), None, NOW, "n")


def test_a_webull_connect_profile_can_use_the_webull_hmac_signer(plugin_host: Any) -> None:
    resolved = resolve(plugin_host, signer="webull-hmac")
    assert resolved.signer.owner == "webull"


def test_logout_is_not_a_revocation() -> None:
    assert plugin.revoke_token("webull-connect-oauth") is False  # Webull documents none
