"""The ``futu-file`` store: the SDK's path and format, 0600 whatever the umask, atomic writes
under a lock, links refused, and files interchangeable with the Futu SDK both ways."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth_futu import sdkformat, tokenfile
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_futu.settings import FutuFileOptions
from futu_helpers import mode_of, read_json

CLIENT = "72d9caaf-0bd4-4000-85a7-8c7978c74544"
KEY = TokenKey("futu-test")
EXPIRES = datetime(2026, 3, 12, 11, 7, 1, tzinfo=UTC)


def oauth_token(**changes: Any) -> Token:
    values: dict[str, Any] = {"access_token": "acc-1", "refresh_token": "ref-1",
                              "expires_at": EXPIRES, "client_id": CLIENT, "identity": "default"}
    values.update(changes)
    return sdkformat.oauth_token(**values)


def sdk_file(folder: Path, client_id: str, document: dict[str, Any], mode: int = 0o600) -> Path:
    """Write a token file the way the Futu SDK does: plain JSON, the umask's mode."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / client_id
    path.write_text(json.dumps(document), encoding="utf-8")
    path.chmod(mode)
    return path


def test_default_folder_is_the_sdks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FUTU_TOKEN_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "someone"))
    assert tokenfile.folder() == tmp_path / "someone" / ".futu" / "openapi" / "tokens"
    assert tokenfile.sdk_token_path(CLIENT) == tokenfile.folder() / CLIENT


def test_folder_overrides(futu_tokens: Path, tmp_path: Path) -> None:
    assert tokenfile.folder() == futu_tokens  # $FUTU_TOKEN_DIR
    assert tokenfile.folder(FutuFileOptions(path=str(tmp_path / "x"))) == tmp_path / "x"


def test_written_in_the_sdk_format_with_mode_0600_under_umask_000(futu_tokens: Path) -> None:
    old = os.umask(0)
    try:
        tokenfile.save(KEY, oauth_token())
    finally:
        os.umask(old)
    path = futu_tokens / CLIENT
    assert read_json(path) == {
        "client_id": CLIENT, "access_token": "acc-1", "refresh_token": "ref-1",
        "expires_at": int(EXPIRES.timestamp()),
    }
    assert isinstance(read_json(path)["expires_at"], int)
    assert mode_of(path) == 0o600
    for folder in (futu_tokens, futu_tokens / ".brokerauth", futu_tokens / ".brokerauth" /
                   "futu-test"):
        assert mode_of(folder) == 0o700
    for found in futu_tokens.rglob("*"):
        if found.is_file():
            assert mode_of(found) == 0o600, found
    assert not [p for p in futu_tokens.iterdir() if p.name.endswith(".tmp")]


def test_round_trip_and_a_null_refresh_token(futu_tokens: Path) -> None:
    token = oauth_token(refresh_token=None)
    tokenfile.save(KEY, token)
    assert read_json(futu_tokens / CLIENT)["refresh_token"] is None
    assert tokenfile.load(KEY) == token


def test_a_file_the_sdk_wrote_is_adopted_by_a_login(
    sandbox: FutuSandbox, open_futu: Any, futu_tokens: Path, port: int
) -> None:
    # The SDK logged in earlier (its file, mode 0644 as its umask made it); brokerauth then
    # uses that login without a browser, refreshes it, and writes back in the same format.
    sandbox.profile_mode = "oauth"
    sandbox.profile_redirect_uri = f"http://127.0.0.1:{port}/callback"
    client_id = sandbox.register_client([sandbox.profile_redirect_uri])
    issued = sandbox.issue_tokens(client_id)
    path = sdk_file(futu_tokens, client_id, issued, mode=0o644)
    session = open_futu(sandbox, client_id=client_id)
    assert session.get("/v1/quote/snapshot").ok
    assert sandbox.stats["authorize"] == 0
    assert session.token.access_token == issued["access_token"]
    assert mode_of(path) == 0o600  # tightened once, with a warning
    session.refresh()
    written = read_json(path)
    assert set(written) == {"client_id", "access_token", "refresh_token", "expires_at"}
    assert written["access_token"] == session.token.access_token != issued["access_token"]
    assert written["client_id"] == client_id


def test_sdk_files_are_read_as_the_sdk_writes_them(futu_tokens: Path) -> None:
    tokenfile.save(KEY, oauth_token(access_token="old"))  # the pointer now names CLIENT
    # The SDK refreshed meanwhile and rewrote the file, with a float and an extra field.
    sdk_file(futu_tokens, CLIENT, {"client_id": CLIENT, "access_token": "new",
                                   "refresh_token": None, "expires_at": 1773314821.0,
                                   "scope": "quote"})
    loaded = tokenfile.load(KEY)
    assert loaded is not None
    assert loaded.access_token == "new"
    assert loaded.refresh_token is None
    assert loaded.expires_at == datetime.fromtimestamp(1773314821, UTC)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"client_id": "other", "access_token": "a", "expires_at": 1}', "another client id"),
        (f'{{"client_id": "{CLIENT}", "expires_at": 1}}', "access_token"),
        (f'{{"client_id": "{CLIENT}", "access_token": "a", "expires_at": "soon"}}',
         "expires_at"),
        (f'{{"client_id": "{CLIENT}", "access_token": "a", "access_token": "b", '
         '"expires_at": 1}', "twice"),
        ("", "empty"),
    ],
)
def test_damaged_files_are_a_clear_error_quoting_nothing(
    futu_tokens: Path, document: str, problem: str
) -> None:
    tokenfile.save(KEY, oauth_token(access_token="secret-value-xyz"))
    (futu_tokens / CLIENT).write_text(document, encoding="utf-8")
    with pytest.raises(CorruptStoreError) as info:
        tokenfile.load(KEY)
    text = str(info.value)
    assert problem in text
    assert str(futu_tokens / CLIENT) in text
    assert "delete" in text
    assert "secret-value" not in text


def test_links_are_refused_never_followed(futu_tokens: Path, tmp_path: Path) -> None:
    tokenfile.save(KEY, oauth_token())
    target = tmp_path / "elsewhere"
    target.write_text("{}", encoding="utf-8")
    path = futu_tokens / CLIENT
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        tokenfile.load(KEY)
    with pytest.raises(StoreError, match="symbolic link"):
        tokenfile.save(KEY, oauth_token())
    assert target.read_text(encoding="utf-8") == "{}"
    # Logging out removes the link itself (the way out), not its target.
    assert tokenfile.delete(KEY)
    assert target.exists()
    assert not os.path.lexists(path)


def test_a_linked_token_folder_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(StoreError, match="symbolic link"):
        tokenfile.save(KEY, oauth_token(), FutuFileOptions(path=str(link)))
    assert list(real.iterdir()) == []


def test_a_file_others_can_write_is_refused(futu_tokens: Path) -> None:
    tokenfile.save(KEY, oauth_token())
    (futu_tokens / CLIENT).chmod(0o666)
    with pytest.raises(StoreError, match="mode 0666"):
        tokenfile.load(KEY)


def test_delete_removes_file_pointer_and_leftovers(futu_tokens: Path) -> None:
    tokenfile.save(KEY, oauth_token())
    leftover = futu_tokens / f".{CLIENT}.{'0' * 32}.tmp"
    leftover.write_text("partial", encoding="utf-8")
    assert tokenfile.delete(KEY) is True
    assert not (futu_tokens / CLIENT).exists()
    assert not leftover.exists()
    assert tokenfile.load(KEY) is None
    assert tokenfile.delete(KEY) is False


def test_other_identities_and_api_key_tokens_use_the_core_format(futu_tokens: Path) -> None:
    # The SDK's file holds one login per client id: other identities are kept beside it.
    bob = TokenKey("futu-test", "bob")
    tokenfile.save(bob, oauth_token(identity="bob"))
    assert not (futu_tokens / CLIENT).exists()
    assert tokenfile.load(bob) == oauth_token(identity="bob")
    legacy = Token(access_token="legacy", broker="futu", extra={"mode": "api_key"})
    tokenfile.save(KEY, legacy)
    stored = futu_tokens / ".brokerauth" / "futu-test" / "default.json"
    assert read_json(stored)["version"] == 1
    assert mode_of(stored) == 0o600
    assert tokenfile.load(KEY) == legacy
    # Switching the same key to an OAuth login clears the other place, and back.
    tokenfile.save(KEY, oauth_token())
    assert not stored.exists()
    assert tokenfile.load(KEY) == oauth_token()
    tokenfile.save(KEY, legacy)
    assert tokenfile.load(KEY) == legacy


def test_client_ids_cannot_escape_the_folder(futu_tokens: Path) -> None:
    evil = oauth_token(client_id="../../etc/x")
    assert not sdkformat.fits_sdk_file(evil)
    tokenfile.save(KEY, evil)  # kept in the core's format, under the profile's own folder
    assert not (futu_tokens.parent.parent / "etc").exists()
    with pytest.raises(StoreError, match="client id"):
        tokenfile.sdk_token_path("../x")


def test_lock_is_per_client_and_excludes_other_holders(futu_tokens: Path) -> None:
    tokenfile.save(KEY, oauth_token())
    other_profile = TokenKey("another-profile")
    tokenfile.save(other_profile, oauth_token())  # same client: same file, same lock
    entered = threading.Event()
    with tokenfile.lock(KEY, timeout=1) as held:
        assert held
        assert (futu_tokens / ".brokerauth" / "@locks" / f"{CLIENT}.lock").exists()

        def other() -> None:
            with tokenfile.lock(other_profile, timeout=0) as got:
                if not got:
                    entered.set()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert entered.is_set()
    with tokenfile.lock(other_profile, timeout=0) as got:
        assert got
