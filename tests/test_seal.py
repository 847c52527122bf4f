"""Sealed tokens (brokerauth.toolkit.seal): what one key seals only that key opens, for that
broker and identity; a damaged, truncated, foreign or hostile file is a typed refusal that
quotes nothing of it."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from brokerauth.contract.errors import ConfigError, SealedTokenError
from brokerauth.contract.tokens import Token
from brokerauth.toolkit import seal
from brokerauth.toolkit.seal import open_sealed, seal_token

KEY = "k-" + secrets.token_urlsafe(24)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def make_token(broker: str = "double") -> Token:
    return Token(access_token="acc-" + secrets.token_urlsafe(24),
                 refresh_token="ref-" + secrets.token_urlsafe(24), broker=broker,
                 issued_at=NOW, expires_at=NOW + timedelta(minutes=10),
                 extra={"client": "c-1"})


def sealed(token: Token, key: str = KEY, identity: str = "alice") -> bytes:
    return seal_token(token, key, identity=identity, profile="laptop", now=NOW)


def refused(data: bytes, reason: str, *, key: str = KEY, broker: str = "double",
            identity: str = "alice", secrets_: tuple[str, ...] = ()) -> SealedTokenError:
    with pytest.raises(SealedTokenError) as caught:
        open_sealed(data, key, broker=broker, identity=identity, source="the file")
    error = caught.value
    assert error.reason == reason, error
    assert isinstance(error, ConfigError)  # exit code 2, like other configuration mistakes
    assert error.hint
    text = f"{error} {error!r}"
    for secret in (key, *secrets_):
        assert secret not in text
    # Nothing of the file's content is quoted: not its header, not its sealed part.
    for part in data.decode("ascii", "replace").strip().split(".")[1:]:
        assert len(part) < 8 or part[:12] not in text
    return error


def parts(data: bytes) -> tuple[str, dict[str, object], str]:
    first, header, body = data.decode("ascii").strip().split(".")
    return first, json.loads(base64.b64decode(header)), body


def rebuild(first: str, header: dict[str, object], body: str) -> bytes:
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    return f"{first}.{base64.b64encode(text.encode()).decode()}.{body}\n".encode()


def test_round_trip_gives_back_the_token_and_what_the_header_says() -> None:
    token = make_token()
    data = sealed(token)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert data.startswith(b"brokerauth-sealed-v1.")
    for secret in (token.access_token, token.refresh_token):
        assert secret is not None
        assert secret.encode() not in data
    opened = open_sealed(data, KEY, broker="double", identity="alice", source="f")
    assert opened.token == token
    assert opened.token.extra == token.extra
    assert (opened.broker, opened.identity, opened.profile) == ("double", "alice", "laptop")
    assert opened.sealed_at == NOW
    # Salt and nonce are fresh each time: two seals of one token share nothing.
    assert parts(sealed(token))[1]["salt"] != parts(data)[1]["salt"]


def test_a_wrong_key_is_told_apart() -> None:
    token = make_token()
    error = refused(sealed(token), "key", key="another-key-" + secrets.token_urlsafe(12),
                    secrets_=(token.access_token,))
    assert "does not open" in error.message


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_any_changed_byte_of_the_sealed_part_is_refused(where: str) -> None:
    token = make_token()
    data = bytearray(sealed(token))
    start = data.rindex(b".") + 1
    index = {"first": start, "middle": (start + len(data)) // 2, "last": len(data) - 8}[where]
    # A character swapped for another of the alphabet, so only the cryptography notices.
    data[index] = ord("A") if data[index] != ord("A") else ord("B")
    error = refused(bytes(data), "damaged", secrets_=(token.access_token,))
    assert "changed or truncated" in error.message


def test_a_changed_broker_or_identity_in_the_header_is_refused() -> None:
    """They are the associated data: rewriting them (and the base64 around them) does not
    move the token to another broker or identity."""
    first, header, body = parts(sealed(make_token()))
    for field, value in (("broker", "other"), ("identity", "mallory"), ("profile", "x"),
                         ("sealed_at", "2027-01-01T00:00:00+00:00")):
        forged = rebuild(first, {**header, field: value}, body)
        kwargs = {"broker": "other"} if field == "broker" else {
            "identity": "mallory"} if field == "identity" else {}
        error = refused(forged, "damaged", **kwargs)  # type: ignore[arg-type]
        assert "changed or truncated" in error.message
    # The key's salt is in the header too: changed, the key no longer opens the file.
    other_salt = base64.b64encode(secrets.token_bytes(16)).decode()
    refused(rebuild(first, {**header, "salt": other_salt}, body), "key")


@pytest.mark.parametrize("cut", [1, 20, 200, "dot", "header"])
def test_a_truncated_file_is_refused(cut: int | str) -> None:
    data = sealed(make_token()).strip()
    if cut == "dot":
        data = data[: data.rindex(b".")]
    elif cut == "header":
        data = data[: data.index(b".") + 30]
    else:
        assert isinstance(cut, int)
        data = data[:-cut]
    refused(data, "damaged")


@pytest.mark.parametrize("content", [b"", b"hello", b"\xff\xfe", b'{"access_token": "x"}',
                                     b"brokerauth-sealed-v1", b"brokerauth-sealed-vX.a.b",
                                     b"brokerauth-sealed-v1.!!!.abcd"])
def test_what_is_not_a_sealed_token_is_refused(content: bytes) -> None:
    refused(content, "damaged")


def test_another_version_is_named() -> None:
    _first, header, body = parts(sealed(make_token()))
    error = refused(rebuild("brokerauth-sealed-v2", header, body), "version")
    assert "version 2" in error.message


def test_another_brokers_credential_is_refused() -> None:
    error = refused(sealed(make_token("double")), "broker", broker="webull")
    assert "'double'" in error.message and "'webull'" in error.message


def test_another_identitys_credential_is_refused_naming_the_right_flag() -> None:
    error = refused(sealed(make_token(), identity="alice"), "identity", identity="bob")
    assert "--user alice" in (error.hint or "")


@pytest.mark.parametrize(("n", "r", "p"), [(2**30, 8, 1), (2**20, 8, 1), (2**17, 16, 1),
                                           (2**15, 2**20, 1), (2**15, 8, 2**20),
                                           (3 * 2**14, 8, 1), (1, 8, 1), (0, 8, 1)])
def test_a_hostile_cost_is_refused_before_any_work(n: int, r: int, p: int) -> None:
    first, header, body = parts(sealed(make_token()))
    started = time.perf_counter()
    error = refused(rebuild(first, {**header, "n": n, "r": r, "p": p}, body), "damaged")
    assert time.perf_counter() - started < 0.5  # no key was derived at all
    assert "scrypt" in error.message


@pytest.mark.parametrize("change", [{"salt": "AAAA"}, {"nonce": None}, {"n": "32768"},
                                    {"n": True}, {"extra": 1}, {"cipher": "AES-128-CBC"},
                                    {"sealed_at": "yesterday"}, {"identity": "a\nb"}])
def test_a_malformed_header_is_refused(change: dict[str, object]) -> None:
    first, header, body = parts(sealed(make_token()))
    refused(rebuild(first, {**header, **change}, body), "damaged")


def test_a_huge_file_is_refused_by_its_size() -> None:
    # Valid but for its size (trailing blanks are otherwise ignored): refused before parsing.
    error = refused(sealed(make_token()) + b" " * seal.MAX_SEALED_BYTES, "damaged")
    assert "larger than" in error.message


def test_a_short_key_is_refused_when_sealing() -> None:
    with pytest.raises(SealedTokenError) as caught:
        seal_token(make_token(), "short", identity="alice", profile="p", now=NOW)
    assert caught.value.reason == "key"
    assert "secrets.token_urlsafe" in (caught.value.hint or "")


def test_without_cryptography_the_error_names_the_extra() -> None:
    # A child whose import of cryptography fails, as on an install without the extra.
    code = (
        "import sys\n"
        "sys.modules['cryptography'] = None\n"
        "from datetime import UTC, datetime\n"
        "from brokerauth.contract.errors import SealedTokenError\n"
        "from brokerauth.contract.tokens import Token\n"
        "from brokerauth.toolkit.seal import seal_token\n"
        "try:\n"
        "    seal_token(Token(access_token='a', broker='b'), 'k' * 20, identity='i',\n"
        "               profile='p', now=datetime.now(UTC))\n"
        "except SealedTokenError as exc:\n"
        "    print(exc.reason, exc.hint)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "package pip install 'brokerauth[seal]'", result.stderr
