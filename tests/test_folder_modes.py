"""Loose folder modes are refused (QUALITY 31): a token folder or root others can write, and
a store under a folder others could use to swap it (ssh's StrictModes: owned by the user or
root, not writable by group or others unless sticky like /tmp)."""

from __future__ import annotations

import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit import privatefiles

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners and modes")
needs_root = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0, reason="chown to another user needs root"
)

KEY = TokenKey("prod", "alice")
OTHER_UID = 4242


def make_token(n: int = 0) -> Token:
    return Token(access_token=f"canary-modes-access-{n}", broker="webull",
                 expires_at=datetime(2026, 1, 2, tzinfo=UTC),
                 refresh_token=f"canary-modes-refresh-{n}")


def store_in(folder: Path) -> FileStoreOptions:
    return FileStoreOptions(path=str(folder / "tokens"))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def refused_everywhere(options: FileStoreOptions, match: str) -> list[StoreError]:
    errors = []
    for action in (lambda: filestore.load(KEY, options),
                   lambda: filestore.save(KEY, make_token(2), options),
                   lambda: filestore.lock(KEY, options, 0).__enter__()):
        with pytest.raises(StoreError, match=match) as caught:
            action()
        errors.append(caught.value)
    return errors


def test_the_test_suites_own_tmp_path_is_accepted(tmp_path: Path):
    # Every store in this suite lives under /tmp/pytest-of-<user>/...: /tmp is 1777 and
    # root's, the rest the user's and not writable by others.
    assert mode(Path("/tmp")) & stat.S_ISVTX or not str(tmp_path).startswith("/tmp/")
    options = store_in(tmp_path)
    filestore.save(KEY, make_token(1), options)
    assert filestore.load(KEY, options) == make_token(1)


@pytest.mark.parametrize("which", ["token folder", "root"])
@pytest.mark.parametrize("loose", [0o777, 0o770, 0o707, 0o720, 0o702], ids=lambda m: f"{m:04o}")
def test_a_token_folder_or_root_others_can_write_is_refused_with_the_chmod(
    tmp_path: Path, which: str, loose: int
):
    options = store_in(tmp_path)
    filestore.save(KEY, make_token(1), options)
    folder = tmp_path / "tokens" / "prod" if which == "token folder" else tmp_path / "tokens"
    folder.chmod(loose)
    for error in refused_everywhere(options, f"token folder {folder} has mode {loose:04o}"):
        assert f"chmod 700 {folder}" in (error.hint or "")
        assert "canary-modes" not in str(error)
    assert mode(folder) == loose  # refused, not quietly tightened: the user judges
    folder.chmod(0o700)
    assert filestore.load(KEY, options) == make_token(1)


def test_a_root_under_a_world_writable_folder_is_refused(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    options = store_in(shared / "home")
    with pytest.raises(StoreError, match=f"folder {shared}, on the way to the token folder"):
        filestore.save(KEY, make_token(1), options)
    assert list(shared.iterdir()) == []  # nothing was created there
    # Made before the parent became writable, the store is refused on reading too.
    shared.chmod(0o755)
    filestore.save(KEY, make_token(1), options)
    for loose in (0o777, 0o775, 0o757):
        shared.chmod(loose)
        errors = refused_everywhere(options, f"has mode {loose:04o}: other users can rename")
        assert f"chmod go-w {shared}" in (errors[0].hint or "")
        assert "BROKERAUTH_HOME" in (errors[0].hint or "")


def test_a_root_under_a_sticky_world_writable_folder_is_accepted(tmp_path: Path):
    # Like /tmp: others may add entries there but cannot rename or remove ours.
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    options = store_in(sticky / "home")
    filestore.save(KEY, make_token(1), options)
    assert filestore.load(KEY, options) == make_token(1)


def test_any_folder_on_the_way_counts_not_only_the_parent(tmp_path: Path):
    high = tmp_path / "high"
    (high / "a" / "b").mkdir(parents=True)
    high.chmod(0o777)
    options = store_in(high / "a" / "b")
    with pytest.raises(StoreError, match=f"folder {high}, on the way"):
        filestore.save(KEY, make_token(1), options)


@needs_root
def test_a_root_under_a_folder_of_another_user_is_refused(tmp_path: Path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    options = store_in(theirs)
    filestore.save(KEY, make_token(1), options)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    for error in refused_everywhere(options, f"belongs to another user \\(uid {OTHER_UID}\\)"):
        assert str(theirs) in error.message
    os.chown(theirs, 0, 0)  # root's folders are fine: root could do anything anyway
    assert filestore.load(KEY, options) == make_token(1)


@needs_root
def test_a_link_on_the_way_made_by_another_user_is_refused(tmp_path: Path):
    real = tmp_path / "real"
    real.mkdir()
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    link = sticky / "home"
    link.symlink_to(real, target_is_directory=True)
    options = store_in(link)
    filestore.save(KEY, make_token(1), options)  # our own link: followed, like $HOME on a link
    assert filestore.load(KEY, options) == make_token(1)
    os.chown(link, OTHER_UID, OTHER_UID, follow_symlinks=False)
    refused_everywhere(options, "symbolic link owned by another user")


def test_the_folders_a_link_leads_through_are_checked(tmp_path: Path):
    loose = tmp_path / "loose"
    (loose / "real").mkdir(parents=True)
    loose.chmod(0o777)
    (tmp_path / "link").symlink_to(loose / "real", target_is_directory=True)
    with pytest.raises(StoreError, match=f"folder {loose}, on the way"):
        filestore.save(KEY, make_token(1), store_in(tmp_path / "link"))


def test_a_readable_root_is_still_tightened_on_write(tmp_path: Path):
    options = store_in(tmp_path)
    filestore.save(KEY, make_token(1), options)
    (tmp_path / "tokens").chmod(0o755)
    assert filestore.load(KEY, options) == make_token(1)  # readable: read as before
    filestore.save(KEY, make_token(2), options)
    assert mode(tmp_path / "tokens") == 0o700


def test_plugin_files_get_the_same_rule(tmp_path: Path):
    # The rule lives in privatefiles.ensure_folders, which every private file goes through.
    top = tmp_path / "plugin"
    privatefiles.ensure_folders(top, top / "sub", KEY, create=True)
    (top / "sub").chmod(0o777)
    with pytest.raises(StoreError, match="chmod 700"):
        privatefiles.ensure_folders(top, top / "sub", KEY, create=False)
