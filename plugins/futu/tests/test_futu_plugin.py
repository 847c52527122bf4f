"""Registration, settings, judging answers, endpoint choice, and secrets kept out of every
log line, repr and message."""

from __future__ import annotations

import importlib.metadata
import json
import logging
from pathlib import Path
from typing import Any

import pluggy
import pytest
from brokerauth.contract import hookspecs
from brokerauth.contract.errors import AuthenticationError, BrokerError, ProfileError
from brokerauth.contract.verdicts import Outcome
from brokerauth.contract.wire import Request, Response
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.resolve import resolve_profile
from brokerauth.toolkit.secrets import Secret
from brokerauth_futu import codes, oauthflow, plugin
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_futu.settings import FutuSettings
from brokerauth_sandbox.clock import ManualClock
from futu_helpers import CANARIES, CANARY_KEY, CANARY_SECRET, CANARY_TOKEN


def test_entry_point_and_hooks_match_the_specs() -> None:
    (entry,) = [ep for ep in importlib.metadata.entry_points(group="brokerauth")
                if ep.name == "futu"]
    assert entry.value == "brokerauth_futu.plugin"
    assert entry.load() is plugin
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin, name="futu")
    manager.check_pending()


def test_describes_broker_and_strategies(plugin_host: PluginHost) -> None:
    spec, owner = plugin_host.broker("futu")
    assert (spec.signer, spec.flow, spec.store) == ("futu", "futu", "futu-file")
    assert {e.name for e in spec.environments} == {"openapi", "webapi"}
    for kind, name in (("signer", "futu"), ("signer", "futu-api-key"), ("flow", "futu"),
                       ("flow", "futu-oauth"), ("flow", "futu-api-key"),
                       ("store", "futu-file")):
        assert plugin_host.strategy(kind, name)[1] == owner  # type: ignore[arg-type]
    assert all(f.metadata.get("help") for f in FutuSettings.__attrs_attrs__)


def resolve(table: dict[str, Any], plugin_host: PluginHost) -> Any:
    return resolve_profile(Profile.from_mapping("p", {"broker": "futu", **table}), plugin_host)


def test_settings_defaults_and_environments(plugin_host: PluginHost) -> None:
    settings = resolve({}, plugin_host).settings
    assert settings.mode == "oauth"
    assert settings.api_base_url == "https://openapi.futunn.com"
    assert settings.oauth_base == "https://openapi.futunn.com/oauth2"
    assert settings.redirect_uris == ("http://localhost:60355/callback",)
    assert settings.requested_scope is None
    assert settings.app_key is None
    # futu-cli's endpoints, scopes and callback ports (internal/auth/oauth.go, callback.go).
    webapi = resolve({"environment": "webapi"}, plugin_host).settings
    assert webapi.oauth_base == "https://webapi.futunn.com"
    assert webapi.requested_scope == "quote:read quote:write trade:read trade:write accid:*"
    assert webapi.redirect_uris == tuple(f"http://127.0.0.1:{port}/callback"
                                         for port in (18888, 18889, 18890))
    ends = oauthflow.endpoints(webapi, _Http({}))  # type: ignore[arg-type]
    assert (ends.register, ends.authorize, ends.token) == (
        "https://webapi.futunn.com/oauth2/register",
        "https://webapi.futunn.com/oauth2/authorize/confirm",
        "https://webapi.futunn.com/oauth2/token")
    chosen = resolve({"environment": "webapi", "redirect_uri": "http://127.0.0.1:60355/cb",
                      "scope": "quote:read"}, plugin_host).settings
    assert chosen.redirect_uris == ("http://127.0.0.1:60355/cb",)
    assert chosen.requested_scope == "quote:read"
    # A named API root has its OAuth server beside it, never the environment's at Futu.
    beside = resolve({"base_url": "http://127.0.0.1:9"}, plugin_host).settings
    assert beside.oauth_base == "http://127.0.0.1:9/oauth2"
    assert beside.credential_origins == ("http://127.0.0.1:9/oauth2",)
    key_mode = resolve({"mode": "api_key", "http_url": "http://127.0.0.1:9/"},
                       plugin_host).settings
    assert key_mode.app_secret == Secret(env="FUTU_APP_SECRET")
    assert key_mode.api_base_url == "http://127.0.0.1:9"
    assert resolve({"redirect_uri": "http://127.0.0.1:8765/cb"}, plugin_host)


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"mode": "password"}, "mode", "mode"),
        ({"environment": "mars"}, "environment", "openapi, webapi"),
        ({"redirect_uri": "https://example.com/cb"}, "redirect_uri", "loopback"),
        ({"redirect_uri": "http://localhost/cb"}, "redirect_uri", "port"),
        ({"app_secret": "literal"}, "app_secret", "secret"),
        ({"token_path": "token"}, "token_path", "starting with '/'"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"app_key": {"env": "X"}}, None, "belong to mode = 'api_key'"),
        ({"base_url": "https://a.example", "http_url": "https://b.example"}, None, "keep one"),
    ],
)
def test_profile_mistakes_name_the_key(
    plugin_host: PluginHost, table: dict[str, Any], key: str | None, words: str
) -> None:
    with pytest.raises(ProfileError) as info:
        resolve(table, plugin_host)
    assert words in str(info.value)
    if key is not None:
        # The core names the key for type and unknown-key errors; for a validator's refusal it
        # names none, so the message itself must (see the report).
        assert info.value.key == key or key in str(info.value)


def test_missing_api_key_variable_is_reported_before_any_request(
    sandbox: FutuSandbox, plugin_host: PluginHost
) -> None:
    from brokerauth.engine.api import session

    with pytest.raises(ProfileError) as info:
        session(Profile.from_mapping("k", {"broker": "futu", "mode": "api_key",
                                           "base_url": sandbox.base_url}), host=plugin_host)
    assert "FUTU_APP_KEY" in str(info.value)
    assert info.value.key == "app_key"
    assert sum(sandbox.calls.values()) == 0


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    request = Request.from_url("GET", "https://openapi.futunn.com/v1/quote/snapshot")
    return Response(status, headers or {}, json.dumps(body).encode(), request)


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (answer(401, {"code": codes.TIMESTAMP_EXPIRED, "message": "x"}), Outcome.CLOCK_SKEW),
        (answer(401, {"code": 9, "message": "Timestamp expired"}), Outcome.CLOCK_SKEW),
        (answer(401, {"code": codes.CREDENTIAL_REVOKED, "message": "x"}), Outcome.REVOKED),
        (answer(403, {"code": 9, "message": "credential revoked"}), Outcome.REVOKED),
        (answer(401, {"code": codes.TOKEN_INVALID, "message": "x"}), Outcome.TOKEN_INVALID),
        (answer(401, {"error": "invalid_token", "error_description": "revoked"},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'}), None),
        (answer(400, {"code": 400001, "message": "bad"}), None),
        (answer(200, {"code": 0}), None),
    ],
)
def test_interpret_response(response: Response, outcome: Outcome | None) -> None:
    verdict = plugin.interpret_response(broker="futu", response=response)
    assert (verdict.outcome if verdict else None) is outcome


class _Http:
    """Answers discovery requests from a table: url -> (status, body)."""

    def __init__(self, table: dict[str, tuple[int, Any]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def request(self, method: str, url: str, **kw: Any) -> Response:
        self.asked.append(url)
        status, body = self.table.get(url, (404, {"error": "not_found"}))
        return Response(status, {}, json.dumps(body).encode(), Request.from_url(method, url))


def test_endpoint_precedence() -> None:
    issuer = "https://openapi.futunn.com/oauth2"
    metadata = {"issuer": issuer, "authorization_endpoint": issuer + "/authorize/confirm",
                "token_endpoint": "https://tokens.futunn.com/t",
                "revocation_endpoint": "http://evil.example/revoke"}
    well_known = "https://openapi.futunn.com/.well-known/oauth-authorization-server/oauth2"
    http = _Http({well_known: (200, metadata)})
    ends = oauthflow.endpoints(FutuSettings(token_path="/my-token"), http)  # type: ignore[arg-type]
    assert ends.authorize == issuer + "/authorize/confirm"  # from metadata
    assert ends.token == issuer + "/my-token"  # explicit path wins
    assert ends.revoke == issuer + "/revoke"  # plain http from metadata is not trusted
    assert ends.register == issuer + "/register"  # not in metadata: the default
    # Metadata naming another issuer is ignored (RFC 8414 §3.3).
    other = _Http({well_known: (200, {**metadata, "issuer": "https://evil.example"})})
    ends = oauthflow.endpoints(FutuSettings(), other)  # type: ignore[arg-type]
    assert ends.authorize == issuer + "/authorize"
    # Without discovery, the environment's table.
    quiet = _Http({})
    ends = oauthflow.endpoints(FutuSettings(environment="webapi", discovery=False),
                               quiet)  # type: ignore[arg-type]
    assert ends.authorize == "https://webapi.futunn.com/oauth2/authorize/confirm"
    assert quiet.asked == []


def test_server_without_s256_is_refused() -> None:
    issuer = "https://openapi.futunn.com/oauth2"
    http = _Http({"https://openapi.futunn.com/.well-known/oauth-authorization-server/oauth2":
                  (200, {"issuer": issuer, "code_challenge_methods_supported": ["plain"]})})
    with pytest.raises(BrokerError, match="S256"):
        oauthflow.endpoints(FutuSettings(), http)  # type: ignore[arg-type]


def test_the_sandbox_is_found_through_its_entry_point() -> None:
    from brokerauth_sandbox.emulators import make_sandbox

    assert isinstance(make_sandbox("futu", ManualClock()), FutuSandbox)


def test_no_secret_in_logs_reprs_messages_or_other_files(
    caplog: pytest.LogCaptureFixture, sandbox: FutuSandbox, make_sandbox: Any, open_futu: Any,
    port: int, clock: Any, futu_tokens: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    # Legacy mode, with a skew, a refresh and a revocation.
    session = open_futu(sandbox)
    sandbox.clock_offset = 90
    assert session.get("/v1/quote/snapshot").ok
    from brokerauth_futu import Config

    config = Config.new(CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, http_url=sandbox.base_url,
                        clock=clock)
    new_legacy = config.refresh_access_token()
    seen += [repr(session), repr(session.token), repr(session.binding.settings), repr(config)]
    sandbox.revoke_credential()
    with pytest.raises(AuthenticationError) as info:
        config.session().get("/v1/quote/snapshot")
    seen.append(str(info.value))
    config.close()
    # OAuth mode: registration, login, refresh, logout.
    oauth = make_sandbox(profile_mode="oauth")
    oauth.profile_redirect_uri = f"http://127.0.0.1:{port}/callback"
    oauth_session = open_futu(oauth, name="o")
    assert oauth_session.get("/v1/quote/snapshot").ok
    token = oauth_session.token
    clock.advance(7200)
    assert oauth_session.get("/v1/quote/snapshot").ok
    newer = oauth_session.token
    seen += [repr(token), repr(newer), repr(oauth_session)]
    (record,) = (futu_tokens / ".brokerauth" / "@registrations").iterdir()
    registration_secret = json.loads(record.read_text())["registration_access_token"]
    from brokerauth_futu import logout

    logout(oauth_session)

    canaries = [*CANARIES, new_legacy, token.access_token, token.refresh_token,
                newer.access_token, newer.refresh_token, registration_secret]
    ours = [r for r in caplog.records if r.name.startswith("brokerauth")
            and not r.name.startswith("brokerauth_sandbox.server")]
    text = "\n".join(r.getMessage() for r in ours) + "\n".join(seen)
    for canary in canaries:
        assert canary
        assert canary not in text
    # Files other than the token store's own: the pointer holds no secret.
    for pointer in futu_tokens.rglob("*.client"):
        for canary in canaries:
            assert canary not in pointer.read_text()
