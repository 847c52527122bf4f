"""A planted or loose profiles file is refused, and never gets the user's stored token
(QUALITY item 27)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.errors import ProfileError
from brokerauth.engine.profiles import check_profiles_file, load_profiles
from brokerauth_sandbox.server import RecordingServer
from test_cli import run

OTHER_UID = 4242


def _profile(base_url: str, client_id: str) -> str:
    return ("[profiles.live]\n"
            'broker = "double"\n'
            f'base_url = "{base_url}"\n'
            f'client_id = "{client_id}"\n'
            'client_secret = { env = "DOUBLE_LIVE_SECRET" }\n')


@pytest.fixture
def user(sandbox_factory: Any, token_home: Path, tmp_path: Path) -> dict[str, Any]:
    """A user whose own profile (in the user config folder) has logged in."""
    double = sandbox_factory("double", clock=SystemClock())
    config = tmp_path / "config"
    (config / "brokerauth").mkdir(parents=True)
    (config / "brokerauth" / "profiles.toml").write_text(
        _profile(double.base_url, double.client_id))
    env = {"DOUBLE_LIVE_SECRET": double.client_secret, "XDG_CONFIG_HOME": str(config),
           "BROKERAUTH_PROFILES": ""}
    assert run("login", "live", env=env).returncode == 0
    shared = tmp_path / "shared"
    shared.mkdir()
    return {"double": double, "env": env, "shared": shared, "config": config}


@pytest.fixture
def recorder() -> Any:
    with RecordingServer() as server:
        yield server


@pytest.mark.parametrize("planted", ["world-writable", "other user"])
def test_a_planted_profiles_file_is_refused_and_gets_no_token(
    user: dict[str, Any], recorder: RecordingServer, planted: str
) -> None:
    path = user["shared"] / "brokerauth.toml"
    path.write_text(_profile(recorder.base_url, user["double"].client_id))
    if planted == "world-writable":
        path.chmod(0o666)
    else:
        os.chown(path, OTHER_UID, OTHER_UID)
    result = run("request", "live", "GET", "/api/me", env=user["env"], cwd=user["shared"])
    assert result.returncode == 2, result.stderr
    assert str(path) in result.stderr
    assert ("chmod go-w" if planted == "world-writable" else "owned by another user") in (
        result.stderr)
    assert recorder.seen == []


def test_a_file_in_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    path = folder / "brokerauth.toml"
    path.write_text('[profiles.x]\nbroker = "double"\n')
    with pytest.raises(ProfileError, match="can write to"):
        load_profiles(path)
    folder.chmod(0o1777)  # sticky, like /tmp: others cannot replace our file
    assert "x" in load_profiles(path)


def test_the_users_own_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text('[profiles.x]\nbroker = "double"\n')
    path.chmod(0o644)
    check_profiles_file(path)
    path.chmod(0o600)
    assert "x" in load_profiles(path)


def test_a_profile_defined_twice_says_which_file_is_used(user: dict[str, Any]) -> None:
    local = user["shared"] / "brokerauth.toml"
    local.write_text(_profile(user["double"].base_url, user["double"].client_id))
    result = run("profiles", "--json", env=user["env"], cwd=user["shared"])
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["profiles"]
    assert row["file"] == str(local)
    assert row["also_in"] == [str(user["config"] / "brokerauth" / "profiles.toml")]
    shown = run("profiles", env=user["env"], cwd=user["shared"])
    assert "also defined, not used, in" in shown.stdout
    status = run("status", env=user["env"], cwd=user["shared"])
    assert f"profiles from {local}" in status.stdout


def test_a_file_reached_twice_is_named_once_among_the_others(user: dict[str, Any]) -> None:
    """$BROKERAUTH_PROFILES naming ./brokerauth.toml, with --profiles naming a third file:
    the shadowed file is one file, named once."""
    local = user["shared"] / "brokerauth.toml"
    local.write_text(_profile(user["double"].base_url, user["double"].client_id))
    chosen = user["shared"] / "chosen.toml"
    chosen.write_text(_profile(user["double"].base_url, user["double"].client_id))
    env = {**user["env"], "BROKERAUTH_PROFILES": str(local)}
    result = run("--profiles", str(chosen), "profiles", "--json", env=env, cwd=user["shared"])
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["profiles"]
    assert row["also_in"] == [str(local), str(user["config"] / "brokerauth" / "profiles.toml")]


def test_a_folder_given_as_the_profiles_file_is_named_as_one(tmp_path: Path) -> None:
    result = run("--profiles", str(tmp_path), "profiles", env={"BROKERAUTH_PROFILES": ""})
    assert result.returncode == 2
    assert "is a folder" in result.stderr
    assert f"fix: name the file in it, e.g. {tmp_path / 'brokerauth.toml'}" in result.stderr


def test_a_token_folder_that_cannot_be_made_says_what_to_do(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    double = sandbox_factory("double", clock=SystemClock())
    path = tmp_path / "profiles.toml"
    path.write_text(_profile(double.base_url, double.client_id))
    path.chmod(0o600)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    # A file where a folder should be, and a folder no one may make one in (even root).
    for home in (blocked / "home", Path("/proc/brokerauth-test-home")):
        if not home.parent.exists():
            continue
        env = {"DOUBLE_LIVE_SECRET": double.client_secret, "BROKERAUTH_PROFILES": str(path),
               "BROKERAUTH_HOME": str(home)}
        result = run("login", "live", env=env)
        assert result.returncode == 2, result.stderr
        assert "cannot " in result.stderr
        assert "fix: check that you may write to the folder above it" in result.stderr


@pytest.mark.parametrize(("content", "problem", "fix"), [
    (b'[profiles.live]\nbroker = "double"\n# caf\xe9\n', "is not UTF-8 text (line 3)",
     "save it as UTF-8"),
    # Notepad's "UTF-8": not "Invalid statement (line 1, column 1)", but what it is.
    (b'\xef\xbb\xbf[profiles.live]\nbroker = "double"\n',
     "starts with a UTF-8 byte order mark (BOM)", "sed -i '1s/^\\xEF\\xBB\\xBF//' {path}"),
    (b"profiles = 3\n", "'profiles' must be a table", "profiles live under [profiles.NAME]"),
], ids=["latin-1", "bom", "not-a-table"])
def test_a_profiles_file_that_cannot_be_read_says_what_and_how_to_fix_it(
    tmp_path: Path, content: bytes, problem: str, fix: str
) -> None:
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ProfileError) as caught:
        load_profiles(path)
    assert problem in caught.value.message
    assert fix.format(path=path) in (caught.value.hint or "")

