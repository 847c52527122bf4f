"""Read-only import of the token the official Webull SDK saved, so users switching to
brokerauth need not verify a new one by SMS.

The SDK (3.x ``TokenStorage``) keeps ``token.txt`` in ``token_dir``, else
``$WEBULL_OPENAPI_TOKEN_DIR``, else ``./conf``: three lines, the token, its expiry in epoch
milliseconds and its status (``NORMAL``...; SDK 2.x wrote the status as a number 0-3).  This
module never writes that file, and no message it produces contains any of its content.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth.contract.tokens import Token

from brokerauth_webull import codes

ENV_DIR: Final = "WEBULL_OPENAPI_TOKEN_DIR"
DEFAULT_DIR: Final = "conf"
FILE_NAME: Final = "token.txt"
BROKER: Final = "webull"
#: A real file is under 100 bytes; anything far larger is not the SDK's.
_MAX_BYTES: Final = 4096
# SDK 2.x order (its token_manager: PENDING -> 0, NORMAL -> 1, INVALID -> 2, EXPIRED -> 3).
_NUMERIC_STATUS: Final = dict(zip("0123", codes.TOKEN_STATUSES, strict=True))
_HINT: Final = (
    "let the Webull SDK write the file again, or set import_sdk_token = false in the profile"
)


def token_path(directory: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Where the SDK keeps ``token.txt``: ``directory``, else ``$WEBULL_OPENAPI_TOKEN_DIR``,
    else ``./conf`` (the SDK's own order)."""
    env = os.environ if environ is None else environ
    chosen = (directory or "").strip() or env.get(ENV_DIR, "").strip() or DEFAULT_DIR
    return Path(chosen).expanduser() / FILE_NAME


def load_sdk_token(
    directory: str | None = None, environ: Mapping[str, str] | None = None
) -> Token | None:
    """The SDK's saved token, or ``None`` when there is no file.

    The token's status is kept in ``token.extra["status"]`` (the caller decides whether a
    ``PENDING`` token is worth checking); an expiry of ``0`` (unknown to the SDK) gives
    ``expires_at=None``.

    :raises ~brokerauth.contract.errors.CorruptStoreError: the file is there but is not the SDK's
        format.
    :raises ~brokerauth.contract.errors.StoreError: the file cannot be read.
    """
    path = token_path(directory, environ)
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(
            f"cannot read the Webull SDK token file {str(path)!r} "
            f"({exc.strerror or type(exc).__name__})",
            hint="fix its permissions, or set import_sdk_token = false in the profile",
        ) from None
    return parse_sdk_token(raw, where=str(path))


def parse_sdk_token(raw: bytes, where: str = FILE_NAME) -> Token:
    """Parse the content of a ``token.txt``; errors name the line, never its content."""

    def corrupt(problem: str) -> CorruptStoreError:
        return CorruptStoreError(f"Webull SDK token file {where!r}: {problem}", hint=_HINT)

    if len(raw) > _MAX_BYTES:
        raise corrupt(f"larger than {_MAX_BYTES} bytes, not a token file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise corrupt("not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) != 3:
        raise corrupt(f"expected 3 lines (token, expires, status), found {len(lines)}")
    token, expires, status = lines
    if not token or not token.isascii() or not token.isprintable() or " " in token:
        raise corrupt("line 1 (token) is empty or not a token")
    if not expires.isascii() or not expires.isdigit():
        raise corrupt("line 2 (expires) is not a whole number of epoch milliseconds")
    status = _NUMERIC_STATUS.get(status, status.upper())
    if status not in codes.TOKEN_STATUSES:
        raise corrupt(f"line 3 (status) is not one of {', '.join(codes.TOKEN_STATUSES)}")
    millis = int(expires)
    try:
        expires_at = datetime.fromtimestamp(millis / 1000, UTC) if millis else None
    except (OverflowError, OSError, ValueError):
        raise corrupt("line 2 (expires) is out of range") from None
    return Token(
        access_token=token,
        broker=BROKER,
        expires_at=expires_at,
        token_type=codes.TOKEN_TYPE,
        extra={"status": status, "source": "webull-sdk"},
    )
