"""Listing the ``futu-file`` store's logins for a profile (``tokenfile.list_keys``): the default
identity through its login pointer to the SDK's file, other identities through their
core-format files, each once, as a load would read it, and nothing of another profile."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import DEFAULT_IDENTITY, Token, TokenKey
from brokerauth_futu import sdkformat, tokenfile
from brokerauth_futu.settings import FutuFileOptions

PROFILE = "futu-platform"
CLIENT = "72d9caaf-0bd4-4000-85a7-8c7978c74544"
OTHER_CLIENT = "0f0e0d0c-0b0a-4000-8a09-080706050403"
EXPIRES = datetime(2030, 3, 12, 11, 7, 1, tzinfo=UTC)
UNUSUAL = ["Alice", "alice", "a/b", "..", ".hidden", "日本語", "%41", "x.json.client", "CON"]


def oauth_token(identity: str = DEFAULT_IDENTITY, client_id: str = CLIENT, **changes: Any) -> Token:
    values: dict[str, Any] = {"access_token": "acc-1", "refresh_token": "ref-1",
                              "expires_at": EXPIRES, "client_id": client_id,
                              "identity": identity}
    values.update(changes)
    return sdkformat.oauth_token(**values)


@pytest.fixture
def options(tmp_path: Path) -> FutuFileOptions:
    return FutuFileOptions(path=str(tmp_path / "tokens"))


def listed(options: FutuFileOptions, profile: str = PROFILE) -> list[str]:
    keys = list(tokenfile.list_keys(profile, options))
    assert {key.profile for key in keys} <= {profile}
    identities = [key.identity for key in keys]
    assert len(identities) == len(set(identities)), "an identity listed twice"
    return sorted(identities)


def save(options: FutuFileOptions, identity: str, profile: str = PROFILE,
         client_id: str = CLIENT) -> None:
    tokenfile.save(TokenKey(profile, identity), oauth_token(identity, client_id), options)


def test_the_default_login_in_the_sdks_file_and_others_in_core_format(
    options: FutuFileOptions,
) -> None:
    save(options, DEFAULT_IDENTITY)
    for identity in UNUSUAL:
        save(options, identity)
    top = tokenfile.folder(options)
    assert (top / CLIENT).is_file()  # the default identity's login is the SDK's
    assert listed(options) == sorted([DEFAULT_IDENTITY, *UNUSUAL])
    for identity in listed(options):
        assert tokenfile.load(TokenKey(PROFILE, identity), options) is not None


def test_an_api_key_token_of_the_default_identity_is_listed(options: FutuFileOptions) -> None:
    token = Token(access_token="legacy-key-token", broker="futu", expires_at=EXPIRES,
                  extra={sdkformat.EXTRA_MODE: "api_key"})
    tokenfile.save(TokenKey(PROFILE), token, options)
    assert listed(options) == [DEFAULT_IDENTITY]


def test_other_profiles_are_not_listed(options: FutuFileOptions) -> None:
    save(options, DEFAULT_IDENTITY)
    save(options, "alice")
    for other in ("futu-Platform", "futu-platform2", "futu"):
        save(options, DEFAULT_IDENTITY, profile=other, client_id=OTHER_CLIENT)
        save(options, f"bob-of-{other}", profile=other)
    assert listed(options) == ["alice", DEFAULT_IDENTITY]
    assert listed(options, "futu") == ["bob-of-futu", DEFAULT_IDENTITY]


def test_a_pointer_to_an_sdk_file_that_is_gone_is_not_a_login(options: FutuFileOptions) -> None:
    save(options, DEFAULT_IDENTITY)
    save(options, "alice")
    (tokenfile.folder(options) / CLIENT).unlink()  # the SDK logged out
    assert listed(options) == ["alice"]
    assert tokenfile.load(TokenKey(PROFILE), options) is None


def test_a_damaged_pointer_is_still_listed(options: FutuFileOptions) -> None:
    save(options, DEFAULT_IDENTITY)
    pointer = tokenfile._pointer_path(tokenfile.folder(options), TokenKey(PROFILE))
    pointer.write_bytes(b"{not json")
    assert listed(options) == [DEFAULT_IDENTITY]
    with pytest.raises(StoreError, match="damaged"):
        tokenfile.load(TokenKey(PROFILE), options)


def test_locks_temp_files_and_links_are_not_listed(options: FutuFileOptions,
                                                   tmp_path: Path) -> None:
    save(options, DEFAULT_IDENTITY)
    save(options, "alice")
    save(options, "victim", profile="other")
    records = tokenfile.folder(options) / tokenfile.RECORDS
    folder = tokenfile._pointer_path(tokenfile.folder(options), TokenKey(PROFILE)).parent
    with tokenfile.lock(TokenKey(PROFILE, "alice"), options, timeout=1.0) as held:
        assert held
        with tokenfile.lock(TokenKey(PROFILE), options, timeout=1.0) as also:
            assert also
            (folder / ".bob.json.0123456789abcdef0123456789abcdef.tmp").write_bytes(b"{}")
            (folder / ".carol.json.client.0123456789abcdef0123456789abcdef.tmp").write_bytes(
                b"{}")
            victim = tokenfile._pointer_path(tokenfile.folder(options), TokenKey("other"))
            os.symlink(records / "other" / "victim.json", folder / "victim.json")
            os.symlink(victim, folder / "mallory.json.client")
            assert listed(options) == ["alice", DEFAULT_IDENTITY]
    assert (records / tokenfile.LOCKS / f"{CLIENT}.lock").exists()


def test_a_linked_profile_folder_is_refused(options: FutuFileOptions) -> None:
    save(options, "victim", profile="other")
    records = tokenfile.folder(options) / tokenfile.RECORDS
    os.symlink(records / "other", records / PROFILE, target_is_directory=True)
    with pytest.raises(StoreError, match="link"):
        listed(options)


def test_nothing_stored_lists_nothing(options: FutuFileOptions) -> None:
    assert listed(options) == []
