"""The hooks: registration against the core's hookspecs, signing, judging answers, sandbox."""

from __future__ import annotations

import importlib.metadata
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pluggy
import pytest
from brokerauth.contract import hookspecs
from brokerauth.contract.errors import ConfigError
from brokerauth.contract.tokens import Token
from brokerauth.contract.verdicts import Outcome
from brokerauth.contract.wire import Request, Response
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.emulators import Sandbox
from brokerauth_webull import codes, plugin
from brokerauth_webull.sandbox.server import WebullSandbox
from brokerauth_webull.settings import WebullSettings
from webull_helpers import CANARY_KEY, CANARY_SECRET, load_vectors

VECTOR = next(c for c in load_vectors() if c["name"] == "get_query_3_params")
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin, name="webull")
    manager.check_pending()
    return manager


def vector_settings(**changes: Any) -> WebullSettings:
    return WebullSettings(
        app_key=Secret.from_value(VECTOR["app_key"]),
        app_secret=Secret.from_value(VECTOR["app_secret"]),
        **changes,
    )


def vector_request() -> Request:
    return Request.from_url(
        "GET", f"https://{VECTOR['host']}{VECTOR['path']}", params=VECTOR["query"]
    )


def test_entry_point() -> None:
    (entry,) = [
        ep for ep in importlib.metadata.entry_points(group="brokerauth") if ep.name == "webull"
    ]
    assert entry.value == "brokerauth_webull.plugin"
    assert entry.load() is plugin


def test_describe_plugin(pm: pluggy.PluginManager) -> None:
    (info,) = pm.hook.describe_plugin()
    (broker,) = info.brokers
    assert broker.id == "webull"
    assert broker.settings is WebullSettings
    assert (broker.signer, broker.flow, broker.store) == ("webull-hmac", "webull-2fa", "file")
    assert {env.name for env in broker.environments} >= {"us", "hk", "jp", "sandbox", "uat"}
    strategies = {(s.kind, s.name): s for s in info.strategies}
    signer = strategies[("signer", "webull-hmac")]
    assert signer.needs == ("app_key", "app_secret", "signature_algorithm")
    assert ("flow", "webull-2fa") in strategies
    for strategy in info.strategies:
        for name in strategy.needs:
            assert hasattr(broker.settings, "__attrs_attrs__")
            assert name in {f.name for f in broker.settings.__attrs_attrs__}


def test_sign_request_reproduces_the_vector(pm: pluggy.PluginManager) -> None:
    headers = pm.hook.sign_request(
        signer="webull-hmac",
        request=vector_request(),
        settings=vector_settings(),
        token=None,
        now=NOW,
        nonce=VECTOR["nonce"],
    )
    assert dict(headers) == VECTOR["signature_headers"]


def test_sign_request_attaches_the_token_and_converts_time(pm: pluggy.PluginManager) -> None:
    token = Token(access_token="tok-123", broker="webull")
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    headers = pm.hook.sign_request(
        signer="webull-hmac",
        request=vector_request(),
        settings=vector_settings(),
        token=token,
        now=tokyo,
        nonce=VECTOR["nonce"],
    )
    assert headers["x-access-token"] == "tok-123"
    assert headers["x-timestamp"] == VECTOR["timestamp"]
    assert headers["x-signature"] == VECTOR["signature"]
    assert "x-version" not in headers


def test_sign_request_bad_settings() -> None:
    args: dict[str, Any] = {"request": vector_request(), "token": None, "now": NOW, "nonce": "n"}
    with pytest.raises(ConfigError, match="app_secret"):
        plugin.sign_request(signer="webull-hmac", settings=_NoSecret(), **args)
    bad = _NoSecret()
    bad.app_secret = "s"
    bad.signature_algorithm = "HMAC-MD5"
    with pytest.raises(ConfigError, match="signature_algorithm"):
        plugin.sign_request(signer="webull-hmac", settings=bad, **args)
    with pytest.raises(ValueError, match="aware"):
        plugin.sign_request(
            signer="webull-hmac",
            settings=vector_settings(),
            **{**args, "now": NOW.replace(tzinfo=None)},
        )


class _NoSecret:
    """Settings of some other broker, composed with this signer by mistake."""

    def __init__(self) -> None:
        self.app_key = "plain-string-key"


def answer(status: int, body: Any, content_type: str = "application/json") -> Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, {"Content-Type": content_type}, content, vector_request())


@pytest.mark.parametrize(
    ("response", "outcome", "code"),
    [
        (answer(401, codes.INVALID_TOKEN.body()), Outcome.TOKEN_INVALID, "INVALID_TOKEN"),
        (answer(401, codes.CLOCK_SKEW_EXCEEDED.body()), Outcome.CLOCK_SKEW, "CLOCK_SKEW_EXCEEDED"),
        (answer(401, codes.INCORRECT_SIGNATURE.body()), Outcome.ERROR, "UNAUTHORIZED"),
        (answer(401, codes.UNKNOWN_APP_KEY.body()), Outcome.ERROR, "UNAUTHORIZED"),
        (answer(401, codes.DUPLICATE_NONCE.body()), Outcome.ERROR, "DUPLICATE_NONCE"),
        (answer(429, codes.TOO_MANY_REQUESTS.body()), Outcome.ERROR, "TOO_MANY_REQUESTS"),
        (
            answer(
                401, {"error_code": "UNAUTHORIZED", "message": "Your app key has been disabled."}
            ),
            Outcome.REVOKED,
            "UNAUTHORIZED",
        ),
        (
            answer(401, {"error_code": "INCORRECT_SIGN", "message": "x"}),
            Outcome.ERROR,
            "INCORRECT_SIGN",
        ),
        (answer(502, b"<html>bad gateway</html>", "text/html"), Outcome.ERROR, None),
        (answer(500, b""), Outcome.ERROR, None),
    ],
)
def test_interpret_response(
    pm: pluggy.PluginManager, response: Response, outcome: Outcome, code: str | None
) -> None:
    verdict = pm.hook.interpret_response(
        broker="webull", settings=vector_settings(), request=response.request, response=response
    )
    assert verdict.outcome is outcome
    assert verdict.code == code
    if code is not None:
        assert verdict.message == response.json()["message"]


def test_interpret_response_passes_on_success(pm: pluggy.PluginManager) -> None:
    ok = answer(200, [{"account_id": "1"}])
    kwargs = {"settings": None, "request": ok.request, "response": ok}
    assert pm.hook.interpret_response(broker="webull", **kwargs) is None


def test_make_sandbox() -> None:
    clock = ManualClock()
    from brokerauth_sandbox.emulators import make_sandbox

    sandbox = make_sandbox("webull", clock)
    assert isinstance(sandbox, WebullSandbox)
    assert sandbox.clock is clock
    with sandbox:
        # Only once started: the protocol check reads base_url, which needs a port.
        assert isinstance(sandbox, Sandbox)
        settings = sandbox.profile_settings()
        assert settings["base_url"] == sandbox.base_url
        assert settings["app_key"].reveal() == sandbox.app_key
        assert settings["app_secret"].reveal() == sandbox.app_secret
        assert sandbox.app_secret not in repr(settings)


def test_sign_through_the_hook_then_the_sandbox(pm: pluggy.PluginManager) -> None:
    """The hook's headers, sent over HTTP, pass the sandbox (profile built from the sandbox)."""
    import urllib3

    clock = ManualClock()
    with WebullSandbox(clock, app_key=CANARY_KEY, app_secret=CANARY_SECRET) as sandbox:
        settings = make_settings(sandbox.profile_settings())
        request = Request.from_url(
            "GET", settings.api_base_url + "/openapi/account/list", params={"a": "b c"}
        )
        headers = pm.hook.sign_request(
            signer="webull-hmac",
            request=request,
            settings=settings,
            token=None,
            now=clock.now(),
            nonce="0f" * 16,
        )
        response = urllib3.request("GET", request.url, headers=dict(headers), retries=False)
        assert response.status == 200, response.data


def make_settings(profile: dict[str, Any]) -> WebullSettings:
    from brokerauth.toolkit.converter import make_converter

    return make_converter().structure(profile, WebullSettings)


def test_loads_through_the_plugin_host() -> None:
    """Every declared strategy has its hooks: the core's host loads the plugin."""
    from brokerauth.engine.pluginhost import PluginHost

    host = PluginHost.create()
    loaded = host.load("webull")
    assert loaded.distribution == "brokerauth-webull"
    assert host.strategy("flow", "webull-2fa")[1] == "webull"
    assert host.strategy("signer", "webull-hmac")[1] == "webull"
    assert "webull" not in host.failures


def test_signing_does_not_import_the_flow_or_the_sandbox() -> None:
    """``brokerauth sign`` starts fast: the flow and the sandbox are imported on first use."""
    import subprocess
    import sys

    code = (
        "import sys, brokerauth_webull.plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith('brokerauth_webull')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "twofactor" not in out
    assert "sandbox" not in out
    assert "brokerauth_webull.signing" in out


def test_brokerauth_sign_loads_no_module_it_has_no_use_for(tmp_path: Path) -> None:
    """``brokerauth sign`` with no token stored (so the 2FA flow is asked for one it can make
    offline) reads the profile, signs and prints: it must start without logging, the HTTP
    stack, a shell quoter or a JSON codec, each milliseconds of start-up."""
    import subprocess
    import sys

    profiles = tmp_path / "profiles.toml"
    profiles.write_text('[profiles.p]\nbroker = "webull"\napp_key = { env = "K" }\n'
                        'app_secret = { env = "S" }\n')
    unused = ("logging", "shlex", "json", "urllib3", "http", "email", "ssl", "socket",
              "subprocess", "tempfile", "cattrs", "importlib.metadata")
    code = (
        "import sys, io, contextlib\nfrom brokerauth.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    code = main(['sign', '--profiles', {str(profiles)!r}, '-p', 'p', 'GET', '/x'])\n"
        "assert 'x-signature: ' in out.getvalue(), out.getvalue()\n"
        f"print(code, sorted(m for m in sys.modules if m.split('.')[0] in {unused!r}\n"
        f"                   or m in {unused!r}))\n"
    )
    env = {**os.environ, "K": "abcdefgh12345678", "S": "0123456789abcdef0123456789abcdef",
           "BROKERAUTH_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no token is stored" in result.stderr  # the flow was asked
    assert result.stdout.strip() == "0 []"
