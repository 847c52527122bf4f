"""``brokerauth users --expiring`` and :func:`brokerauth.users` pick exactly the identities whose
credential ends inside the window — by each kind of end — among many, on the file store, as a
platform's operator runs it (a separate process) and as its code calls it. Listing reads each
token offline: nothing is sent to the broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import brokerauth
import tomli_w
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.contract.tokens import Token
from brokerauth.engine import failures
from brokerauth.engine.api import open_binding
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.emulators import profile_table

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
MANY = 300


def _token(kind: str, now: datetime) -> Token:
    """A token of ``kind``: which end, if any, falls inside a 3-day window."""
    base = Token(access_token=f"at-{kind}", broker="double", issued_at=now - timedelta(days=1),
                 expires_at=now + timedelta(hours=1), refresh_token="rt",
                 refresh_expires_at=now + timedelta(days=30))
    if kind == "refresh":  # its refresh token ends in 2 days
        return base.replace(refresh_expires_at=now + timedelta(days=2))
    if kind == "hard":  # its authorization ends in 2 days, whatever is refreshed
        return base.replace(hard_expires_at=now + timedelta(days=2))
    if kind == "idle":  # unused for 14 of its 15 days
        return base.replace(refresh_token=None, idle_timeout=15 * 86400,
                            last_used_at=now - timedelta(days=14), expires_at=now)
    if kind == "dead":  # the broker refused its refresh
        return failures.record(base, LoginRequiredError("refused"), now)
    return base


def _kind(n: int) -> str:
    return {7: "refresh", 17: "hard", 27: "idle", 37: "dead"}.get(n % 50, "fine")


def test_the_expiring_identities_among_many(
    double: Any, token_home: Path, tmp_path: Path, plugin_host: PluginHost,
) -> None:
    profile = Profile.from_mapping("platform", {"broker": "double",
                                                **double.profile_settings()})
    now = datetime.now(UTC)
    binding = open_binding(profile, host=plugin_host, interactive=False)
    for n in range(MANY):
        binding.for_identity(f"user-{n:04d}").save(_token(_kind(n), now))
    expected = sorted(f"user-{n:04d}" for n in range(MANY) if _kind(n) != "fine")

    found = list(brokerauth.users(profile, expiring=timedelta(days=3), host=plugin_host))
    assert [g.identity for g in found] == expected
    states = {g.identity: g for g in found}
    assert all(states[f"user-{n:04d}"].needs_person for n in range(MANY) if _kind(n) == "dead")
    assert len(list(brokerauth.users(profile, host=plugin_host))) == MANY

    table, env = profile_table("double", double.profile_settings(), "DOUBLE_")
    path = tmp_path / "brokerauth.toml"
    path.write_text(tomli_w.dumps({"profiles": {"platform": table}}), encoding="utf-8")
    result = subprocess.run(
        [BROKERAUTH, "--profiles", str(path), "users", "platform", "--expiring", "3d", "--json"],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, **env})
    assert result.returncode == 3, result.stderr  # some need a person
    listed = json.loads(result.stdout)["users"]
    assert [u["identity"] for u in listed] == expected
    assert {u["login_command"] for u in listed if u["needs_person"]} == {
        f"brokerauth login platform --user user-{n:04d}" for n in range(MANY) if _kind(n) == "dead"}
    assert double.requests == [] if hasattr(double, "requests") else True
    assert "at-" not in result.stdout + result.stderr  # no token in the listing
