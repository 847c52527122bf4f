"""The seed's Python API, ported by changing one import, against the sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import ConfigError, LoginRequiredError
from brokerauth.toolkit.secrets import Secret
from brokerauth_futu import Config, OAuthBuilder, logout
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.server import HeadlessBrowser
from futu_helpers import CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, mode_of, read_json


def builder(sandbox: FutuSandbox, client_id: str | None, port: int, clock: Any) -> OAuthBuilder:
    return (
        OAuthBuilder(client_id)
        .http_url(sandbox.base_url)
        .oauth_base_url(sandbox.oauth_base_url)
        .callback_port(port)
        .clock(clock)
    )


def test_oauth_builder_and_config_from_oauth(
    sandbox: FutuSandbox, port: int, clock: Any, futu_tokens: Path
) -> None:
    client_id = sandbox.register_client([f"http://localhost:{port}/callback"])
    shown: list[str] = []
    browser = HeadlessBrowser()

    def open_url(url: str) -> None:  # what the seed passes: print the URL (here: visit it)
        shown.append(url)
        browser.open_url(url)

    oauth = builder(sandbox, client_id, port, clock).build(open_url)
    config = Config.from_oauth(oauth)
    try:
        assert len(shown) == 1
        assert shown[0].startswith(sandbox.oauth_base_url + "/authorize?")
        assert oauth.client_id == client_id
        # Tokens persisted where (and how) the SDK keeps them.
        assert oauth.token_path == futu_tokens / client_id
        assert set(read_json(oauth.token_path)) == {
            "client_id", "access_token", "refresh_token", "expires_at"}
        assert mode_of(oauth.token_path) == 0o600
        assert config.session().get("/v1/quote/snapshot").json()["data"]["auth"] == "oauth"
        # ... and refreshed automatically on expiry.
        clock.advance(7200)
        assert config.session().get("/v1/quote/snapshot").ok
        assert sandbox.stats["refresh"] == 1
        assert "access" not in repr(oauth)
        assert "access" not in repr(config)
    finally:
        config.close()

    # A second build reuses the saved login: no browser.
    again = builder(sandbox, client_id, port, clock).build(lambda url: shown.append(url))
    try:
        assert len(shown) == 1
        assert again.access_token() == read_json(oauth.token_path)["access_token"]
    finally:
        again.close()


def test_oauth_builder_registers_when_no_client_id(
    sandbox: FutuSandbox, port: int, clock: Any, futu_tokens: Path
) -> None:
    oauth = builder(sandbox, None, port, clock).client_name("My Futu OpenAPI").build(
        HeadlessBrowser().open_url)
    try:
        assert sandbox.registration_requests[0]["client_name"] == "My Futu OpenAPI"
        assert sandbox.registration_requests[0]["redirect_uris"] == [
            f"http://localhost:{port}/callback"]
        assert oauth.client_id in sandbox.clients()
        assert (futu_tokens / oauth.client_id).exists()
        assert oauth.logout() is True
        assert not (futu_tokens / oauth.client_id).exists()
    finally:
        oauth.close()


def test_login_that_never_comes_back_times_out(
    sandbox: FutuSandbox, port: int, clock: Any
) -> None:
    client_id = sandbox.register_client([f"http://localhost:{port}/callback"])
    with pytest.raises(LoginRequiredError, match="no login callback"):
        builder(sandbox, client_id, port, clock).login_timeout(0.2).build(lambda url: None)


def test_config_new_and_refresh_access_token(
    sandbox: FutuSandbox, clock: Any, futu_tokens: Path
) -> None:
    with Config.new(CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, http_url=sandbox.base_url,
                    clock=clock) as config:
        assert config.mode == "api_key"
        assert config.http_url == sandbox.base_url
        assert config.language == "en"
        assert config.session().get("/v1/quote/snapshot").ok
        # The seed's call: a naive local time three years ahead.
        new_token = config.refresh_access_token(
            expired_at=datetime.now() + timedelta(days=365 * 3))
        assert isinstance(new_token, str)
        assert new_token != CANARY_TOKEN
        assert sandbox.legacy_token_valid(new_token)
        assert not sandbox.legacy_token_valid(CANARY_TOKEN)
        # The new token replaced the stored one and is what the session now sends.
        assert config.session().get("/v1/quote/snapshot").ok
        assert config.session().token.access_token == new_token
        assert CANARY_KEY not in repr(config)
        assert CANARY_SECRET not in repr(config)
        stored = list((futu_tokens / ".brokerauth").glob("futu-api-key-*/default.json"))
        assert len(stored) == 1
        assert mode_of(stored[0]) == 0o600
        assert read_json(stored[0])["access_token"] == new_token

    # A new Config on the same app key finds the replaced token in the store.
    with Config.new(CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, http_url=sandbox.base_url,
                    clock=clock) as later:
        assert later.session().get("/v1/quote/snapshot").ok
        assert later.session().token.access_token == new_token
        # Its default expiry: 90 days from now.
        newer = later.refresh_access_token()
        token = later.session().token
        assert token.access_token == newer
        assert token.expires_at == clock.now().replace(microsecond=0) + timedelta(days=90)


def test_config_from_env(sandbox: FutuSandbox, clock: Any,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env()
    assert "FUTU_APP_KEY, FUTU_APP_SECRET, FUTU_ACCESS_TOKEN are not set" in str(info.value)
    monkeypatch.setenv("FUTU_APP_KEY", CANARY_KEY)
    monkeypatch.setenv("FUTU_APP_SECRET", CANARY_SECRET)
    with pytest.raises(ConfigError, match="FUTU_ACCESS_TOKEN is not set"):
        Config.from_env()
    monkeypatch.setenv("FUTU_ACCESS_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("FUTU_HTTP_URL", sandbox.base_url)
    monkeypatch.setenv("FUTU_LANGUAGE", "zh-HK")
    monkeypatch.setenv("FUTU_REGION", "hk")
    monkeypatch.setenv("FUTU_QUOTE_WS_URL", "wss://quote.example/ws")
    monkeypatch.setenv("FUTU_TRADE_WS_URL", "wss://trade.example/ws")
    monkeypatch.setenv("FUTU_LOG_PATH", "/tmp/futu.log")
    with Config.from_env(clock=clock) as config:
        assert (config.http_url, config.language, config.region) == (
            sandbox.base_url, "zh-HK", "hk")
        assert config.quote_ws_url == "wss://quote.example/ws"
        assert config.trade_ws_url == "wss://trade.example/ws"
        assert config.log_path == "/tmp/futu.log"
        # The secrets stay references to the variables, never copies.
        assert config.profile.settings["app_secret"] == Secret(env="FUTU_APP_SECRET")
        assert config.session().get("/v1/account/info").ok
    monkeypatch.setenv("FUTU_LANGUAGE", "fr")
    with pytest.raises(ConfigError, match="FUTU_LANGUAGE"):
        Config.from_env()


def test_refresh_access_token_is_for_api_keys_only(
    sandbox: FutuSandbox, port: int, clock: Any
) -> None:
    client_id = sandbox.register_client([f"http://localhost:{port}/callback"])
    oauth = builder(sandbox, client_id, port, clock).build(HeadlessBrowser().open_url)
    try:
        with pytest.raises(ConfigError, match="automatically"):
            Config.from_oauth(oauth).refresh_access_token()
    finally:
        oauth.close()


def test_logout_of_an_api_key_config_keeps_the_configured_token(
    sandbox: FutuSandbox, clock: Any
) -> None:
    with Config.new(CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, http_url=sandbox.base_url,
                    clock=clock) as config:
        assert config.session().get("/v1/account/info").ok
        assert logout(config) is True
        assert sandbox.stats["revoke"] == 0  # legacy credentials: portal only
        assert config.session().get("/v1/account/info").ok
