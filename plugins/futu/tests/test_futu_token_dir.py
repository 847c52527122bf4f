"""A profile's ``token_dir`` is where everything of its logins goes: the SDK's token files,
this plugin's records and registrations.  Setting it alone (no ``store = {..., path}``) must
not leave anything under ``~/.futu``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from brokerauth_futu.sandbox.server import FutuSandbox


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A token_dir of the profile's own, with ``$FUTU_TOKEN_DIR`` unset, so the SDK's
    default folder under the (test's) home is what a mistake would write to."""
    monkeypatch.delenv("FUTU_TOKEN_DIR")
    return tmp_path / "profile-tokens"


def _profile_keys(sandbox: FutuSandbox, folder: Path) -> dict[str, Any]:
    sandbox.token_dir = None  # the sandbox's profile then names neither folder nor store
    assert "store" not in sandbox.profile_settings()
    return {"token_dir": str(folder)}


def test_api_key_tokens_go_to_the_profiles_token_dir(
    sandbox: FutuSandbox, open_futu: Any, elsewhere: Path, tmp_path: Path
) -> None:
    session = open_futu(sandbox, **_profile_keys(sandbox, elsewhere))
    assert session.get("/v1/account/info").ok
    assert session.binding.load() is not None
    assert _files(tmp_path / "home") == []
    assert "default.json" in {p.name for p in _files(elsewhere)}


def test_oauth_logins_go_to_the_profiles_token_dir(
    oauth_sandbox: FutuSandbox, open_futu: Any, elsewhere: Path, tmp_path: Path
) -> None:
    session = open_futu(oauth_sandbox, **_profile_keys(oauth_sandbox, elsewhere))
    assert session.get("/v1/account/info").ok
    [client_id] = oauth_sandbox.clients()
    assert _files(tmp_path / "home") == []
    names = {p.name for p in _files(elsewhere)}
    assert {client_id, "default.json.client"} <= names, names


def test_a_store_path_of_its_own_wins_for_the_token_files(
    sandbox: FutuSandbox, open_futu: Any, elsewhere: Path, tmp_path: Path
) -> None:
    own = tmp_path / "store-path"
    keys = {**_profile_keys(sandbox, elsewhere), "store": {"name": "futu-file", "path": str(own)}}
    session = open_futu(sandbox, **keys)
    assert session.get("/v1/account/info").ok
    assert "default.json" in {p.name for p in _files(own)}
    assert _files(elsewhere) == []
    assert _files(tmp_path / "home") == []
