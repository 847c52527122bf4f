"""The commands hints name act on the profile and user they are about, and stay one
harmless command whatever a name holds (each name is shell-quoted)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.contract.commands import command, for_key
from brokerauth.contract.errors import BrokerAuthError
from brokerauth.contract.tokens import TokenKey

ODD_NAMES = ["alice", "a b", "x;touch pwned", "$(id)", "`id`", "o'hara", "-rf", "ü@example.com"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_a_named_user_is_one_word_to_a_shell(name: str, tmp_path: Path) -> None:
    line = command("logout", "live", name)
    # What a POSIX shell makes of the pasted hint (with printf standing in for brokerauth):
    # exactly these words, and nothing run.
    words = subprocess.run(["sh", "-c", "printf '%s\\n' " + line.removeprefix("brokerauth ")],
                           capture_output=True, text=True, check=True, cwd=tmp_path,
                           timeout=10).stdout.splitlines()
    assert words == ["logout", "live", "--user", name]
    assert os.listdir(tmp_path) == []  # nothing ran


@pytest.mark.parametrize("name", [*ODD_NAMES, "plain-name_2.x@corp", "", "a:b,c=d+e%f/g"])
def test_names_are_quoted_as_shlex_quotes_them(name: str) -> None:
    import shlex

    assert command("login", name, name) == (
        f"brokerauth login {shlex.quote(name)} --user {shlex.quote(name)}")


def test_plain_names_are_left_as_they_are() -> None:
    assert command("login", "live") == "brokerauth login live"
    assert command("login", "live", "bob-2.x_y@corp") == (
        "brokerauth login live --user bob-2.x_y@corp")
    assert for_key("logout", TokenKey("p", "default")) == "brokerauth logout p --user default"


@pytest.mark.parametrize("damage", ["garbage", "sealed"])
def test_a_damaged_entry_of_a_named_user_names_that_user(tmp_path: Path, damage: str) -> None:
    # Following a hint that names the profile only would log out (and revoke) the profile's
    # own user, and leave the damaged entry where it is.
    options = FileStoreOptions(path=str(tmp_path))
    key = TokenKey("desk", "alice")
    path = filestore.token_path(key, options)
    path.parent.mkdir(parents=True, exist_ok=True)
    sealed = b"fernet2:" + b"not-a-real-envelope." * 4
    path.write_bytes(b"{not json" if damage == "garbage" else sealed)
    with pytest.raises(BrokerAuthError) as caught:
        filestore.load(key, options)
    assert "`brokerauth logout desk --user alice`" in (caught.value.hint or "")


@pytest.mark.parametrize("user", [None, "alice"])
def test_a_refused_refresh_token_names_the_user_to_log_in(
    double: Any, session_factory: Any, manual_clock: Any, user: str | None
) -> None:
    session = session_factory(double, user=user)
    assert session.get("/api/me").status == 200
    double.kill_refresh_tokens()
    manual_clock.advance(double.token_lifetime + 1)
    expected = "brokerauth login test" + ("" if user is None else f" --user {user}")
    for _ in range(2):  # the caller that refreshed, then one that shares its outcome
        with pytest.raises(BrokerAuthError) as caught:
            session.get("/api/me")
        assert f"`{expected}`" in (caught.value.hint or "")
    assert double.invalid_grants == 1
