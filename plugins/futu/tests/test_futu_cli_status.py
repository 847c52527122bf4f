"""``brokerauth status`` and ``login`` for Futu profiles, run as a user runs them: they agree on
what a request carries. An API-key profile's token is the configured one, which needs no login,
so status does not say "needs login" before anything is stored; an OAuth profile does need one,
and looking sends nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from brokerauth.cli.offline_token import flow_token
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.engine.api import open_binding
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.emulators import profile_table
from brokerauth_sandbox.server import HeadlessBrowser

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


def environment(folder: Path, settings: dict[str, Any]) -> dict[str, str]:
    """The sandbox's profile as a user writes it (secrets as environment references)."""
    table, env = profile_table("futu", settings, "STATUS_")
    path = folder / "profiles.toml"
    path.write_text(tomli_w.dumps({"profiles": {"fu": table}}), encoding="utf-8")
    return {**os.environ, **env, "BROKERAUTH_PROFILES": str(path)}


def brokerauth(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, *args, "--json"], capture_output=True, text=True,
                          env=env, timeout=60, check=False, stdin=subprocess.DEVNULL)


def test_api_key_profile_is_ready_before_anything_is_stored(
    make_sandbox: Callable[..., FutuSandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox(profile_mode="api_key")
    env = environment(tmp_path, sandbox.profile_settings())
    stored_before = sorted(Path(sandbox.token_dir or "").rglob("*"))
    status = brokerauth(env, "status", "fu")
    assert status.returncode == 0, status.stderr
    row = json.loads(status.stdout)["profiles"][0]
    assert row["state"] == "fresh"
    assert sandbox.access_token not in status.stdout + status.stderr
    assert sorted(Path(sandbox.token_dir or "").rglob("*")) == stored_before  # only looked


def test_oauth_profile_needs_a_login_and_looking_sends_nothing(
    oauth_sandbox: FutuSandbox, tmp_path: Path
) -> None:
    env = environment(tmp_path, oauth_sandbox.profile_settings())
    before = oauth_sandbox.stats.copy()
    status = brokerauth(env, "status", "fu")
    assert status.returncode == 3, status.stderr
    assert json.loads(status.stdout)["profiles"][0]["state"] == "needs login"
    assert oauth_sandbox.stats == before


def test_looking_starts_no_login_even_with_a_person_there(
    oauth_sandbox: FutuSandbox, browser: HeadlessBrowser, plugin_host: PluginHost
) -> None:
    # At a terminal the command's interaction has a person: a look must not use them.
    oauth_sandbox.profile_client_id = oauth_sandbox.register_client(
        [oauth_sandbox.profile_redirect_uri])
    profile = Profile.from_mapping("fu", {"broker": "futu", **oauth_sandbox.profile_settings(),
                                          "discovery": False})
    binding = open_binding(profile, host=plugin_host, interaction=browser, interactive=True)
    before = oauth_sandbox.stats.copy()
    with pytest.raises(LoginRequiredError, match="takes a login"):
        flow_token(binding)
    assert oauth_sandbox.stats == before
    assert browser.visited == []
