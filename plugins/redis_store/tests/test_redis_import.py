"""A credential exported from a file store and imported into a Redis store (``brokerauth
export`` / ``brokerauth import``, the commands a container runs at start) is the one a
session there sends, and renews itself there: the rotated refresh token lands in Redis."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.engine.api import open_binding, session
from brokerauth.engine.pluginhost import PluginHost
from redis_helpers import RedisServer

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


def run(*args: str, env: dict[str, str], stdin: str | None = None,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True,
                          env={**os.environ, **env}, input=stdin, timeout=60)


def test_a_token_exported_from_a_file_store_works_from_redis(
    sandbox_factory: Any, redis_server: RedisServer, tmp_path: Path, host: PluginHost,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    common = (f'broker = "bearer_double"\nbase_url = "{double.base_url}"\n'
              f'client_id = "{double.client_id}"\n'
              'client_secret = { env = "BEARER_DOUBLE_SECRET" }\n')
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        f"[profiles.laptop]\n{common}"
        f'store = {{ name = "file", path = "{tmp_path / "tokens"}" }}\n'
        f"[profiles.fleet]\n{common}"
        f'store = {{ name = "redis", url = "{redis_server.url}" }}\n'
    )
    key = "seal-" + secrets.token_urlsafe(24)
    env = {"BEARER_DOUBLE_SECRET": double.client_secret, "BROKERAUTH_PROFILES": str(profiles),
           "SEAL_KEY": key}
    login = run("login", "laptop", env=env)
    assert login.returncode == 0, login.stderr
    laptop = json.loads((tmp_path / "tokens" / "laptop" / "default.json").read_text())

    made = run("export", "laptop", "--key-env", "SEAL_KEY", env=env)
    assert made.returncode == 0, made.stderr
    imported = run("import", "-", "--profile", "fleet", "--key-env", "SEAL_KEY", env=env,
                   stdin=made.stdout)
    assert imported.returncode == 0, imported.stderr
    assert "(store 'redis')" in imported.stdout
    for secret in (key, laptop["access_token"], laptop["refresh_token"]):
        assert secret not in made.stderr + imported.stdout + imported.stderr

    monkeypatch.setenv("BEARER_DOUBLE_SECRET", double.client_secret)
    in_redis = open_binding("fleet", profiles=profiles, host=host).load()
    assert in_redis is not None
    assert in_redis.access_token == laptop["access_token"]
    with session("fleet", profiles=profiles, host=host) as fleet:
        assert fleet.get("/api/me").json() == {"generation": 1}
        assert double.seen_tokens[-1] == laptop["access_token"]
        # Where it runs now, it keeps itself alive: the rotated token is written to Redis.
        double.expire_access_tokens()
        assert fleet.get("/api/me").json() == {"generation": 2}
    renewed = open_binding("fleet", profiles=profiles, host=host).load()
    assert renewed is not None
    assert renewed.refresh_token not in (None, laptop["refresh_token"])
    assert double.family_valid(renewed.refresh_token)
    assert double.refresh_calls == 1
