"""The Futu SDK's token file format, and the one shape of a Futu OAuth token in brokerauth.

The SDK keeps one login per client id in ``~/.futu/openapi/tokens/<client_id>``::

    {"client_id": "...", "access_token": "...", "refresh_token": "..." | null,
     "expires_at": 1773318421}

(``expires_at`` in Unix seconds).  That file holds nothing else, so a token this plugin makes
holds nothing else either (:func:`oauth_token`): whole-second expiry, no issue time, no scope.
A token read back from the file is then equal to the one written, and whether a token came
from a login, a refresh or the SDK's file makes no difference anywhere.  The account facts a
token answer carries (:mod:`brokerauth_futu.account`) are not credentials: they are kept in
the plugin's login record beside the file, never in it, so the file stays the SDK's format.

Decoding is strict about the four fields and tolerant of fields a newer SDK may add; no
message ever quotes a value from the file, since a damaged file may still hold a live token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth.contract.tokens import Token

BROKER: Final = "futu"
#: ``Token.extra`` keys (non-secret facts).
EXTRA_CLIENT_ID: Final = "client_id"
EXTRA_MODE: Final = "mode"

#: A token file larger than this is damage or an attack, not a token.
MAX_BYTES: Final = 64 * 1024
# Unix seconds between 1970 and year 9999: anything else is not an expiry.
_MAX_EPOCH: Final = 253_402_300_799
# A client id becomes a file name: letters, digits and ``._-`` (UUIDs, as Futu issues), so it
# can never name a path outside the token folder.
_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def valid_client_id(client_id: str) -> bool:
    return bool(_CLIENT_ID.fullmatch(client_id))


def check_client_id(client_id: str) -> str:
    """``client_id`` if it can be a file name, else a :class:`StoreError` (value not shown,
    as it came from a server or a file)."""
    if not valid_client_id(client_id):
        raise StoreError(
            "the OAuth client id is not usable as a token file name (only letters, digits, "
            "'.', '_' and '-', at most 200 characters)",
            hint="use a client id as Futu issues them (a UUID)",
        )
    return client_id


def oauth_token(
    *,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime,
    client_id: str,
    identity: str | None,
    facts: Mapping[str, str] | None = None,
) -> Token:
    """A Futu OAuth token holding exactly what the SDK's file can hold, and the login's
    account ``facts``."""
    whole = datetime.fromtimestamp(int(expires_at.timestamp()), UTC)
    return Token(
        access_token=access_token,
        broker=BROKER,
        expires_at=whole,
        refresh_token=refresh_token,
        identity=identity,
        extra={**(facts or {}), EXTRA_CLIENT_ID: client_id, EXTRA_MODE: "oauth"},
    )


def fits_sdk_file(token: Token) -> bool:
    """Whether ``token`` can be written in the SDK's format without losing anything that
    matters: an OAuth token with a client id and an expiry."""
    client_id = token.extra.get(EXTRA_CLIENT_ID)
    return (
        token.broker == BROKER
        and token.extra.get(EXTRA_MODE, "oauth") == "oauth"
        and isinstance(client_id, str)
        and valid_client_id(client_id)
        and token.expires_at is not None
    )


def encode(token: Token) -> bytes:
    """The SDK file's bytes for ``token`` (which must :func:`fit <fits_sdk_file>`)."""
    assert token.expires_at is not None
    document = {
        "client_id": token.extra[EXTRA_CLIENT_ID],
        "access_token": token.access_token,
        "refresh_token": token.refresh_token,
        "expires_at": int(token.expires_at.timestamp()),
    }
    return json.dumps(document, ensure_ascii=True).encode("ascii")


def decode(data: bytes, *, source: str, client_id: str, identity: str | None) -> Token:
    """Parse an SDK token file found under ``client_id``.

    :raises ~brokerauth.contract.errors.CorruptStoreError: it is not an SDK token for that client.
    """
    fields = _parse(data, source)
    if fields.get("client_id") != client_id:
        problem = (
            "it has no client_id" if "client_id" not in fields
            else "it names another client id than its file name"
        )
        raise _corrupt(source, problem)
    access = fields.get("access_token")
    if not isinstance(access, str) or not access:
        raise _corrupt(source, "its access_token is missing or not text")
    refresh = fields.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise _corrupt(source, "its refresh_token is neither text nor null")
    expires = fields.get("expires_at")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise _corrupt(source, "its expires_at is not a number of Unix seconds")
    if not 0 <= expires <= _MAX_EPOCH:
        raise _corrupt(source, "its expires_at is out of range")
    return oauth_token(
        access_token=access,
        refresh_token=refresh,
        expires_at=datetime.fromtimestamp(int(expires), UTC),
        client_id=client_id,
        identity=identity,
    )


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A key given twice means two writers interleaved; taking either could pair an access
    # token with another generation's refresh token.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Duplicate
        result[key] = value
    return result


def _parse(data: bytes, source: str) -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise _corrupt(source, f"it is larger than {MAX_BYTES} bytes")
    if not data.strip():
        raise _corrupt(source, "it is empty")
    try:
        parsed = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate:
        raise _corrupt(source, "it names a field twice") from None
    except UnicodeDecodeError:
        raise _corrupt(source, "it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _corrupt(source, f"it is not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError):
        raise _corrupt(source, "it is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _corrupt(source, "it is not a JSON object")
    return parsed


def _corrupt(source: str, problem: str) -> CorruptStoreError:
    return CorruptStoreError(
        f"Futu token file {source} cannot be read: {problem}",
        hint=f"delete {source} (or log out), then log in again; it was left untouched so you "
        "can inspect it first",
    )
