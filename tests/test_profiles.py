"""Profiles: lookup order, and one clear error for every mistake, before any network call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.errors import ConfigError, ProfileError
from brokerauth.engine.profiles import find_profiles_file, load_profiles, parse_profiles

GOOD = """
[profiles.double-dev]
broker = "double"
client_id = "cid"
client_secret = { env = "DOUBLE_SECRET" }
base_url = "http://127.0.0.1:9"
refresh_advisory = 120
store = { name = "file", path = "/tmp/x" }
"""


def write(tmp_path: Path, text: str, name: str = "profiles.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def open_profile(tmp_path: Path, text: str, name: str = "p") -> Any:
    return brokerauth.session(name, profiles=write(tmp_path, text))


def test_good_profile_parses(tmp_path: Path) -> None:
    profiles = load_profiles(write(tmp_path, GOOD))
    profile = profiles.get("double-dev")
    assert profile.broker == "double"
    assert profile.options.refresh_advisory == 120.0
    assert profile.store is not None and profile.store.options == {"path": "/tmp/x"}
    assert profile.settings["client_id"] == "cid"


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BROKERAUTH_PROFILES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert find_profiles_file() is None
    user = tmp_path / "cfg" / "brokerauth" / "profiles.toml"
    user.parent.mkdir(parents=True)
    user.write_text(GOOD)
    assert find_profiles_file() == user
    local = write(tmp_path, GOOD, "brokerauth.toml")
    assert find_profiles_file() == local
    env = write(tmp_path, GOOD, "env.toml")
    monkeypatch.setenv("BROKERAUTH_PROFILES", str(env))
    assert find_profiles_file() == env
    explicit = write(tmp_path, GOOD, "explicit.toml")
    assert find_profiles_file(explicit) == explicit


def test_named_file_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        find_profiles_file(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\nclient_secret = { env = "S" }\n'
         'colour = "red"\n', "colour", "unknown key"),
        ('[profiles.p]\nbroker = "double"\nclient_id = 3\nclient_secret = { env = "S" }\n',
         "client_id", "wrong type"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\nclient_secret = "hunter2"\n',
         "client_secret", "secret reference"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\nclient_secret = { enV = "S" }\n',
         "client_secret", "unknown key 'enV'; did you mean 'env'?"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\n'
         'client_secret = { hunter2-literal-secret-value = "S" }\n',
         "client_secret", "must be a secret reference"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\n'
         'client_secret = { hunter2LiteralKey = "S" }\n',
         "client_secret", "must be a secret reference"),
        ('[profiles.p]\nbroker = "double"\nclient_secret = { env = "S" }\n',
         "client_id", "required"),
        ('[profiles.p]\nbroker = "nobroker"\n', "broker", "no installed plugin provides broker"),
        ('[profiles.p]\nclient_id = "c"\n', "broker", "has no broker"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\nclient_secret = { env = "S" }\n'
         'store = "vault"\n', "store", "no installed plugin provides a store strategy"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\nclient_secret = { env = "S" }\n'
         'store = { name = "file", colour = 1 }\n', "store.colour", "unknown key"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\nclient_secret = { env = "S" }\n'
         'store = { name = "memory", path = "x" }\n', "store", "takes no options"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\nclient_secret = { env = "S" }\n'
         'timeout = "soon"\n', "timeout", "must be a number"),
        ('[profiles.p]\nbroker = "double"\nclient_id = "c"\nclient_secret = { env = "S" }\n'
         'signer = 5\n', "signer", "strategy name"),
    ],
)
def test_profile_mistakes_name_file_profile_key_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, key: str, words: str
) -> None:
    monkeypatch.setenv("S", "secret-value")
    with pytest.raises(ProfileError) as info:
        open_profile(tmp_path, text)
    error = info.value
    message = str(error)
    assert error.key == key
    assert error.profile == "p"
    assert error.file is not None and error.file.endswith("profiles.toml")
    assert words in message
    assert "fix:" in message
    assert "secret-value" not in message and "hunter2" not in message


# Unset, or set but empty (`export X=`, `X="$(cat missing-file)"`): "not set" for the
# latter would send the person to a variable that is there.
@pytest.mark.parametrize(("value", "words", "fix"), [
    (None, "DOUBLE_SECRET_X is not set", "export DOUBLE_SECRET_X"),
    ("", "DOUBLE_SECRET_X is set but empty", "give DOUBLE_SECRET_X the secret's value"),
    ("  ", "DOUBLE_SECRET_X is set but empty", "give DOUBLE_SECRET_X the secret's value"),
], ids=["unset", "empty", "blank"])
def test_a_missing_secret_variable_is_reported_before_any_request(
    value: str | None, words: str, fix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("DOUBLE_SECRET_X", raising=False)
    else:
        monkeypatch.setenv("DOUBLE_SECRET_X", value)
    text = ('[profiles.p]\nbroker = "double"\nclient_id = "c"\n'
            'client_secret = { env = "DOUBLE_SECRET_X" }\nbase_url = "http://127.0.0.1:9"\n')
    with pytest.raises(ProfileError) as info:
        open_profile(tmp_path, text)
    assert info.value.key == "client_secret"
    assert words in str(info.value)
    assert fix in str(info.value)


def test_every_missing_secret_of_a_profile_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixing one only to be told of the next wastes a run (a deploy, a cron slot)."""
    for name in ("DOUBLE_SECRET_X", "DOUBLE_STORE_KEY"):
        monkeypatch.delenv(name, raising=False)
    text = ('[profiles.p]\nbroker = "double"\nclient_id = "c"\n'
            'client_secret = { env = "DOUBLE_SECRET_X" }\nbase_url = "http://127.0.0.1:9"\n'
            'store = { name = "file", encryption_key = { env = "DOUBLE_STORE_KEY" } }\n')
    with pytest.raises(ProfileError) as info:
        open_profile(tmp_path, text)
    assert info.value.key == "client_secret"
    message = str(info.value)
    assert "DOUBLE_SECRET_X is not set" in message
    assert "key 'store.encryption_key': environment variable DOUBLE_STORE_KEY is not set" in (
        message)
    assert "export DOUBLE_SECRET_X" in message and "export DOUBLE_STORE_KEY" in message


def test_unreadable_secret_file(tmp_path: Path) -> None:
    text = ('[profiles.p]\nbroker = "double"\nclient_id = "c"\n'
            f'client_secret = {{ file = "{tmp_path}/missing" }}\n')
    with pytest.raises(ProfileError, match="cannot be read") as info:
        open_profile(tmp_path, text)
    assert info.value.key == "client_secret"


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as info:
        open_profile(tmp_path, '[profiles.p]\nbroker = "double\n')
    assert "is not valid TOML" in str(info.value)
    assert "line 2" in str(info.value)
    assert info.value.file and info.value.file.endswith("profiles.toml")


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no profile named 'nope'.*double-dev"):
        brokerauth.session("nope", profiles=write(tmp_path, GOOD))


def test_unknown_top_level_table(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="unknown top-level"):
        parse_profiles("[profile.p]\nbroker='double'\n", source="x.toml")


def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "\xff\xfe garbage".encode("latin-1").decode("latin-1"))
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProfileError, match=r"is not UTF-8 text \(line 1\)"):
        load_profiles(path)


def test_a_value_refused_by_a_plugins_validator_names_its_key(tmp_path: Path) -> None:
    text = ('[profiles.p]\nbroker = "double"\nregion = "mars"\nclient_id = "c"\n'
            'client_secret = { env = "S" }\n')
    with pytest.raises(ProfileError) as info:
        open_profile(tmp_path, text)
    assert info.value.key == "region"
    assert "mars" in str(info.value)
    assert "hk" in str(info.value)  # the valid names are listed
