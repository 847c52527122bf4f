"""Two brokers' sandboxes run from one shell keep their own credentials.

``brokerauth sandbox BROKER`` prints its secrets as ``export`` lines under names of the broker's
own (``BROKERAUTH_SANDBOX_<BROKER>_...``): with one shared name, exporting the second
sandbox's lines replaced the first's key, and the first profile got 401.  Here both sandboxes
run as the user runs them (``brokerauth sandbox`` subprocesses), both sets of variables go
into one environment, both printed profiles into one profiles file, and each profile's
request succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


def brokerauth(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)


def test_two_sandboxes_in_one_shell_each_keep_their_credentials(
    sandbox_command: Any, tmp_path: Path, token_home: Path
) -> None:
    pytest.importorskip("brokerauth_webull.sandbox")
    pytest.importorskip("brokerauth_futu.sandbox")
    webull, _ = sandbox_command("webull", name="wb")
    futu, _ = sandbox_command("futu", name="fu")

    # The names are the broker's own: no variable is exported by both.
    assert set(webull["env"]).isdisjoint(futu["env"])
    assert all(name.startswith("BROKERAUTH_SANDBOX_WEBULL_") for name in webull["env"])
    assert all(name.startswith("BROKERAUTH_SANDBOX_FUTU_") for name in futu["env"])
    assert webull["table"]["app_key"] == {"env": "BROKERAUTH_SANDBOX_WEBULL_APP_KEY"}

    # One shell: both sets of export lines, one profiles file with every printed profile.
    profiles = tmp_path / "brokerauth.toml"
    profiles.write_text(tomli_w.dumps({"profiles": {**webull["profiles"], **futu["profiles"]}}),
                        encoding="utf-8")
    env = {**os.environ, **webull["env"], **futu["env"], "BROKERAUTH_PROFILES": str(profiles),
           "BROKERAUTH_HOME": str(token_home)}

    first = brokerauth(env, "request", "wb", "GET", "/openapi/account/list")
    assert first.returncode == 0, first.stderr
    second = brokerauth(env, "request", "fu-key", "GET", "/v1/quote/snapshot")
    assert second.returncode == 0, second.stderr
    for secret in [*webull["env"].values(), *futu["env"].values()]:
        assert secret not in first.stdout + first.stderr + second.stdout + second.stderr
