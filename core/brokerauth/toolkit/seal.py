"""Sealed tokens: a stored credential sealed with a key, to carry it where no person can log
in (a container, a CI runner), and opened there with the same key.

The sealed form is one line of ASCII, so it fits a file, a Docker secret or a CI variable::

    brokerauth-sealed-v1.<header, base64>.<ciphertext and tag, base64>

The header is JSON: the broker, the identity and the profile the token was sealed from, when,
the scrypt parameters and salt, the AES-GCM nonce and a key check.  The key is a secret given
by reference (a passphrase or random text, at least :data:`MIN_KEY_LENGTH` characters);
scrypt turns it into 64 bytes: 32 for AES-256-GCM, 32 for the key check (16 bytes of an
HMAC, so a wrong key is told apart from a damaged file; it tells an attacker nothing the GCM
tag would not).  The plaintext is the token in the store's own format
(:mod:`brokerauth.toolkit.tokencodec`), and everything before the second dot (the version
and the header, hence the broker and the identity) is the associated data: a file cannot be
moved to another broker or identity, nor its parameters changed, without failing to open.

Opening is strict and bounded: the size, the header's fields and the scrypt cost are checked
before any key is derived, so a hostile file cannot make us allocate more than
:data:`MAX_SCRYPT_MEMORY`.  Every refusal is a
:class:`~brokerauth.contract.errors.SealedTokenError` naming the reason, never quoting the
content.  ``cryptography`` is imported only here, and only when sealing or opening.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from datetime import datetime
from typing import Any, Final

import attrs

from brokerauth.contract.clock import utc_text
from brokerauth.contract.errors import CorruptStoreError, SealedTokenError
from brokerauth.contract.tokens import Token
from brokerauth.toolkit.tokencodec import MAX_TOKEN_BYTES, decode_token, encode_token

__all__ = [
    "FORMAT_VERSION",
    "MAX_SCRYPT_MEMORY",
    "MAX_SEALED_BYTES",
    "MIN_KEY_LENGTH",
    "Opened",
    "ScryptCost",
    "open_sealed",
    "seal_token",
]

#: The version written; a reader refuses any other with a clear message.
FORMAT_VERSION: Final = 1
PREFIX: Final = "brokerauth-sealed-v"
#: Shorter keys are refused when sealing: the file may be copied anywhere, and scrypt only
#: slows a guesser down.
MIN_KEY_LENGTH: Final = 16
#: The most memory scrypt may take for a file we read (128 * n * r bytes): 4 times what
#: :data:`DEFAULT_COST` takes, room for stronger parameters later and far below gigabytes.
MAX_SCRYPT_MEMORY: Final = 128 * 1024 * 1024
#: scrypt's parallelism costs time, not memory; bounded so a file cannot cost minutes.
MAX_SCRYPT_P: Final = 4
#: A token is at most 64 KiB in the store; sealed and in base64 it stays below this.
MAX_SEALED_BYTES: Final = 4 * MAX_TOKEN_BYTES
_MAX_HEADER_CHARS: Final = 4096
_MAX_NAME: Final = 200
_NONCE_BYTES: Final = 12
_SALT_BYTES: Final = 16
_CHECK_BYTES: Final = 16
_TAG_BYTES: Final = 16
_CIPHER: Final = "AES-256-GCM"
_KDF: Final = "scrypt"
_CHECK_LABEL: Final = b"brokerauth sealed token: key check"
_HEADER_FIELDS: Final = frozenset(
    {"broker", "identity", "profile", "sealed_at", "cipher", "nonce", "kdf", "n", "r", "p",
     "salt", "check"}
)
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_VERSION: Final = re.compile(r"[0-9]{1,6}")
_INSTALL: Final = "pip install 'brokerauth[seal]'"


@attrs.frozen
class ScryptCost:
    """scrypt's parameters: ``n`` (a power of 2), ``r`` and ``p``; memory is 128·n·r bytes."""

    n: int
    r: int
    p: int

    @property
    def memory(self) -> int:
        return 128 * self.n * self.r


#: 32 MiB and about a tenth of a second per seal or open: what a laptop and a small container
#: both afford, and a guesser pays for every guess.
DEFAULT_COST: Final = ScryptCost(n=2**15, r=8, p=1)


@attrs.frozen
class Opened:
    """A sealed file's token and what its (authenticated) header says about it."""

    token: Token
    broker: str
    identity: str
    profile: str
    sealed_at: datetime


def seal_token(
    token: Token,
    key: str,
    *,
    identity: str,
    profile: str,
    now: datetime,
    cost: ScryptCost = DEFAULT_COST,
) -> bytes:
    """``token`` sealed with ``key``, bound to its broker and to ``identity``: one ASCII line.

    :raises ~brokerauth.contract.errors.SealedTokenError: the key is too short (``key``), or
        ``cryptography`` is missing (``package``).
    """
    if len(key) < MIN_KEY_LENGTH:
        raise SealedTokenError(
            f"the sealing key is shorter than {MIN_KEY_LENGTH} characters", reason="key",
            hint="make a random one, e.g. `python -c \"import secrets; "
            "print(secrets.token_urlsafe(32))\" > seal.key && chmod 600 seal.key`",
        )
    aesgcm = _aesgcm()
    salt, nonce = os.urandom(_SALT_BYTES), os.urandom(_NONCE_BYTES)
    cipher_key, check = _derive(key, salt, cost)
    header = {
        "broker": token.broker, "identity": identity, "profile": profile,
        "sealed_at": utc_text(now), "cipher": _CIPHER,
        "nonce": _b64(nonce), "kdf": _KDF, "n": cost.n, "r": cost.r, "p": cost.p,
        "salt": _b64(salt), "check": _b64(check),
    }
    import json

    header_text = json.dumps(header, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    associated = f"{PREFIX}{FORMAT_VERSION}.{_b64(header_text.encode('ascii'))}"
    sealed = aesgcm(cipher_key).encrypt(nonce, encode_token(token), associated.encode("ascii"))
    return f"{associated}.{_b64(sealed)}\n".encode("ascii")


def open_sealed(
    data: bytes, key: str, *, broker: str, identity: str, source: str
) -> Opened:
    """The token sealed in ``data``, if ``key`` opens it and it is ``broker``'s token for
    ``identity``.

    :param source: what ``data`` is (a file name, ``standard input``), for messages.
    :raises ~brokerauth.contract.errors.SealedTokenError: with ``reason`` ``damaged`` (not a
        sealed token, truncated, changed after sealing, or asking for more than the bounds),
        ``version``, ``key``, ``broker``, ``identity`` or ``package``.
    """
    associated, header, sealed = _parse(data, source)
    cost = ScryptCost(n=header["n"], r=header["r"], p=header["p"])
    aesgcm = _aesgcm()
    cipher_key, check = _derive(key, _unb64(header["salt"]), cost)
    if not hmac.compare_digest(check, _unb64(header["check"])):
        raise SealedTokenError(
            f"{source}: the key given does not open this sealed token (or its header was "
            "changed)", reason="key",
            hint="give the key it was sealed with (`brokerauth export ... --key-env/--key-file`)"
            "; a key read from a file loses its surrounding whitespace, one from a variable "
            "does not",
        )
    from cryptography.exceptions import InvalidTag

    try:
        plain = aesgcm(cipher_key).decrypt(_unb64(header["nonce"]), sealed,
                                           associated.encode("ascii"))
    except InvalidTag:
        raise _damaged(source, "it was changed or truncated after it was sealed") from None
    try:
        token = decode_token(plain, source=source)
    except CorruptStoreError:
        raise _damaged(source, "its token is not one this brokerauth reads") from None
    if token.broker != header["broker"]:
        raise _damaged(source, "its token and its header name different brokers")
    if header["broker"] != broker:
        raise SealedTokenError(
            f"{source} holds a credential of broker {header['broker']!r}, and the profile is "
            f"for broker {broker!r}; nothing was stored", reason="broker",
            hint="import it into a profile of the broker it was exported from",
        )
    if header["identity"] != identity:
        raise SealedTokenError(
            f"{source} holds the credential of identity {header['identity']!r}, not "
            f"{identity!r}; nothing was stored", reason="identity",
            hint=f"import it with --user {header['identity']}, or export the identity you mean",
        )
    return Opened(token=token, broker=header["broker"], identity=header["identity"],
                  profile=header["profile"],
                  sealed_at=datetime.fromisoformat(header["sealed_at"]))


def _parse(data: bytes, source: str) -> tuple[str, dict[str, Any], bytes]:
    """The associated data, the checked header and the ciphertext, before any key work."""
    if len(data) > MAX_SEALED_BYTES:
        raise _damaged(source, f"it is larger than the {MAX_SEALED_BYTES // 1024} KiB a sealed "
                       "token takes")
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise _not_sealed(source) from None
    if not text.startswith(PREFIX):
        raise _not_sealed(source)
    parts = text.split(".")
    version = parts[0][len(PREFIX):]
    if not _VERSION.fullmatch(version):
        raise _not_sealed(source)
    if int(version) != FORMAT_VERSION:
        raise SealedTokenError(
            f"{source} is sealed in format version {int(version)}, and this brokerauth opens "
            f"version {FORMAT_VERSION}", reason="version",
            hint="open it with the brokerauth version that exported it, or export it again "
            "with this one",
        )
    if len(parts) != 3 or not parts[2]:
        raise _damaged(source, "it is truncated (a part is missing)")
    if len(parts[1]) > _MAX_HEADER_CHARS:
        raise _damaged(source, "its header is larger than any sealed token's")
    header = _header(_decode64(parts[1], source, "header"), source)
    sealed = _decode64(parts[2], source, "sealed token")
    if len(sealed) <= _TAG_BYTES:
        raise _damaged(source, "it is truncated (the sealed token is too short)")
    return f"{parts[0]}.{parts[1]}", header, sealed


def _header(raw: bytes, source: str) -> dict[str, Any]:
    import json

    from brokerauth.contract.jsontext import JsonLimitError, unique_object

    try:
        header = json.loads(raw.decode("ascii"), object_pairs_hook=unique_object)
    except (UnicodeDecodeError, JsonLimitError, ValueError, RecursionError):
        raise _damaged(source, "its header is not valid JSON") from None
    if not isinstance(header, dict) or set(header) != _HEADER_FIELDS:
        raise _damaged(source, "its header does not have the fields of a sealed token")
    for name in ("broker", "identity", "profile"):
        value = header[name]
        if not isinstance(value, str) or not 0 < len(value) <= _MAX_NAME \
                or not value.isprintable():
            raise _damaged(source, f"its header's {name} is not a name")
    if header["cipher"] != _CIPHER or header["kdf"] != _KDF:
        raise _damaged(source, f"it is not sealed with {_CIPHER} and {_KDF}")
    for name, size in (("nonce", _NONCE_BYTES), ("salt", _SALT_BYTES),
                       ("check", _CHECK_BYTES)):
        value = header[name]
        if not isinstance(value, str) or len(value) > 64 or not _BASE64.fullmatch(value) \
                or len(_decode64(value, source, f"header's {name}")) != size:
            raise _damaged(source, f"its header's {name} is not {size} bytes of base64")
    for name in ("n", "r", "p"):
        if type(header[name]) is not int or header[name] < 1:
            raise _damaged(source, f"its header's scrypt parameter {name} is not a positive "
                           "integer")
    n, r, p = header["n"], header["r"], header["p"]
    # Checked before anything is derived: a hostile header could otherwise ask for gigabytes.
    if n < 2 or n & (n - 1) or 128 * n * r > MAX_SCRYPT_MEMORY or p > MAX_SCRYPT_P:
        raise _damaged(
            source, f"its scrypt parameters ask for more than brokerauth allows (n a power of 2, "
            f"128·n·r at most {MAX_SCRYPT_MEMORY // 2**20} MiB, p at most {MAX_SCRYPT_P})")
    try:
        sealed_at = datetime.fromisoformat(header["sealed_at"]) \
            if isinstance(header["sealed_at"], str) else None
    except ValueError:
        sealed_at = None
    if sealed_at is None or sealed_at.tzinfo is None:
        raise _damaged(source, "its header's sealing time is not an ISO 8601 time in UTC")
    return header


def _derive(key: str, salt: bytes, cost: ScryptCost) -> tuple[bytes, bytes]:
    """The AES key and the key check for ``key``."""
    derived = hashlib.scrypt(key.encode("utf-8"), salt=salt, n=cost.n, r=cost.r, p=cost.p,
                             maxmem=cost.memory + 4 * 1024 * 1024, dklen=64)
    check = hmac.new(derived[32:], _CHECK_LABEL, hashlib.sha256).digest()[:_CHECK_BYTES]
    return derived[:32], check


def _aesgcm() -> Any:
    """``cryptography``'s AESGCM class, or an error naming the extra to install."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise SealedTokenError(
            "sealing and opening tokens needs the cryptography package, which is not installed",
            reason="package", hint=_INSTALL,
        ) from None
    return AESGCM


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _decode64(text: str, source: str, what: str) -> bytes:
    try:
        return _unb64(text)
    except (binascii.Error, ValueError):
        raise _damaged(source, f"its {what} is not base64 (truncated or changed?)") from None


def _not_sealed(source: str) -> SealedTokenError:
    return _damaged(source, f"it is not a sealed brokerauth token (it should start with "
                    f"{PREFIX}{FORMAT_VERSION}.)")


def _damaged(source: str, problem: str) -> SealedTokenError:
    return SealedTokenError(
        f"{source} cannot be opened: {problem}; nothing was stored", reason="damaged",
        hint="copy the sealed file again as `brokerauth export` wrote it (one line of text), "
        "or export it again",
    )
