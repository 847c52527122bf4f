"""``brokerauth sign`` for Futu profiles, run as a user runs it: the headers it shows are all the
headers the request carries — the bearer token too, masked unless ``--reveal`` — so sending
exactly those to the sandbox is accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
import urllib3
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.commandline_check import Child, assert_clean_exit
from brokerauth_sandbox.emulators import profile_table

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
PATH = "/v1/quote/snapshot?symbols=US.AAPL"


def profiles_file(folder: Path, settings: dict[str, Any]) -> tuple[Path, dict[str, str]]:
    """The sandbox's profile as a user writes it: secrets as environment references."""
    table, env = profile_table("futu", settings, "SIGN_")
    path = folder / "profiles.toml"
    path.write_text(tomli_w.dumps({"profiles": {"fu": table}}), encoding="utf-8")
    return path, env


def sign(profiles: Path, env: dict[str, str], clock: ManualClock,
         *extra: str) -> subprocess.CompletedProcess[str]:
    # Signed at the sandbox's time, which is the test's clock, not the wall clock.
    at = str(int(clock.now().timestamp()))
    return subprocess.run(
        [BROKERAUTH, "sign", "--profiles", str(profiles), "-p", "fu", "GET", PATH,
         "--timestamp", at, "--json", *extra],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )


def send_as_shown(shown: dict[str, Any]) -> urllib3.BaseHTTPResponse:
    return urllib3.request(shown["method"], shown["url"], headers=shown["headers"],
                           retries=False)


def check_sign(sandbox: FutuSandbox, profiles: Path, env: dict[str, str], clock: ManualClock,
               token: str) -> None:
    masked = sign(profiles, env, clock)
    assert masked.returncode == 0, masked.stderr
    assert token not in masked.stdout + masked.stderr
    headers = {k.lower(): v for k, v in json.loads(masked.stdout)["headers"].items()}
    assert headers["authorization"] == (
        f"Bearer <hidden, {len(token)} characters; --reveal to show>"
    )

    revealed = sign(profiles, env, clock, "--reveal")
    assert revealed.returncode == 0, revealed.stderr
    shown = json.loads(revealed.stdout)
    assert {k.lower(): v for k, v in shown["headers"].items()}["authorization"] == (
        f"Bearer {token}"
    )
    answer = send_as_shown(shown)
    assert answer.status == 200, answer.data


def test_api_key_mode_shows_the_bearer_token_it_sends(
    make_sandbox: Callable[..., FutuSandbox], clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = make_sandbox(profile_mode="api_key")
    profiles, env = profiles_file(tmp_path, sandbox.profile_settings())
    check_sign(sandbox, profiles, env, clock, sandbox.access_token)


def test_api_key_mode_without_a_token_signs_without_one(
    make_sandbox: Callable[..., FutuSandbox], clock: ManualClock, tmp_path: Path
) -> None:
    sandbox = make_sandbox(profile_mode="api_key")
    profiles, env = profiles_file(tmp_path, sandbox.profile_settings())
    bare = sign(profiles, env, clock, "--no-token")
    assert bare.returncode == 0, bare.stderr
    headers = {k.lower() for k in json.loads(bare.stdout)["headers"]}
    assert "authorization" not in headers
    assert "x-api-signature" in headers


def test_oauth_mode_shows_the_bearer_token_of_the_login(
    oauth_sandbox: FutuSandbox, open_futu: Callable[..., Any], clock: ManualClock,
    tmp_path: Path,
) -> None:
    with open_futu(oauth_sandbox, name="fu") as api:
        token = api.login()
    assert token is not None
    profiles, env = profiles_file(tmp_path, oauth_sandbox.profile_settings())
    check_sign(oauth_sandbox, profiles, env, clock, token.access_token)


def test_oauth_mode_before_any_login_says_a_login_is_needed(
    oauth_sandbox: FutuSandbox, clock: ManualClock, tmp_path: Path
) -> None:
    profiles, env = profiles_file(tmp_path, oauth_sandbox.profile_settings())
    before = oauth_sandbox.stats.copy()
    result = sign(profiles, env, clock)
    assert result.returncode == 0, result.stderr
    assert "authorization" not in {k.lower() for k in json.loads(result.stdout)["headers"]}
    assert "brokerauth login fu" in result.stderr
    assert oauth_sandbox.stats == before  # nothing was sent to find out


def test_the_profile_brokerauth_sandbox_prints_signs_what_the_sandbox_accepts(
    tmp_path: Path,
) -> None:
    with Child([BROKERAUTH, "--json", "sandbox", "futu", "--name", "fu"], tmp_path) as child:
        described = json.loads(child.until("\n}\n"))
        path = tmp_path / "profiles.toml"
        # The API-key profile, printed after the OAuth one (the default mode).
        path.write_text(tomli_w.dumps({"profiles": {"fu": described["profiles"]["fu-key"]}}),
                        encoding="utf-8")
        result = subprocess.run(
            [BROKERAUTH, "sign", "--profiles", str(path), "-p", "fu", "GET", PATH, "--json",
             "--reveal"],
            capture_output=True, text=True, env={**os.environ, **described["env"]}, timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        answer = send_as_shown(json.loads(result.stdout))
        assert answer.status == 200, answer.data
        child.interrupt()
        assert_clean_exit(child)
    assert described["profiles"]["fu-key"]["mode"] == "api_key"
    assert "mode" not in described["table"]  # the first profile is the OAuth one


def test_brokerauth_sandbox_takes_the_emulator_s_options(tmp_path: Path) -> None:
    command = [BROKERAUTH, "--json", "sandbox", "futu", "--mode", "api_key", "--no-rotate"]
    with Child(command, tmp_path) as child:
        described = json.loads(child.until("\n}\n"))
        child.interrupt()
        assert_clean_exit(child)
    assert described["table"]["mode"] == "api_key"
    oauth = described["profiles"]["futu-sandbox-oauth"]
    assert "mode" not in oauth  # an OAuth profile: nothing secret to export
    # Its OAuth server is found beside base_url, through the metadata there.
    assert "oauth_base_url" not in oauth
    assert oauth["base_url"] == described["base_url"]
