"""The Futu signers explain what they did: in API-key mode the PATH, timestamp and string to
sign of the very signature sent (rebuilt here from Futu's published formula, not from the
plugin's code), in OAuth mode that a Bearer token is all there is.  Never the app secret or
the access token."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import tomli_w
import urllib3
from brokerauth.contract.tokens import Token
from brokerauth.engine.api import open_binding
from brokerauth.engine.binding import ProfileBinding
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.emulators import profile_table
from futu_helpers import CANARY_SECRET, CANARY_TOKEN

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
OAUTH_TOKEN = "canary-futu-oauth-access-token-Wd81"


def binding_for(sandbox: FutuSandbox, folder: Path, monkeypatch: pytest.MonkeyPatch,
                **keys: Any) -> tuple[ProfileBinding, Path, dict[str, str]]:
    table, env = profile_table("futu", {**sandbox.profile_settings(), **keys}, "EXPLAIN_")
    profiles = folder / "profiles.toml"
    profiles.write_text(tomli_w.dumps({"profiles": {"fu": table}}), encoding="utf-8")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return open_binding("fu", profiles=profiles), profiles, env


def explain(binding: ProfileBinding, *args: Any) -> dict[str, str]:
    signer = binding.resolved.signer
    steps = binding.host.explain_signature(signer.name, *args, owner=signer.owner)
    assert steps is not None
    return dict(steps)


def assert_no_secret(steps: dict[str, str]) -> None:
    for name, value in steps.items():
        for secret in (CANARY_SECRET, CANARY_TOKEN, OAUTH_TOKEN):
            assert secret not in name + value, f"a secret in step {name!r}"


@pytest.mark.parametrize("signature_path", ["target", "path"])
@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", "/v1/quote/snapshot?symbols=US.AAPL&fields=a%20b", None),
    ("POST", "/v1/quote/snapshot", '{"symbol":"US.AAPL","qty":"10","note":"é\\n"}'),
])
def test_api_key_steps_are_those_of_futu_s_formula_and_of_the_signature_sent(
    make_sandbox: Callable[..., FutuSandbox], clock: ManualClock, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, signature_path: str, method: str, url: str,
    body: str | None,
) -> None:
    sandbox = make_sandbox(profile_mode="api_key", signature_path=signature_path)
    binding, _, _ = binding_for(sandbox, tmp_path, monkeypatch, signature_path=signature_path)
    request = binding.build(method, url, data=None if body is None else body.encode())
    token = Token(access_token=CANARY_TOKEN, broker="futu")
    now = clock.now()
    signed = binding.sign(request, token, now=now, nonce="unused")
    steps = explain(binding, request, binding.settings, token, now, "unused")

    # PATH is the request target as it goes on the wire (or its path alone).
    wire = urlsplit(signed.url)
    path = f"{wire.path}?{wire.query}" if signature_path == "target" and wire.query else (
        wire.path
    )
    stamp = str(int(now.timestamp()))
    message = f"{method}\n{path}\n{stamp}\n".encode() + (b"" if body is None else body.encode())
    assert steps["signed path"] == path
    assert steps["timestamp"] == stamp == signed.headers["X-Api-Timestamp"]
    assert steps["string to sign"] == message.decode()
    assert f"signature_path = {signature_path!r}" in steps["scheme"]
    expected = hmac.new(CANARY_SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert steps["signature"] == expected == signed.headers["X-Api-Signature"]
    digest = steps["body digest (SHA-256, lower-case hex)"]
    if body is None:
        assert digest.startswith("none")
    else:
        assert digest.startswith(hashlib.sha256(body.encode()).hexdigest() + " of ")
    assert "Authorization" in steps["not signed"]
    assert_no_secret(steps)
    answer = urllib3.request(method, signed.url, headers=signed.headers, body=request.body,
                             retries=False)
    assert answer.status == 200, answer.data


def test_oauth_steps_say_bearer_and_show_no_token(
    oauth_sandbox: FutuSandbox, clock: ManualClock, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    binding, _, _ = binding_for(oauth_sandbox, tmp_path, monkeypatch)
    request = binding.build("GET", "/v1/quote/snapshot?symbols=US.AAPL")
    token = Token(access_token=OAUTH_TOKEN, broker="futu")
    signed = binding.sign(request, token)
    assert signed.headers["Authorization"] == f"Bearer {OAUTH_TOKEN}"
    steps = explain(binding, request, binding.settings, token, clock.now(), "n")
    assert list(steps) == ["scheme"]
    assert "Bearer" in steps["scheme"]
    assert "nothing signed" in steps["scheme"]
    assert_no_secret(steps)
    bare = explain(binding, request, binding.settings, None, clock.now(), "n")
    assert "no token" in bare["scheme"]


def test_sign_explain_in_api_key_mode_shows_what_the_sandbox_accepts(
    make_sandbox: Callable[..., FutuSandbox], clock: ManualClock, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = make_sandbox(profile_mode="api_key")
    _, profiles, env = binding_for(sandbox, tmp_path, monkeypatch)
    at = str(int(clock.now().timestamp()))

    def sign(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BROKERAUTH, "sign", "--profiles", str(profiles), "-p", "fu", "POST",
             "/v1/quote/snapshot?dry=1", "--data", '{"qty":"1"}', "--timestamp", at, "--explain",
             *extra],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
            check=False,
        )

    revealed = sign("--json", "--reveal")
    assert revealed.returncode == 0, revealed.stderr
    shown = json.loads(revealed.stdout)
    steps = shown["explanation"]["steps"]
    assert steps["signature"] == shown["headers"]["X-Api-Signature"]
    assert steps["string to sign"] == f'POST\n/v1/quote/snapshot?dry=1\n{at}\n{{"qty":"1"}}'
    assert CANARY_SECRET not in revealed.stdout + revealed.stderr
    assert CANARY_TOKEN not in json.dumps(shown["explanation"])
    answer = urllib3.request("POST", shown["url"], headers=shown["headers"],
                             body=b'{"qty":"1"}', retries=False)
    assert answer.status == 200, answer.data

    text = sign()
    assert text.returncode == 0, text.stderr
    assert CANARY_SECRET not in text.stdout + text.stderr
    assert CANARY_TOKEN not in text.stdout
    # One line per step: the newlines of the string to sign are shown escaped.
    assert (f'  string to sign: POST\\n/v1/quote/snapshot?dry=1\\n{at}\\n{{"qty":"1"}}'
            in text.stdout.splitlines())
