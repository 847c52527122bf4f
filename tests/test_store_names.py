"""Profile and identity names map to file names that stay distinct where case is ignored
(APFS, NTFS) and are never a Windows device name or end in a dot or space (QUALITY 30); token
files under the names of before keep working and move on the next save."""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import file_name, legacy_token_path, token_path
from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.tokencodec import encode_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RESERVED = {"con", "prn", "aux", "nul"} | {f"{d}{n}" for d in ("com", "lpt") for n in range(10)}
# What Windows forbids in a name, besides a trailing dot or space.
WINDOWS_FORBIDDEN = set('<>:"/\\|?*') | {chr(n) for n in range(32)}


def make_token(n: int = 0) -> Token:
    return Token(
        access_token=f"canary-names-access-{n}",
        broker="webull",
        expires_at=datetime(2026, 1, 2, tzinfo=UTC),
        refresh_token=f"canary-names-refresh-{n}",
    )


def windows_trouble(name: str) -> str | None:
    """Why Windows would not keep ``name`` as a distinct file, if it would not."""
    if name.split(".", 1)[0].casefold() in RESERVED:
        return "a device name"
    if name.endswith((".", " ")):
        return "a trailing dot or space"
    if set(name) & WINDOWS_FORBIDDEN:
        return "a forbidden character"
    return None


def decode(encoded: str) -> str:
    return unquote(encoded, encoding="utf-8", errors="surrogatepass")


# --- the mapping ---------------------------------------------------------------------------

TRICKY = [
    "Alice", "alice", "ALICE", "aLiCe", "CON", "con", "Con", "con.json", "CON.json", "nul.txt",
    "NUL", "aux", "prn.", "com1", "COM9", "lpt1.log", "LPT0", "com¹", "conin$", "clock$",
    ".", "..", "...", ".hidden", "trailing.", "trailing ", " leading", "a b", "a.b.c",
    "%41lice", "%2E", "%2e", "%", "İ", "i̇", "ß", "ss", "SS", "ẞ", "Σ", "\u03c3", "ς", "ǅ", "ǆ", "Ǆ",
    "é", "e\u0301", "K", "\u212a", "ﬀ", "ff", "\ud800", "nul\x00byte", "new\nline", "a/b", "a\\b",
    "default", "prod", "futu-key", "user_1",
]

names = st.one_of(
    st.sampled_from(TRICKY),
    st.text(min_size=1, max_size=24),
    # Lone surrogates too: Python allows them in a str, and they must map one-to-one.
    st.text(st.characters(exclude_categories=()), min_size=1, max_size=12),
    st.text(st.sampled_from("aAbBcCoOnNuUlL.- %İ\u0131ßẞ1"), min_size=1, max_size=8),
    st.builds(lambda a, b: a + b, st.sampled_from(TRICKY),
              st.sampled_from([".json", ".", " ", ""])),
)


def check_one(name: str) -> str:
    encoded = file_name(name, "identity")
    # One-to-one, even after case folding: the name comes back from the folded result.
    assert decode(encoded.casefold()) == name
    assert decode(encoded) == name
    assert encoded.isascii()
    # The only capitals are the hex digits of an escape, which is why folding loses nothing.
    rest = re.sub("%[0-9A-F]{2}", "", encoded)
    assert "%" not in rest and rest == rest.lower(), encoded
    for shown in (encoded, encoded + ".json"):
        assert windows_trouble(shown) is None, (name, shown)
    assert not encoded.startswith(".")
    assert encoded not in (".", "..")
    return encoded


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=2, max_size=12, unique=True))
def test_distinct_names_stay_distinct_under_case_folding_and_windows_rules(batch: list[str]):
    folded: dict[str, str] = {}
    for name in batch:
        encoded = check_one(name)
        key = unicodedata.normalize("NFC", encoded.casefold())
        assert key not in folded, (name, folded.get(key))
        folded[key] = name


def test_a_thousand_random_distinct_identities_have_distinct_folded_files():
    # The same property over one set of 1,000 at once, drawn with a fixed seed.
    import random

    rng = random.Random(30)
    alphabet = "aAbBzZ09._- %İ\u0131ßẞ\u03c3Σς\u212aé\u0301"
    chosen = set(TRICKY)
    while len(chosen) < 1000:
        chosen.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))))
    files = {check_one(name).casefold() for name in chosen}
    assert len(files) == len(chosen)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alice", "alice"),
        ("Alice", "%41lice"),
        ("ALICE", "%41%4C%49%43%45"),
        ("con", "%63on"),
        ("CON", "%43%4F%4E"),
        ("con.json", "%63on.json"),
        ("lpt1.log", "%6Cpt1.log"),
        ("console", "console"),  # only the device names themselves
        (".", "%2E"),
        ("..", "%2E%2E"),
        (".hidden", "%2Ehidden"),
        ("trailing.", "trailing%2E"),
        ("a b ", "a%20b%20"),
        ("a.b", "a.b"),
        ("é", "%C3%A9"),
        ("%41lice", "%2541lice"),
        ("futu-key_1", "futu-key_1"),
    ],
)
def test_examples_of_the_mapping(name: str, expected: str):
    assert file_name(name, "identity") == expected


def test_token_paths_differ_only_by_more_than_case(tmp_path: Path):
    options = filestore.FileStoreOptions(path=str(tmp_path))
    paths = {str(token_path(TokenKey(p, i), options)).casefold()
             for p in ("Prod", "prod", "PROD") for i in ("Alice", "alice", "ALICE")}
    assert len(paths) == 9


# --- the names of before -------------------------------------------------------------------


@pytest.fixture
def options(tmp_path: Path) -> filestore.FileStoreOptions:
    return filestore.FileStoreOptions(path=str(tmp_path / "tokens"))


def plant_old(path: Path, token: Token) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(encode_token(token))
    path.chmod(0o600)


def test_an_old_file_is_read_then_moved_by_the_next_save(options, tmp_path: Path):
    key = TokenKey("Prod", "Alice")
    old = tmp_path / "tokens" / "Prod" / "Alice.json"  # as brokerauth named it before
    new = tmp_path / "tokens" / "%50rod" / "%41lice.json"
    assert legacy_token_path(key, options) == old
    assert token_path(key, options) == new
    plant_old(old, make_token(1))
    assert filestore.load(key, options) == make_token(1)  # read where it is...
    assert old.exists() and not new.exists()  # ...and a read changes nothing
    filestore.save(key, make_token(2), options)
    assert new.exists() and not old.exists()
    assert filestore.load(key, options) == make_token(2)
    # The lower-case names are other people: they never saw Alice's token.
    assert filestore.load(TokenKey("prod", "alice"), options) is None
    assert filestore.load(TokenKey("Prod", "alice"), options) is None


def test_the_new_file_wins_over_an_old_one(options, tmp_path: Path):
    key = TokenKey("p", "Bob")
    filestore.save(key, make_token(2), options)
    plant_old(tmp_path / "tokens" / "p" / "Bob.json", make_token(1))  # a crash mid-move
    assert filestore.load(key, options) == make_token(2)
    filestore.save(key, make_token(3), options)
    assert not (tmp_path / "tokens" / "p" / "Bob.json").exists()


def test_logout_removes_both(options, tmp_path: Path):
    key = TokenKey("p", "Carol")
    filestore.save(key, make_token(2), options)
    old = tmp_path / "tokens" / "p" / "Carol.json"
    plant_old(old, make_token(1))
    assert filestore.delete(key, options) is True
    assert not old.exists() and not token_path(key, options).exists()
    assert filestore.delete(key, options) is False
    plant_old(old, make_token(1))  # only the old one
    assert filestore.delete(key, options) is True
    assert filestore.load(key, options) is None


@pytest.mark.parametrize(("identity", "old_name"), [
    ("con", "con.json"), (".hidden", ".hidden.json"), ("end.", "end..json"),
])
def test_old_files_under_other_changed_names_move_too(options, tmp_path: Path, identity: str,
                                                      old_name: str):
    key = TokenKey("p", identity)
    old = tmp_path / "tokens" / "p" / old_name
    assert legacy_token_path(key, options) == old
    plant_old(old, make_token(1))
    assert filestore.load(key, options) == make_token(1)
    filestore.save(key, make_token(2), options)
    assert not old.exists()
    assert filestore.load(key, options) == make_token(2)


def test_names_that_did_not_change_have_no_old_file(options):
    for key in (TokenKey("prod", "alice"), TokenKey("p", "é"), TokenKey("p", "..")):
        assert legacy_token_path(key, options) is None


def test_where_case_is_ignored_an_old_capitalised_file_is_nobodys(options, tmp_path: Path,
                                                                    monkeypatch):
    # On APFS or NTFS, "Alice.json" is also "alice.json": the file the lower-case name uses
    # now.  It may hold alice's token, so Alice must neither read it nor remove it.
    plant_old(tmp_path / "tokens" / "p" / "Alice.json", make_token(1))
    monkeypatch.setattr(filestore, "_same_file", lambda one, other: True)
    key = TokenKey("p", "Alice")
    assert legacy_token_path(key, options) is None
    assert filestore.load(key, options) is None
    filestore.save(key, make_token(2), options)
    assert (tmp_path / "tokens" / "p" / "Alice.json").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_an_unsafe_old_file_is_refused_like_any_token_file(options, tmp_path: Path):
    old = tmp_path / "tokens" / "p" / "Dave.json"
    plant_old(old, make_token(1))
    old.chmod(0o644)
    with pytest.raises(StoreError, match="mode 0644"):
        filestore.load(TokenKey("p", "Dave"), options)
    assert os.stat(old).st_mode & 0o777 == 0o644


def test_a_futu_login_pointer_under_its_old_name_still_finds_the_sdk_file(tmp_path: Path):
    # The futu-file store names its pointer after the core's token file: it moved too.
    tokenfile = pytest.importorskip("brokerauth_futu.tokenfile")
    sdkformat = pytest.importorskip("brokerauth_futu.sdkformat")
    from brokerauth_futu.settings import FutuFileOptions

    client = "72d9caaf-0bd4-4000-85a7-8c7978c74544"
    top = tmp_path / "futu"
    options = FutuFileOptions(path=str(top))
    key = TokenKey("Futu-Prod")
    token = sdkformat.oauth_token(access_token="canary-names-futu-1", refresh_token="r-1",
                                  expires_at=datetime(2026, 3, 1, tzinfo=UTC),
                                  client_id=client, identity="default")
    tokenfile.save(key, token, options)
    new_pointer = top / ".brokerauth" / "%46utu-%50rod" / "default.json.client"
    assert new_pointer.exists()
    # Put it back where brokerauth kept it before.
    old_pointer = top / ".brokerauth" / "Futu-Prod" / "default.json.client"
    old_pointer.parent.mkdir(mode=0o700)
    os.replace(new_pointer, old_pointer)
    assert tokenfile.load(key, options) == token
    tokenfile.save(key, token, options)
    assert new_pointer.exists() and not old_pointer.exists()
    assert tokenfile.load(key, options) == token
    os.replace(new_pointer, old_pointer)
    assert tokenfile.delete(key, options) is True
    assert not old_pointer.exists() and not (top / client).exists()
