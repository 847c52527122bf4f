"""The token format: a faithful round trip, and a strict, secret-free refusal of anything else."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.tokencodec import (
    MAX_TOKEN_BYTES,
    decode_token,
    encode_token,
    forget_all,
)
from hypothesis import given
from hypothesis import strategies as st

ACCESS = "canary-access-7f3a9c"
REFRESH = "canary-refresh-51be02"
SOURCE = "/home/u/.local/state/brokerauth/tokens/prod/alice.json"


def full_token() -> Token:
    return Token(
        access_token=ACCESS,
        broker="webull",
        expires_at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        refresh_token=REFRESH,
        refresh_expires_at=datetime(2026, 2, 1, tzinfo=UTC),
        token_type="Bearer",
        scope="trade read",
        identity="alice",
        issued_at=datetime(2026, 1, 1, tzinfo=UTC),
        extra={"status": "NORMAL", "client_id": "c-1"},
    )


def valid_fields() -> dict[str, object]:
    return json.loads(encode_token(full_token()))


def test_roundtrip_keeps_every_field():
    token = full_token()
    back = decode_token(encode_token(token), source=SOURCE)
    assert back == token
    assert dict(back.extra) == dict(token.extra)


def test_encoding_is_versioned_utc_json():
    fields = json.loads(encode_token(full_token()).decode("utf-8"))
    assert fields["version"] == 1
    assert fields["expires_at"] == "2026-01-02T03:04:05.123456+00:00"
    assert fields["access_token"] == ACCESS


def test_times_in_other_zones_are_stored_as_utc():
    tokyo = timezone(timedelta(hours=9))
    token = Token("a", "webull", expires_at=datetime(2026, 1, 2, 9, 0, tzinfo=tokyo))
    fields = json.loads(encode_token(token))
    assert fields["expires_at"] == "2026-01-02T00:00:00+00:00"
    back = decode_token(encode_token(token), source=SOURCE)
    assert back.expires_at == token.expires_at
    assert back.expires_at is not None
    assert back.expires_at.utcoffset() == timedelta(0)


def test_minimal_token_roundtrips_with_defaults():
    data = json.dumps({"version": 1, "access_token": "a", "broker": "futu"}).encode()
    token = decode_token(data, source=SOURCE)
    assert token == Token("a", "futu")


offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(timezone)
aware_times = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9000, 1, 1),
    timezones=st.one_of(st.just(UTC), offsets),
)
tokens = st.builds(
    Token,
    access_token=st.text(),
    broker=st.text(min_size=1),
    expires_at=st.none() | aware_times,
    refresh_token=st.none() | st.text(),
    refresh_expires_at=st.none() | aware_times,
    token_type=st.text(),
    scope=st.none() | st.text(),
    identity=st.none() | st.text(),
    issued_at=st.none() | aware_times,
    extra=st.dictionaries(st.text(), st.text(), max_size=5),
)


@given(tokens)
def test_any_token_roundtrips(token: Token):
    data = encode_token(token)
    back = decode_token(data, source=SOURCE)
    assert back == token
    assert dict(back.extra) == dict(token.extra)
    # Deterministic bytes: the same token always encodes the same way.
    assert encode_token(back) == data


def _mutated(**changes: object) -> bytes:
    fields = valid_fields()
    for name, value in changes.items():
        if value is _DROP:
            fields.pop(name)
        else:
            fields[name] = value
    return json.dumps(fields).encode()


_DROP = object()
_VALID = encode_token(full_token())

CORRUPT = {
    "empty": b"",
    "whitespace": b"  \n",
    "garbage": b"\x00\xff\xfe garbage " + ACCESS.encode(),
    "not utf-8": b'{"access_token": "\xff' + ACCESS.encode() + b'"}',
    "truncated": _VALID[: len(_VALID) // 2],
    "truncated after the secret": _VALID[: _VALID.index(REFRESH.encode()) + len(REFRESH) + 1],
    "a list": json.dumps([ACCESS, REFRESH]).encode(),
    "a string": json.dumps(ACCESS).encode(),
    "no version": _mutated(version=_DROP),
    "version 2": _mutated(version=2),
    "version as text": _mutated(version="1"),
    "version true": _mutated(version=True),
    "unknown field": _mutated(password=ACCESS),
    "secret as a field name": _mutated(**{ACCESS: "x"}),
    "no access token": _mutated(access_token=_DROP),
    "no broker": _mutated(broker=_DROP),
    "access token a number": _mutated(access_token=12345),
    "access token null": _mutated(access_token=None),
    "broker a list": _mutated(broker=["webull"]),
    "token type null": _mutated(token_type=None),
    "refresh token an object": _mutated(refresh_token={"v": REFRESH}),
    "scope a number": _mutated(scope=3),
    "expiry a number": _mutated(expires_at=1767323045),
    "expiry not a date": _mutated(expires_at="tomorrow " + ACCESS),
    "naive expiry": _mutated(expires_at="2026-01-02T03:04:05"),
    "naive issued_at": _mutated(issued_at="2026-01-02T03:04:05"),
    "expiry out of range": _mutated(expires_at="0001-01-01T00:00:00+05:00"),
    "extra a list": _mutated(extra=["a"]),
    "extra with a number": _mutated(extra={"n": 1}),
    "duplicate key": _VALID.replace(b'"version": 1', b'"version": 1, "access_token": "x"'),
    "NaN": _mutated(scope=_DROP).replace(b'"version": 1', b'"version": 1, "scope": NaN'),
    "deeply nested": b"[" * 60000,
    "a number of 5000 digits": _mutated(scope=_DROP).replace(
        b'"version": 1', b'"version": 1, "scope": ' + b"7" * 5000
    ),
    "version of 4000 digits": _mutated(version=_DROP).replace(
        b"{", b'{"version": ' + b"9" * 4000 + b", ", 1
    ),
    "huge": _mutated(scope="s" * MAX_TOKEN_BYTES),
    "huge garbage": b"x" * (MAX_TOKEN_BYTES * 4),
}


@pytest.mark.parametrize("data", CORRUPT.values(), ids=CORRUPT.keys())
def test_corrupt_data_is_one_clear_error_without_secrets(data: bytes):
    with pytest.raises(CorruptStoreError) as caught:
        decode_token(data, source=SOURCE, key=TokenKey("prod", "default"))
    error = caught.value
    text = str(error)
    assert SOURCE in error.message
    assert error.hint is not None
    assert "brokerauth logout prod --user default" in error.hint
    for secret in (ACCESS, REFRESH):
        assert secret not in text
        assert secret not in repr(error)
    # No raw json/cattrs exception rides along to show up in a traceback.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_corrupt_messages_say_what_is_wrong():
    def problem(data: bytes) -> str:
        with pytest.raises(CorruptStoreError) as caught:
            decode_token(data, source=SOURCE)
        return caught.value.message

    assert "not valid JSON" in problem(CORRUPT["truncated"])
    assert "format version 2" in problem(CORRUPT["version 2"])
    assert "'password'" in problem(CORRUPT["unknown field"])
    assert "access_token" in problem(CORRUPT["no access token"])
    assert "'access_token' should be a string" in problem(CORRUPT["access token a number"])
    assert "no time zone" in problem(CORRUPT["naive expiry"])
    assert "bytes" in problem(CORRUPT["huge"])
    assert "twice" in problem(CORRUPT["duplicate key"])
    # Without a profile the hint still names the command.
    with pytest.raises(CorruptStoreError) as caught:
        decode_token(b"{", source=SOURCE)
    assert caught.value.hint is not None
    assert "brokerauth logout PROFILE" in caught.value.hint


def test_a_token_too_large_to_read_back_is_not_encoded():
    token = Token(ACCESS, "webull", extra={"blob": "x" * MAX_TOKEN_BYTES})
    with pytest.raises(StoreError) as caught:
        encode_token(token)
    assert not isinstance(caught.value, CorruptStoreError)
    assert ACCESS not in str(caught.value)


def test_the_same_bytes_read_again_give_the_same_token_and_the_memory_stays_bounded():
    data = encode_token(full_token())
    first = decode_token(data, source=SOURCE)
    assert decode_token(bytes(data), source=SOURCE) is first  # unchanged bytes: not parsed
    for n in range(200):  # many other tokens read since: only the latest few are kept
        decode_token(encode_token(Token(access_token=f"other-{n}", broker="webull")),
                     source=SOURCE)
    again = decode_token(data, source=SOURCE)
    assert again == first
    assert again is not first  # forgotten, parsed anew


def test_bytes_one_byte_away_from_a_token_read_before_are_still_refused():
    data = encode_token(full_token())
    assert decode_token(data, source=SOURCE).access_token == ACCESS
    tampered = data.replace(b'"version": 1', b'"version": 7')
    with pytest.raises(CorruptStoreError, match="format version 7"):
        decode_token(tampered, source=SOURCE)
    twice = data[:-1] + b', "access_token": "planted"}'  # a key given twice
    with pytest.raises(CorruptStoreError):
        decode_token(twice, source=SOURCE)


def _read_then_logged_out(save: Callable[[Token], None], load: Callable[[], Token | None],
                          delete: Callable[[], bool]) -> weakref.ref[Token]:
    """A token stored, read (so the decoder remembers it), and logged out: a weak reference
    to the token that was read, which nothing should keep alive after the logout."""
    save(full_token())
    token = load()
    assert token is not None
    assert load() is token  # remembered: the second read was not parsed
    gone = weakref.ref(token)
    del token
    assert delete() is True
    gc.collect()
    return gone


def test_a_file_store_logout_leaves_no_token_in_the_decoders_memory(tmp_path: Path) -> None:
    from brokerauth.builtin import filestore
    from brokerauth.builtin.filestore import FileStoreOptions
    from brokerauth.contract.tokens import TokenKey

    options, key = FileStoreOptions(path=str(tmp_path / "tokens")), TokenKey("memo", "alice")
    gone = _read_then_logged_out(lambda token: filestore.save(key, token, options),
                                 lambda: filestore.load(key, options),
                                 lambda: filestore.delete(key, options))
    assert gone() is None


def test_a_sql_store_logout_leaves_no_token_in_the_decoders_memory(tmp_path: Path) -> None:
    sql_options = pytest.importorskip("brokerauth_sql.options")
    sql_plugin = pytest.importorskip("brokerauth_sql.plugin")
    from brokerauth.contract.tokens import TokenKey

    store = sql_plugin.SqlPlugin().make_store(
        sql_options.SqlStoreOptions(url=f"sqlite:///{tmp_path / 'tokens.db'}"))
    key = TokenKey("memo", "alice")
    try:
        gone = _read_then_logged_out(lambda token: store.save(key, token),
                                     lambda: store.load(key), lambda: store.delete(key))
    finally:
        store.close()
    assert gone() is None


def test_forget_all_forgets_every_remembered_token() -> None:
    data = encode_token(full_token())
    first = decode_token(data, source=SOURCE)
    forget_all()
    assert decode_token(data, source=SOURCE) is not first
