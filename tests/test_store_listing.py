"""Listing what a store keeps for a profile (``list_tokens``, the grant registry's store side):
the ``file`` and ``memory`` stores, and :func:`brokerauth.engine.registry.stored_keys`.

Names come back exactly (the file store decodes file names, so decoding must be the inverse of
its mapping, case variants and the names of before included); nothing but a profile's own
token files is ever listed (not a temp file, a lock, a budget, a link, another profile's
token); an entry that cannot be read is still listed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.builtin.plugin import BuiltinPlugin
from brokerauth.contract.errors import CorruptStoreError, PluginError, StoreError
from brokerauth.contract.hookspecs import hookimpl
from brokerauth.contract.specs import PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.engine.api import open_binding
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.registry import UnlistableStoreError, stored_keys
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.tokencodec import encode_token
from fake_entry_points import FakeDistribution, FakeEntryPoint

PROFILE = "platform"
#: Enough to show the listing holds up at a platform's scale; 10,000 are listed in the
#: benchmark (bench/registry.py), since each save here fsyncs a file and a folder (~1 ms).
MANY = 2_000

UNUSUAL = [
    "Alice", "alice", "ALICE", "aLiCe", "a.b", "a..b", ".", "..", ".hidden", "trailing.",
    "a/b", "../escape", "a\\b", "C:\\x", "a b", "%41lice", "%", "%2E", "con", "CON", "nul.json",
    "lpt1", "x.json", "x.json.lock", ".x.json.0123456789abcdef0123456789abcdef.tmp",
    "@budget-token", "日本語", "é", "e\u0301", "ß", "SS", "İ", "\u212a", "K", "\ud800",
    "new\nline", "tab\tbed", "emoji🙂", "default",
]


def make_token(n: int = 0) -> Token:
    return Token(access_token=f"canary-listing-access-{n}", broker="double",
                 expires_at=datetime(2030, 1, 2, tzinfo=UTC))


def listed(options: FileStoreOptions, profile: str = PROFILE) -> list[str]:
    keys = list(filestore.list_keys(profile, options))
    assert all(key.profile == profile for key in keys)
    identities = [key.identity for key in keys]
    assert len(identities) == len(set(identities)), "an identity listed twice"
    return identities


@pytest.fixture
def options(tmp_path: Path) -> FileStoreOptions:
    return FileStoreOptions(path=str(tmp_path / "tokens"))


def save(options: FileStoreOptions, *identities: str, profile: str = PROFILE) -> None:
    for n, identity in enumerate(identities):
        filestore.save(TokenKey(profile, identity), make_token(n), options)


# --- the file store ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> tuple[FileStoreOptions, set[str]]:
    """MANY identities saved once for the module, through the store's own save."""
    options = FileStoreOptions(path=str(tmp_path_factory.mktemp("many") / "tokens"))
    identities = {f"user-{n:05d}" if n % 3 else f"User.{n}@example.com" for n in range(MANY)}
    save(options, *sorted(identities))
    save(options, "someone-else", profile="other")
    return options, identities


def test_many_identities_are_listed_exactly(many: tuple[FileStoreOptions, set[str]]) -> None:
    options, identities = many
    assert set(listed(options)) == identities
    assert listed(options, "other") == ["someone-else"]


def test_every_listed_key_loads_its_own_token(many: tuple[FileStoreOptions, set[str]]) -> None:
    options, _identities = many
    for key in list(filestore.list_keys(PROFILE, options))[:50]:
        assert filestore.load(key, options) is not None


def test_unusual_identities_round_trip_exactly(options: FileStoreOptions) -> None:
    save(options, *UNUSUAL)
    assert sorted(listed(options)) == sorted(UNUSUAL)


@pytest.mark.parametrize("profile", ["Platform", "platform.", "a/b", "日本", "..", "%50"])
def test_unusual_profile_names_list_their_own_tokens(options: FileStoreOptions,
                                                     profile: str) -> None:
    save(options, "Alice", "alice", profile=profile)
    save(options, "mallory", profile=profile.lower() + "x")
    assert sorted(listed(options, profile)) == ["Alice", "alice"]


def test_other_profiles_tokens_are_not_listed(options: FileStoreOptions) -> None:
    save(options, "alice", profile=PROFILE)
    # Profiles whose folder names are close to this one's, or equal once case is ignored.
    for other in ("Platform", "PLATFORM", "platform2", "platfor", "plat%66orm", "platform."):
        save(options, f"bob-of-{other}", profile=other)
    assert listed(options) == ["alice"]


def test_temp_lock_and_budget_files_are_not_listed(options: FileStoreOptions) -> None:
    save(options, "alice")
    folder = filestore.token_path(TokenKey(PROFILE, "alice"), options).parent
    with filestore.lock(TokenKey(PROFILE, "alice"), options, timeout=1.0) as held:
        assert held  # a lock file now exists beside the token
        strays = {
            ".alice.json.0123456789abcdef0123456789abcdef.tmp": b"{}",  # a dead writer's
            ".bob.json.fedcba9876543210fedcba9876543210.tmp": b"{}",    # another's, no token
            "bob.json.lock": b"",
            "@budget-token.json": b"[]",
            "%zz.json": b"{}",             # no name maps there
            "%C3.json": b"{}",             # half a character
            "Ali%63e.json": b"{}",         # "Alice" is kept as %41lice.json
            "%61lice.json": b"{}",         # "alice" is kept as alice.json
            "notes.txt": b"",
            ".json": b"{}",
        }
        for name, data in strays.items():
            (folder / name).write_bytes(data)
        assert (folder / "alice.json.lock").exists()
        assert listed(options) == ["alice"]


def test_a_corrupt_or_unsafe_entry_is_still_listed(options: FileStoreOptions) -> None:
    save(options, "corrupt", "too-open")
    corrupt = filestore.token_path(TokenKey(PROFILE, "corrupt"), options)
    corrupt.write_bytes(b'{"access_token": ')
    os.chmod(filestore.token_path(TokenKey(PROFILE, "too-open"), options), 0o644)
    assert sorted(listed(options)) == ["corrupt", "too-open"]
    with pytest.raises(CorruptStoreError):
        filestore.load(TokenKey(PROFILE, "corrupt"), options)


def test_a_planted_link_is_not_followed(options: FileStoreOptions, tmp_path: Path) -> None:
    save(options, "alice")
    save(options, "victim", profile="other")
    folder = filestore.token_path(TokenKey(PROFILE, "alice"), options).parent
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "planted.json").write_bytes(encode_token(make_token()))
    # A link named like a token file, to another profile's token and to a file elsewhere.
    (folder / "victim.json").symlink_to(
        filestore.token_path(TokenKey("other", "victim"), options))
    (folder / "planted.json").symlink_to(outside / "planted.json")
    # A linked folder inside the profile's, in case anything walks down.
    (folder / "sub.json").symlink_to(outside, target_is_directory=True)
    assert listed(options) == ["alice"]


def test_a_linked_profile_folder_is_refused(options: FileStoreOptions, tmp_path: Path) -> None:
    save(options, "victim", profile="other")
    root = Path(options.path or "")
    (root / PROFILE).symlink_to(root / "other", target_is_directory=True)
    with pytest.raises(StoreError, match="link"):
        listed(options)


def test_a_folder_others_can_write_is_refused(options: FileStoreOptions) -> None:
    save(options, "alice")
    folder = filestore.token_path(TokenKey(PROFILE, "alice"), options).parent
    os.chmod(folder, 0o777)
    try:
        with pytest.raises(StoreError, match="other users"):
            listed(options)
    finally:
        os.chmod(folder, 0o700)


def test_nothing_stored_lists_nothing(options: FileStoreOptions) -> None:
    assert listed(options) == []
    save(options, "alice", profile="other")
    assert listed(options) == []


def test_a_deleted_token_is_no_longer_listed(options: FileStoreOptions) -> None:
    save(options, "alice", "bob")
    filestore.delete(TokenKey(PROFILE, "alice"), options)
    assert listed(options) == ["bob"]


def test_tokens_under_the_names_of_before_are_listed_once(options: FileStoreOptions) -> None:
    root = Path(options.path or "")
    save(options, "placeholder", profile="Platform")  # makes the folders, 0700
    current = filestore.token_path(TokenKey("Platform", "x"), options).parent
    legacy_folder = root / "Platform"
    legacy_folder.mkdir(mode=0o700)
    data = encode_token(make_token())
    # Where brokerauth before case-fold safe names kept "Platform"/"Bob" and "Platform"/"bob".
    for name in ("Bob.json", "bob.json", ".hidden.json"):
        fd = os.open(legacy_folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.close(fd)
    # "Bob" saved again since: both files exist until the old one is removed.
    filestore.save(TokenKey("Platform", "Bob"), make_token(), options)
    (legacy_folder / "Bob.json").write_bytes(data)
    assert sorted(listed(options, "Platform")) == [".hidden", "Bob", "bob", "placeholder"]
    for identity in (".hidden", "Bob", "bob"):
        assert filestore.load(TokenKey("Platform", identity), options) is not None
    assert current != legacy_folder


def test_a_legacy_name_in_the_current_folder_is_listed(options: FileStoreOptions) -> None:
    save(options, "placeholder")
    folder = filestore.token_path(TokenKey(PROFILE, "x"), options).parent
    fd = os.open(folder / "Carol.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, encode_token(make_token()))
    os.close(fd)
    assert sorted(listed(options)) == ["Carol", "placeholder"]


def test_a_legacy_name_that_is_nobodys_old_file_is_not_listed(
    options: FileStoreOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(options, "placeholder")
    folder = filestore.token_path(TokenKey(PROFILE, "x"), options).parent
    fd = os.open(folder / "Carol.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    # On a file system that ignores case, Carol.json is carol.json: load does not read it
    # for "Carol", so it is not listed for "Carol" either.
    monkeypatch.setattr(filestore, "_same_file", lambda one, other: True)
    assert listed(options) == ["placeholder"]


def test_an_unusable_profile_name_is_a_store_error(options: FileStoreOptions) -> None:
    with pytest.raises(StoreError):
        list(filestore.list_keys("", options))


# --- the memory store and the built-in plugin ----------------------------------------------


def test_the_memory_store_lists_its_own_profile_exactly() -> None:
    plugin = BuiltinPlugin()
    for identity in UNUSUAL:
        plugin.store_token("memory", TokenKey(PROFILE, identity), make_token(), None)
    plugin.store_token("memory", TokenKey("other", "bob"), make_token(), None)
    plugin.store_token("memory", TokenKey(PROFILE.upper(), "carol"), make_token(), None)
    plugin.delete_token("memory", TokenKey(PROFILE, "default"), None)
    keys = list(plugin.list_tokens("memory", PROFILE, None))
    assert sorted(key.identity for key in keys) == sorted(set(UNUSUAL) - {"default"})
    assert {key.profile for key in keys} == {PROFILE}
    assert [key.identity for key in plugin.list_tokens("memory", "other", None)] == ["bob"]


def test_a_memory_listing_is_a_snapshot() -> None:
    plugin = BuiltinPlugin()
    for identity in ("a", "b", "c"):
        plugin.store_token("memory", TokenKey(PROFILE, identity), make_token(), None)
    for key in plugin.list_tokens("memory", PROFILE, None):
        plugin.delete_token("memory", key, None)  # changing the store while going through it
    assert list(plugin.list_tokens("memory", PROFILE, None)) == []


def test_the_builtin_plugin_lists_the_file_store(options: FileStoreOptions) -> None:
    save(options, "Alice", "alice")
    keys = BuiltinPlugin().list_tokens("file", PROFILE, options)
    assert sorted(key.identity for key in keys) == ["Alice", "alice"]


# --- through the engine --------------------------------------------------------------------


def platform_profile(store: Any) -> Profile:
    return Profile.from_mapping(PROFILE, {
        "broker": "double", "client_id": "c", "client_secret": Secret.from_value("s"),
        "store": store,
    })


@pytest.mark.parametrize("store", ["file", "memory"])
def test_stored_keys_lists_through_the_binding(tmp_path: Path, store: str) -> None:
    choice: Any = {"name": "file", "path": str(tmp_path / "t")} if store == "file" else "memory"
    host = PluginHost.create()
    bindings = {user: open_binding(platform_profile(choice), user=user, host=host,
                                   interactive=False)
                for user in ("Alice", "alice", "a/b", "日本")}
    for binding in bindings.values():
        binding.save(make_token())
    any_binding = next(iter(bindings.values()))
    assert sorted(k.identity for k in stored_keys(any_binding)) == sorted(bindings)
    assert sorted(k.identity for k in stored_keys(any_binding.resolved, host)) == sorted(
        bindings)


class Unlistable:
    """A store plugin from before listing: load, store, delete and lock only."""

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(strategies=(StrategySpec("store", "vault", "keeps tokens"),))

    @hookimpl
    def load_token(self) -> None:
        return None

    @hookimpl
    def store_token(self) -> None:
        return None

    @hookimpl
    def delete_token(self) -> bool:
        return False

    @hookimpl
    def lock_token(self) -> Any:
        raise NotImplementedError


class Sloppy(Unlistable):
    """A store that lists what it should not, or fails while listing lazily."""

    def __init__(self, keys: list[Any]) -> None:
        self.keys = keys

    @hookimpl
    def list_tokens(self, profile: str) -> Iterator[Any]:
        for key in self.keys:
            if isinstance(key, Exception):
                raise key
            yield key


def host_with(plugin: Any) -> PluginHost:
    from doubles import plugin as double

    return PluginHost.create([
        FakeEntryPoint("double", double),
        FakeEntryPoint("vaultplug", plugin, FakeDistribution("brokerauth-vault", "1.2")),
    ])


def test_a_store_that_cannot_list_says_so_with_the_way_out() -> None:
    host = host_with(Unlistable())
    binding = open_binding(platform_profile("vault"), host=host, interactive=False)
    with pytest.raises(UnlistableStoreError) as raised:
        stored_keys(binding)
    error = raised.value
    assert isinstance(error, StoreError)
    assert error.store == "vault"
    assert "'vault'" in error.message and "vaultplug" in error.message
    assert error.hint is not None
    assert "pip install --upgrade brokerauth-vault" in error.hint
    assert "'file'" in error.hint and "'memory'" in error.hint
    assert "brokerauth plugins" in error.hint


def test_a_store_listing_another_profile_is_a_plugin_error() -> None:
    host = host_with(Sloppy([TokenKey(PROFILE, "a"), TokenKey("other", "b")]))
    binding = open_binding(platform_profile("vault"), host=host, interactive=False)
    keys = stored_keys(binding)
    assert next(keys) == TokenKey(PROFILE, "a")
    with pytest.raises(PluginError, match="'other'"):
        next(keys)


def test_a_lazy_listing_failing_is_named_after_its_plugin() -> None:
    host = host_with(Sloppy([TokenKey(PROFILE, "a"), TokenKey(PROFILE, "a"), KeyError("x")]))
    binding = open_binding(platform_profile("vault"), host=host, interactive=False)
    keys = stored_keys(binding)
    assert next(keys) == TokenKey(PROFILE, "a")  # the duplicate is skipped
    with pytest.raises(PluginError, match="vaultplug.*list_tokens") as raised:
        next(keys)
    assert isinstance(raised.value.__cause__, KeyError)


def test_a_store_error_while_listing_stays_a_store_error() -> None:
    failure = StoreError("the vault is sealed")
    host = host_with(Sloppy([failure]))
    binding = open_binding(platform_profile("vault"), host=host, interactive=False)
    with pytest.raises(StoreError, match="sealed"):
        list(stored_keys(binding))
