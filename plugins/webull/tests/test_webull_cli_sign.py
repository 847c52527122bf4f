"""``brokerauth sign`` run as a user runs it, for a Webull profile whose secrets are
environment references: with --timestamp and --nonce it reproduces the official SDK's
signatures from webull_signing_vectors.json exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from webull_helpers import load_vectors

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
HTTP_CASES = [case for case in load_vectors() if case["method"] != "GRPC"]
KEY_VAR = "WEBULL_VECTOR_APP_KEY"
SECRET_VAR = "WEBULL_VECTOR_APP_SECRET"


def profiles_file(folder: Path, case: dict[str, Any]) -> Path:
    algorithm = case["signature_headers"]["x-signature-algorithm"]
    path = folder / "profiles.toml"
    path.write_text(
        "[profiles.vector]\n"
        'broker = "webull"\n'
        # The host is signed: it must be the vector's, so base_url names it.
        f'base_url = "https://{case["host"]}"\n'
        f'signature_algorithm = "{algorithm}"\n'
        'two_factor = "off"\n'
        f'app_key = {{ env = "{KEY_VAR}" }}\n'
        f'app_secret = {{ env = "{SECRET_VAR}" }}\n',
        encoding="utf-8",
    )
    return path


def sign(profiles: Path, case: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    query = case.get("query_as_signed") or case["query"] or {}
    url = case["path"] + ("?" + urlencode(list(query.items())) if query else "")
    args = [BROKERAUTH, "sign", "--profiles", str(profiles), "-p", "vector", case["method"], url,
            "--timestamp", case["timestamp"], "--nonce", case["nonce"], "--json", *extra]
    if case["body"] is not None:
        args += ["--data", case["body"]]
    for name, value in case["headers_in"].items():
        args += ["-H", f"{name}: {value}"]
    env = {**os.environ, KEY_VAR: case["app_key"], SECRET_VAR: case["app_secret"]}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["name"] for c in HTTP_CASES])
def test_sign_reproduces_the_vector(case: dict[str, Any], tmp_path: Path, token_home: Path) -> None:
    result = sign(profiles_file(tmp_path, case), case, "--no-token")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    headers = {k.lower(): v for k, v in shown["headers"].items()}
    for name, value in case["signature_headers"].items():
        assert headers[name] == value, name
    assert case["app_secret"] not in result.stdout + result.stderr
    assert shown["url"].startswith(f"https://{case['host']}{case['path']}")


def test_sign_attaches_the_stored_token_masked_unless_revealed(
    tmp_path: Path, token_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in HTTP_CASES if c["name"] == "get_query_3_params_with_access_token")
    profiles = profiles_file(tmp_path, case)
    from brokerauth.contract.tokens import Token
    from brokerauth.engine.api import open_binding

    with monkeypatch.context() as env:
        env.setenv(KEY_VAR, case["app_key"])
        env.setenv(SECRET_VAR, case["app_secret"])
        open_binding("vector", profiles=profiles).save(
            Token(access_token=case["access_token"], broker="webull", token_type="x-access-token")
        )

    masked = sign(profiles, case)
    assert masked.returncode == 0, masked.stderr
    assert case["access_token"] not in masked.stdout
    shown = sign(profiles, case, "--reveal")
    headers = json.loads(shown.stdout)["headers"]
    # The token is sent but not signed: the signature is the vector's all the same.
    assert headers["x-access-token"] == case["access_token"]
    assert headers["x-signature"] == case["signature"]
