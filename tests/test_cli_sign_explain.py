"""``brokerauth sign --explain``, driven as a user drives it: the explanation is of the
signature shown (one time, one nonce), says what it knows of the clock offset, and never
prints a secret or a token, even from a signer that puts one in its steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.tokens import Token
from brokerauth.engine.api import open_binding

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
SECRET = "canary-double-secret-Hy62Pq"
TOKEN = "canary-double-access-token-Ue47"
REFRESH = "canary-double-refresh-token-Ko19"

# Two signers: "leaky" explains with all it is given (what the command must not print),
# "mute" explains nothing.
TEST_PLUGIN = '''
from brokerauth import hookimpl
from brokerauth.contract.specs import PluginInfo, StrategySpec


@hookimpl
def describe_plugin():
    needs = ("client_id", "client_secret")
    return PluginInfo(strategies=(
        StrategySpec("signer", "leaky", "explains with secrets", needs=needs),
        StrategySpec("signer", "mute", "explains nothing", needs=needs),
    ))


@hookimpl
def sign_request(settings, token):
    headers = {"X-Leaky-Client": settings.client_id}
    if token is not None:
        headers["Authorization"] = "Bearer " + token.access_token
    return headers


@hookimpl
def explain_signature(signer, settings, token, nonce):
    if signer == "mute":
        return None
    secret = settings.client_secret.reveal()
    steps = {"key": "HMAC key " + secret, "client": settings.client_id, "nonce": nonce}
    if token is not None:
        steps["token"] = f"{token.access_token} then {token.refresh_token}"
    return steps
'''


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60, check=False)


def write_profiles(folder: Path, signer: str | None = None) -> Path:
    path = folder / "profiles.toml"
    path.write_text(
        "[profiles.d]\n"
        'broker = "double"\n'
        + (f'signer = "{signer}"\n' if signer else "")
        + 'client_id = "cid-explain"\n'
        'client_secret = { env = "DOUBLE_EXPLAIN_SECRET" }\n'
        'base_url = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    return path


def sign(profiles: Path, *extra: str, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return run("sign", "--profiles", str(profiles), "-p", "d", "POST", "/api/orders?b=2",
               "--data", '{"qty":1}', *extra, env={"DOUBLE_EXPLAIN_SECRET": SECRET, **(env or {})})


def plugin_installed(folder: Path) -> dict[str, str]:
    """The test's signers as an installed plugin, for the commands started with this
    environment."""
    site = folder / "site"
    info = site / "explain_signers-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: explain-signers\n"
                                   "Version: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[brokerauth]\nexplain_signers = explain_signers\n",
                                           encoding="utf-8")
    (site / "explain_signers.py").write_text(TEST_PLUGIN, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def profiles(tmp_path: Path, token_home: Path) -> Path:
    return write_profiles(tmp_path)


def test_a_signer_that_explains_nothing_says_so_and_signs_the_same(
    tmp_path: Path, token_home: Path
) -> None:
    env = plugin_installed(tmp_path)
    profiles = write_profiles(tmp_path, signer="mute")
    fixed = ("--timestamp", "2024-01-02T03:04:05Z", "--nonce", "n-explain-1", "--json")
    plain = sign(profiles, *fixed, env=env)
    explained = sign(profiles, *fixed, "--explain", env=env)
    assert explained.returncode == 0, explained.stderr
    shown = json.loads(explained.stdout)
    assert shown["headers"] == json.loads(plain.stdout)["headers"]
    assert "explanation" not in json.loads(plain.stdout)
    assert shown["explanation"] == {
        "signer": "mute", "steps": None, "signed_at": "2024-01-02T03:04:05Z",
        "nonce": "n-explain-1", "clock_offset_seconds": None,
        "clock_offset": "not applied: --timestamp fixes the time signed",
    }
    text = sign(profiles, "--explain", *fixed[:-1], env=env)
    assert text.returncode == 0, text.stderr
    assert "it explains nothing" in text.stdout
    assert "  nonce: n-explain-1" in text.stdout.splitlines()


def test_the_explanation_is_of_the_time_and_nonce_signed(profiles: Path) -> None:
    result = sign(profiles, "--explain", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    headers, explanation = shown["headers"], shown["explanation"]
    assert explanation["nonce"] == headers["X-Double-Nonce"]
    from datetime import datetime

    signed_at = datetime.fromisoformat(explanation["signed_at"].replace("Z", "+00:00"))
    assert str(int(signed_at.timestamp())) == headers["X-Double-Timestamp"]
    # A fresh command runs no session: no server has told it an offset.
    assert explanation["clock_offset_seconds"] is None
    assert explanation["clock_offset"].startswith("none known")
    assert "Date header" in explanation["clock_offset"]


def test_secrets_and_tokens_a_signer_explains_with_are_not_printed(
    tmp_path: Path, token_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = plugin_installed(tmp_path)
    profiles = write_profiles(tmp_path, signer="leaky")
    monkeypatch.setenv("DOUBLE_EXPLAIN_SECRET", SECRET)
    # The double's own flow is not asked: a stored token is what a request would carry.
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    open_binding("d", profiles=profiles).save(
        Token(access_token=TOKEN, refresh_token=REFRESH, broker="double"))

    outputs: list[dict[str, Any]] = []
    for extra in (("--json",), ("--json", "--reveal"), ()):
        result = sign(profiles, "--explain", *extra, env=env)
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
        assert REFRESH not in result.stdout + result.stderr
        if "--reveal" not in extra:
            assert TOKEN not in result.stdout + result.stderr
        if "--json" in extra:
            outputs.append(json.loads(result.stdout))
    masked, revealed = outputs
    assert revealed["headers"]["Authorization"] == f"Bearer {TOKEN}"
    for shown in (masked, revealed):
        steps = shown["explanation"]["steps"]
        assert TOKEN not in json.dumps(shown["explanation"])
        assert steps["key"] == f"HMAC key <hidden, {len(SECRET)} characters>"
        # What is no secret is shown as it is.
        assert steps["client"] == "cid-explain"
        assert steps["token"] == (f"<hidden, {len(TOKEN)} characters> then "
                                  f"<hidden, {len(REFRESH)} characters>")
