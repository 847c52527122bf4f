"""``brokerauth sign --explain`` for Webull: the steps shown are those of the signature sent —
the official SDK's canonical string and string to sign for every vector, a string to sign
the sandbox's verifier accepts — and never the app secret or the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import tomli_w
import urllib3
from brokerauth.contract.tokens import Token
from brokerauth.engine.api import open_binding
from brokerauth.engine.binding import ProfileBinding
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.emulators import profile_table
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import CANARY_SECRET, load_vectors

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
HTTP_CASES = [case for case in load_vectors() if case["method"] != "GRPC"]
KEY_VAR = "WEBULL_EXPLAIN_APP_KEY"
SECRET_VAR = "WEBULL_EXPLAIN_APP_SECRET"
STEPS = ("scheme", "signed host", "canonical string", "string to sign", "hmac", "signature",
         "not signed")


def algorithm_of(case: dict[str, Any]) -> str:
    return str(case["signature_headers"]["x-signature-algorithm"])


def digest_step(case: dict[str, Any]) -> str:
    name = "SHA-256" if algorithm_of(case) == "HMAC-SHA256" else "MD5"
    return f"body digest ({name}, upper-case hex)"


def profiles_file(folder: Path, case: dict[str, Any]) -> Path:
    path = folder / "profiles.toml"
    path.write_text(tomli_w.dumps({"profiles": {"vector": {
        "broker": "webull",
        # The host is signed: it must be the vector's.
        "base_url": f"https://{case['host']}",
        "signature_algorithm": algorithm_of(case),
        "two_factor": "off",
        "app_key": {"env": KEY_VAR},
        "app_secret": {"env": SECRET_VAR},
    }}}), encoding="utf-8")
    return path


def query_of(case: dict[str, Any]) -> dict[str, str]:
    return dict(case.get("query_as_signed") or case["query"] or {})


def vector_binding(case: dict[str, Any], folder: Path,
                   monkeypatch: pytest.MonkeyPatch) -> ProfileBinding:
    monkeypatch.setenv(KEY_VAR, case["app_key"])
    monkeypatch.setenv(SECRET_VAR, case["app_secret"])
    return open_binding("vector", profiles=profiles_file(folder, case))


def vector_token(case: dict[str, Any]) -> Token | None:
    if case.get("access_token") is None:
        return None
    return Token(access_token=case["access_token"], broker="webull",
                 token_type="x-access-token")


def at(case: dict[str, Any]) -> datetime:
    return datetime.strptime(case["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def assert_no_secret(steps: dict[str, str], *secrets: str | None) -> None:
    for name, value in steps.items():
        for secret in secrets:
            if secret:
                assert secret not in value, f"a secret in step {name!r}"
                assert secret not in name


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["name"] for c in HTTP_CASES])
def test_the_explanation_is_the_sdk_s_and_that_of_the_signature_sent(
    case: dict[str, Any], tmp_path: Path, token_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binding = vector_binding(case, tmp_path, monkeypatch)
    body = None if case["body"] is None else case["body"].encode("utf-8")
    request = binding.build(case["method"], case["path"], params=query_of(case) or None,
                            data=body, headers=case["headers_in"])
    token = vector_token(case)
    signed = binding.sign(request, token, now=at(case), nonce=case["nonce"])
    signer = binding.resolved.signer
    steps = binding.host.explain_signature(signer.name, request, binding.settings, token,
                                           at(case), case["nonce"], owner=signer.owner)
    assert steps is not None
    steps = dict(steps)
    assert set(STEPS) | {digest_step(case)} == set(steps)
    assert steps["canonical string"] == case["canonical_string_unencoded"]
    assert steps["string to sign"] == case["string_to_sign"]
    assert steps["signature"] == case["signature"] == signed.headers["x-signature"]
    assert steps["signed host"] == case["host"]
    if body is None:
        assert steps[digest_step(case)].startswith("none")
    else:
        digest = hashlib.new("sha256" if algorithm_of(case) == "HMAC-SHA256" else "md5", body)
        assert steps[digest_step(case)] == digest.hexdigest().upper()
        assert case["canonical_string_unencoded"].endswith("&" + steps[digest_step(case)])
    assert ("x-access-token" in steps["not signed"]) is (token is not None)
    assert_no_secret(steps, case["app_secret"], case.get("access_token"))


def run_sign(profiles: Path, case: dict[str, Any], *extra: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    query = query_of(case)
    url = case["path"] + ("?" + urlencode(list(query.items())) if query else "")
    args = [BROKERAUTH, "sign", "--profiles", str(profiles), "-p", "vector", case["method"], url,
            "--timestamp", case["timestamp"], "--nonce", case["nonce"], *extra]
    if case["body"] is not None:
        args += ["--data", case["body"]]
    for name, value in case["headers_in"].items():
        args += ["-H", f"{name}: {value}"]
    env = {**os.environ, KEY_VAR: case["app_key"], SECRET_VAR: case["app_secret"], **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)


CLI_CASES = [c for c in HTTP_CASES if c["body"] is not None or c["query"]][:4] + [
    c for c in HTTP_CASES if algorithm_of(c) == "HMAC-SHA1"
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c["name"] for c in CLI_CASES])
def test_sign_explain_prints_the_vector_s_steps_beside_its_headers(
    case: dict[str, Any], tmp_path: Path, token_home: Path
) -> None:
    profiles = profiles_file(tmp_path, case)
    plain = run_sign(profiles, case, "--no-token", "--json")
    explained = run_sign(profiles, case, "--no-token", "--json", "--explain")
    assert explained.returncode == 0, explained.stderr
    shown = json.loads(explained.stdout)
    assert shown["headers"] == json.loads(plain.stdout)["headers"]
    assert shown["headers"]["x-signature"] == case["signature"]
    explanation = shown["explanation"]
    assert explanation["signer"] == "webull-hmac"
    assert explanation["steps"]["canonical string"] == case["canonical_string_unencoded"]
    assert explanation["steps"]["string to sign"] == case["string_to_sign"]
    assert explanation["signed_at"] == case["timestamp"]
    assert explanation["nonce"] == case["nonce"]
    assert explanation["clock_offset_seconds"] is None
    assert "--timestamp" in explanation["clock_offset"]

    text = run_sign(profiles, case, "--no-token", "--explain")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert f"x-signature: {case['signature']}" in lines
    assert f"  canonical string: {case['canonical_string_unencoded']}" in lines
    assert f"  string to sign: {case['string_to_sign']}" in lines
    assert case["app_secret"] not in explained.stdout + explained.stderr + text.stdout


def test_the_token_is_masked_in_headers_and_absent_from_the_steps(
    tmp_path: Path, token_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in HTTP_CASES if c["name"] == "get_query_3_params_with_access_token")
    profiles = profiles_file(tmp_path, case)
    with monkeypatch.context() as env:
        env.setenv(KEY_VAR, case["app_key"])
        env.setenv(SECRET_VAR, case["app_secret"])
        token = vector_token(case)
        assert token is not None
        open_binding("vector", profiles=profiles).save(token)

    for extra in ((), ("--reveal",)):
        result = run_sign(profiles, case, "--json", "--explain", *extra)
        assert result.returncode == 0, result.stderr
        shown = json.loads(result.stdout)
        steps = shown["explanation"]["steps"]
        assert steps["string to sign"] == case["string_to_sign"]  # the token is not signed
        assert "x-access-token" in steps["not signed"]
        assert_no_secret(steps, case["app_secret"], case["access_token"])
        revealed = shown["headers"]["x-access-token"] == case["access_token"]
        assert revealed is bool(extra)
        if not extra:
            assert case["access_token"] not in result.stdout


def test_the_sandbox_accepts_the_headers_and_the_explained_string_makes_their_signature(
    make_sandbox: Callable[..., WebullSandbox], clock: ManualClock, tmp_path: Path,
    token_home: Path,
) -> None:
    sandbox = make_sandbox()
    table, env = profile_table("webull", sandbox.profile_settings(), "EXPLAIN_")
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(tomli_w.dumps({"profiles": {"wb": table}}), encoding="utf-8")
    # The sandbox's clock is the test's, not the wall clock: sign at its time.
    stamp = str(int(clock.now().timestamp()))
    for method, path, data in (("GET", "/openapi/config?b=2&a=x%20y", None),
                               ("POST", "/auth/tokens/create", "{}")):
        args = [BROKERAUTH, "sign", "--profiles", str(profiles), "-p", "wb", method, path,
                "--timestamp", stamp, "-H", "x-version: v3", "--json", "--explain"]
        if data is not None:
            args += ["--data", data]
        result = subprocess.run(args, capture_output=True, text=True,
                                env={**os.environ, **env}, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert CANARY_SECRET not in result.stdout + result.stderr
        shown = json.loads(result.stdout)
        steps = shown["explanation"]["steps"]
        mac = hmac.new((CANARY_SECRET + "&").encode(), steps["string to sign"].encode(),
                       hashlib.sha256).digest()
        assert base64.b64encode(mac).decode() == shown["headers"]["x-signature"]
        assert steps["signed host"] == shown["url"].split("/")[2]
        answer = urllib3.request(method, shown["url"], headers=shown["headers"],
                                 body=None if data is None else data.encode(), retries=False)
        assert answer.status == 200, answer.data
