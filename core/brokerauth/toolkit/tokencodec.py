"""Tokens as bytes: the format every byte-oriented store (file, keyring, Redis) writes.

The format is a JSON object with a ``"version": 1`` field next to the token's fields, times
as ISO 8601 strings in UTC.  :func:`decode_token` is strict on purpose: a store that half
understands a damaged entry would hand the core a token that fails at the broker, so
anything unexpected becomes one :class:`~brokerauth.contract.errors.CorruptStoreError` that names
the entry and the way out.  No message ever quotes a value from the data: a damaged entry
may still hold a live access or refresh token.

Decoding is on every store read, and a store re-reads the same entry often (each waiter for a
refresh re-reads until the new token is there; every process reads the one token of a
fleet), so :func:`decode_token` remembers the tokens of the last few distinct byte strings it
decoded: the same bytes give the same (immutable) token without being parsed again (a
dictionary look-up instead of ~15 µs).  Bytes seen for the first time are read as strictly
as ever; an error is never remembered.  A store's delete (a logout) calls :func:`forget_all`,
so a logged-out token, secrets and all, is not kept in memory by the memo.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.converter import make_converter, structure_plain

if TYPE_CHECKING:
    import cattrs

__all__ = ["FORMAT_VERSION", "MAX_TOKEN_BYTES", "decode_token", "encode_token", "forget_all"]

#: The version written by :func:`encode_token`; bumped only for an incompatible change.
FORMAT_VERSION = 1
#: Real tokens (even JWTs with many claims) are a few KiB; a bigger entry is damage or an
#: attack, and refusing it early keeps a hostile file from costing memory and time.
MAX_TOKEN_BYTES = 64 * 1024

_REQUIRED_STR = ("access_token", "broker")
_OPTIONAL_STR = ("refresh_token", "scope", "identity")
_DEFAULTED_STR = ("token_type",)
_TIMES = ("expires_at", "refresh_expires_at", "issued_at", "last_used_at", "hard_expires_at")
_SECONDS = ("idle_timeout",)
_KNOWN = frozenset((*_REQUIRED_STR, *_OPTIONAL_STR, *_DEFAULTED_STR, *_TIMES, *_SECONDS,
                    "extra"))
# Field names from a damaged file are shown only when they look like names, so a stray
# secret used as a key never reaches a message.
_SHOWABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
#: Tokens decoded from the last distinct byte strings (bytes -> token), at most this many.
_REMEMBERED = 32
_decoded: dict[bytes, Token] = {}
# Counts the forget_all calls: a decode that began before one does not put its token back.
_forgotten = [0]


@cache
def _converter() -> cattrs.Converter:
    # Built on first use rather than at import: commands that never touch a store should not
    # pay for building a converter.
    return make_converter()


def encode_token(token: Token) -> bytes:
    """The bytes to store for ``token``: UTF-8 JSON, times in UTC, with a format version.

    :raises ~brokerauth.contract.errors.StoreError: the token is too large to be read back.
    """
    try:
        fields = _converter().unstructure(token)
    except (OverflowError, ValueError):
        # Only a time at the very edge of the calendar gets here (it has no UTC equivalent).
        raise StoreError(
            f"the {token.broker!r} token has a time that cannot be expressed in UTC; "
            "it was not stored",
            hint="this is a bug in the broker plugin or the broker's answer; report it",
        ) from None
    import json  # here, not at import: the store imports this module to look for a token

    # ASCII-only output: a token holding an unpaired surrogate still encodes, and the file
    # stays readable in any editor a user opens it with.
    text = json.dumps({"version": FORMAT_VERSION, **fields}, sort_keys=True, ensure_ascii=True)
    data = text.encode("ascii")
    if len(data) > MAX_TOKEN_BYTES:
        raise StoreError(
            f"the {token.broker!r} token is {len(data)} bytes once encoded, more than the "
            f"{MAX_TOKEN_BYTES} a store accepts; it was not stored",
            hint="this is a bug in the broker plugin or the broker's answer; report it",
        )
    return data


def decode_token(data: bytes, *, source: str, key: TokenKey | None = None) -> Token:
    """Parse bytes written by :func:`encode_token`.

    :param source: the file path or entry name, used in error messages.
    :param key: the profile and user the entry belongs to, to name the exact logout command.
    :raises ~brokerauth.contract.errors.CorruptStoreError: the bytes are not a version 1 token.
    """
    remembered = _decoded.get(data) if type(data) is bytes else None
    if remembered is not None:
        return remembered
    forgotten = _forgotten[0]
    token = _decode(data, source, key)
    if type(data) is bytes and forgotten == _forgotten[0]:
        if len(_decoded) >= _REMEMBERED:
            try:
                # The oldest goes (dicts keep insertion order).
                _decoded.pop(next(iter(_decoded)), None)
            except (StopIteration, RuntimeError):
                _decoded.clear()  # another thread changed it meanwhile: start afresh
        _decoded[data] = token
    return token


def forget_all() -> None:
    """Forget every remembered token (and the bytes it was read from): called by a store's
    delete, so that a logged-out token's secrets do not stay in memory.  Deletes are rare,
    so all of them go, whatever store or entry they came from; the next read of each parses
    its bytes again."""
    _forgotten[0] += 1
    _decoded.clear()


def _decode(data: bytes, source: str, key: TokenKey | None) -> Token:
    problem = _check_size_and_parse(data)
    if isinstance(problem, str):
        raise _corrupt(source, key, problem)
    fields = problem
    version = fields.pop("version", None)
    if version is None:
        raise _corrupt(source, key, "it has no format version")
    if type(version) is not int:
        raise _corrupt(source, key, "its format version is not a number")
    if version != FORMAT_VERSION:
        shown = f"format version {version}" if 0 <= version < 10_000 else "an unknown format"
        raise _corrupt(
            source,
            key,
            f"it has {shown}, and this brokerauth reads version {FORMAT_VERSION} "
            "(was it written by a newer brokerauth?)",
        )
    trouble = _field_problem(fields)
    if trouble is not None:
        raise _corrupt(source, key, trouble)
    # Reading a token is part of most commands' start: cattrs only when the plain way fails.
    token: Token | None = structure_plain(fields, Token)
    if token is not None:
        return token
    import cattrs

    try:
        token = _converter().structure(fields, Token)
    except (cattrs.BaseValidationError, ValueError, TypeError):
        # The checks above should leave nothing for the converter to refuse; cattrs'
        # own messages can quote values, so they are never shown.
        raise _corrupt(source, key, "its fields do not form a token") from None
    return token


def _check_size_and_parse(data: bytes) -> dict[str, Any] | str:
    """The parsed JSON object, or a description of why there is none."""
    if len(data) > MAX_TOKEN_BYTES:
        return f"it is {len(data)} bytes, more than the {MAX_TOKEN_BYTES} a token may take"
    if not data.strip():
        return "it is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    import json

    from brokerauth.contract.jsontext import DuplicateKeyError, unique_object  # with json: on use

    try:
        # A key given twice means two writers interleaved or a hand edit went wrong; taking
        # either could pair an access token with another generation's refresh token.  The
        # rule is the one token answers are read by (brokerauth.contract.jsontext).
        parsed = json.loads(text, object_pairs_hook=unique_object, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        # ``exc.msg`` is a fixed phrase ("Expecting value"); ``str(exc)`` is avoided as it
        # is built from the document.
        return f"it is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except DuplicateKeyError as exc:
        return f"it names {_show_names([exc.key])} twice"
    except _Refused as exc:
        return str(exc)
    except ValueError:
        # Python refuses integers of thousands of digits (CVE-2020-10735 limit).
        return "it holds a number with far too many digits"
    except RecursionError:
        return "it is not a token: its JSON is nested far too deeply"
    if not isinstance(parsed, dict):
        return f"it holds a JSON {_json_type(parsed)}, not an object"
    return parsed


class _Refused(ValueError):
    """Raised from inside the JSON parser with a description safe to show."""


def _no_constants(name: str) -> Any:
    raise _Refused("it uses NaN or Infinity, which JSON does not have")


def _field_problem(fields: dict[str, Any]) -> str | None:
    """A description of the first thing wrong with the token's fields, or ``None``."""
    unknown = sorted(set(fields) - _KNOWN)
    if unknown:
        return f"it has unknown fields: {_show_names(unknown)}"
    missing = [name for name in _REQUIRED_STR if name not in fields]
    if missing:
        return f"required fields are missing: {', '.join(missing)}"
    for name in _REQUIRED_STR + _DEFAULTED_STR:
        if name in fields and not isinstance(fields[name], str):
            return f"field {name!r} should be a string, not a JSON {_json_type(fields[name])}"
    for name in _OPTIONAL_STR:
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            return f"field {name!r} should be a string or null, not a JSON {_json_type(value)}"
    for name in _TIMES:
        problem = _time_problem(name, fields.get(name))
        if problem is not None:
            return problem
    for name in _SECONDS:
        value = fields.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not 0 < value <= 10 * 366 * 86400):
            return f"field {name!r} should be a number of seconds up to 10 years, or null"
    extra = fields.get("extra", {})
    if not isinstance(extra, dict):
        return f"field 'extra' should be an object, not a JSON {_json_type(extra)}"
    for value in extra.values():
        if not isinstance(value, str):
            return f"field 'extra' should map names to strings, not to a JSON {_json_type(value)}"
    return None


def _time_problem(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"field {name!r} should be an ISO 8601 string, not a JSON {_json_type(value)}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"field {name!r} is not an ISO 8601 date-time"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return f"field {name!r} has no time zone (times are stored in UTC)"
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        return f"field {name!r} is out of range"
    return None


def _json_type(value: Any) -> str:
    # Names only, never the value.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show_names(names: list[str]) -> str:
    shown = [repr(n) for n in names if _SHOWABLE_NAME.fullmatch(n)]
    hidden = len(names) - len(shown)
    if hidden:
        shown.append(f"{hidden} more with unusual names")
    return ", ".join(shown)


def _corrupt(source: str, key: TokenKey | None, problem: str) -> CorruptStoreError:
    from brokerauth.contract.commands import for_key

    logout = for_key("logout", key) if key is not None else "brokerauth logout PROFILE"
    return CorruptStoreError(
        f"stored token {source} cannot be read: {problem}",
        hint=f"run `{logout}` (or delete {source}), then log in again; "
        "brokerauth leaves the entry untouched so you can inspect it first",
    )
