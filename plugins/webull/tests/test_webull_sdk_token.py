"""Importing the official SDK's token.txt: read-only, clear errors, never echoing the token."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth_webull import sdk_token

TOKEN = "ccb071f764864b65a1fb48484e940a56"
EXPIRES_MS = 1767323045000  # 2026-01-02T03:04:05Z


def write(folder: Path, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "token.txt"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_the_sdk_format(tmp_path: Path) -> None:
    path = write(tmp_path, f"{TOKEN}\n{EXPIRES_MS}\nNORMAL\n")
    before = path.read_bytes()
    token = sdk_token.load_sdk_token(str(tmp_path), environ={})
    assert token is not None
    assert token.access_token == TOKEN
    assert token.broker == "webull"
    assert token.expires_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert token.extra["status"] == "NORMAL"
    assert token.token_type == "x-access-token"
    assert TOKEN not in repr(token)
    assert path.read_bytes() == before  # read-only


@pytest.mark.parametrize(
    ("raw", "status"),
    [("0", "PENDING"), ("1", "NORMAL"), ("2", "INVALID"), ("3", "EXPIRED"), ("pending", "PENDING")],
)
def test_statuses_of_both_sdk_generations(tmp_path: Path, raw: str, status: str) -> None:
    write(tmp_path, f"{TOKEN}\r\n{EXPIRES_MS}\r\n{raw}\r\n\r\n")
    token = sdk_token.load_sdk_token(str(tmp_path), environ={})
    assert token is not None
    assert token.extra["status"] == status


def test_unknown_expiry(tmp_path: Path) -> None:
    write(tmp_path, f"{TOKEN}\n0\nNORMAL")
    token = sdk_token.load_sdk_token(str(tmp_path), environ={})
    assert token is not None
    assert token.expires_at is None


def test_where_it_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sdk_token.token_path(None, environ={}) == Path("conf/token.txt")
    assert sdk_token.load_sdk_token(environ={}) is None
    write(tmp_path / "conf", f"{TOKEN}\n{EXPIRES_MS}\nNORMAL\n")
    assert sdk_token.load_sdk_token(environ={}) is not None
    env_dir = tmp_path / "from-env"
    env = {"WEBULL_OPENAPI_TOKEN_DIR": str(env_dir)}
    assert sdk_token.load_sdk_token(environ=env) is None
    write(env_dir, f"other\n{EXPIRES_MS}\nNORMAL\n")
    token = sdk_token.load_sdk_token(environ=env)
    assert token is not None
    assert token.access_token == "other"
    # An explicit folder (the profile's sdk_token_dir) wins over the variable.
    token = sdk_token.load_sdk_token(str(tmp_path / "conf"), environ=env)
    assert token is not None
    assert token.access_token == TOKEN
    monkeypatch.setenv("WEBULL_OPENAPI_TOKEN_DIR", str(env_dir))
    assert sdk_token.token_path() == env_dir / "token.txt"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f"{TOKEN}\n{EXPIRES_MS}\n", "expected 3 lines"),
        (f"{TOKEN}\n{EXPIRES_MS}\nNORMAL\nextra\n", "expected 3 lines"),
        ("", "expected 3 lines"),
        (f"\n{EXPIRES_MS}\nNORMAL\n", "line 1"),
        (f"{TOKEN} {TOKEN}\n{EXPIRES_MS}\nNORMAL\n", "line 1"),
        (f"{TOKEN}\nsoon\nNORMAL\n", "line 2"),
        (f"{TOKEN}\n{TOKEN}\nNORMAL\n", "line 2"),
        (f"{TOKEN}\n-5\nNORMAL\n", "line 2"),
        (f"{TOKEN}\n{'9' * 30}\nNORMAL\n", "out of range"),
        (f"{TOKEN}\n{EXPIRES_MS}\n{TOKEN}\n", "line 3"),
        (f"{TOKEN}\n{EXPIRES_MS}\nNORMAL\n".encode("utf-16"), "UTF-8"),
        (TOKEN * 200, "larger than"),
    ],
)
def test_malformed_files(tmp_path: Path, content: str | bytes, problem: str) -> None:
    write(tmp_path, content)
    with pytest.raises(CorruptStoreError, match=problem) as caught:
        sdk_token.load_sdk_token(str(tmp_path), environ={})
    text = str(caught.value)
    assert TOKEN not in text
    assert str(tmp_path) in text
    assert caught.value.hint


def test_unreadable(tmp_path: Path) -> None:
    (tmp_path / "token.txt").mkdir()
    with pytest.raises(StoreError, match="cannot read"):
        sdk_token.load_sdk_token(str(tmp_path), environ={})
    if os.geteuid() != 0:
        (tmp_path / "token.txt").rmdir()
        path = write(tmp_path, f"{TOKEN}\n{EXPIRES_MS}\nNORMAL\n")
        path.chmod(0)
        with pytest.raises(StoreError, match="cannot read") as caught:
            sdk_token.load_sdk_token(str(tmp_path), environ={})
        assert TOKEN not in str(caught.value)
