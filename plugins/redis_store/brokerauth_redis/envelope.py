"""The bytes a token becomes in Redis, in clear or encrypted.

* In clear: exactly :func:`brokerauth.tokencodec.encode_token`'s JSON, so a stored token
  looks the same in Redis as in a token file.
* Encrypted: ``fernet1:`` followed by a Fernet token (AES-128-CBC with HMAC-SHA256, from the
  ``cryptography`` library).  The plaintext is the JSON array ``[profile, identity]``, a
  newline, then the token's JSON: binding the entry to its profile and identity means a
  person who can write to Redis but lacks the key cannot move one profile's token into
  another's place — Fernet authenticates the whole plaintext.

A store given an encryption key refuses an entry in clear: someone able to write to Redis
could otherwise plant a token of their choosing.  No message quotes stored data.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from brokerauth.errors import ConfigError, CorruptStoreError, StoreError
from brokerauth.secrets import Secret
from brokerauth.tokencodec import decode_token, encode_token
from brokerauth.tokens import Token, TokenKey

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["ENCRYPTED_MARK", "make_cipher", "open_token", "seal_token"]

#: What an encrypted entry starts with; the digit is the envelope's version.
ENCRYPTED_MARK = b"fernet1:"
_GENERATE = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def make_cipher(secret: Secret) -> MultiFernet:
    """The cipher for an ``encryption_key`` reference: one Fernet key, or several separated by
    commas, the first encrypting and every one decrypting (so keys can be rotated).

    :raises ~brokerauth.errors.ConfigError: the reference holds no valid Fernet key.
    :raises ~brokerauth.errors.SecretUnavailableError: the reference cannot be resolved.
    """
    from cryptography.fernet import Fernet, MultiFernet

    keys = [part.strip() for part in secret.reveal().split(",") if part.strip()]
    ciphers: list[Fernet] = []
    for position, key in enumerate(keys, start=1):
        try:
            ciphers.append(Fernet(key))
        except (ValueError, TypeError):
            # cryptography's message is fixed text, but the key is never worth the risk.
            which = f"key {position} of {len(keys)}" if len(keys) > 1 else "it"
            raise ConfigError(
                f"the redis store's encryption_key ({secret.source}) is not a Fernet key: "
                f"{which} is not 32 url-safe base64-encoded bytes",
                hint=f"make a key with: {_GENERATE}",
            ) from None
    if not ciphers:
        raise ConfigError(
            f"the redis store's encryption_key ({secret.source}) is empty",
            hint=f"make a key with: {_GENERATE}",
        )
    return MultiFernet(ciphers)


def seal_token(token: Token, key: TokenKey, cipher: MultiFernet | None) -> bytes:
    """The bytes to store for ``token`` under ``key``."""
    data = encode_token(token)
    if cipher is None:
        return data
    return ENCRYPTED_MARK + cipher.encrypt(_binding(key) + data)


def open_token(
    data: bytes, key: TokenKey, cipher: MultiFernet | None, *, source: str, key_source: str
) -> Token:
    """The token stored as ``data`` under ``key``.

    :param source: the entry's name and server, for messages.
    :param key_source: where the encryption key comes from (``env:NAME``), for messages.
    :raises ~brokerauth.errors.CorruptStoreError: the entry cannot be decrypted or parsed.
    :raises ~brokerauth.errors.StoreError: the entry is encrypted and no key was given, or
        in clear where a key was given.
    """
    logout = f"`brokerauth logout {key.profile}`"
    if not data.startswith(ENCRYPTED_MARK):
        if cipher is not None:
            raise StoreError(
                f"stored token {source} is not encrypted, but the store has an encryption_key; "
                "it is not used, since anyone able to write to Redis could have planted it",
                hint=f"run {logout} and log in again: the new token is stored encrypted",
            )
        return decode_token(data, source=source, profile=key.profile)
    if cipher is None:
        raise StoreError(
            f"stored token {source} is encrypted, and the profile's redis store has no "
            "encryption_key",
            hint='add the key the rest of the fleet uses: encryption_key = { env = "NAME" }',
        )
    from cryptography.fernet import InvalidToken

    try:
        plain = cipher.decrypt(data[len(ENCRYPTED_MARK):])
    except InvalidToken:
        raise CorruptStoreError(
            f"stored token {source} cannot be decrypted with the store's encryption_key "
            f"({key_source}): it was encrypted with another key, or altered",
            hint="give the key the rest of the fleet uses; if the key is lost or the entry "
            f"damaged, {logout} removes it, then log in again",
        ) from None
    binding, separator, body = plain.partition(b"\n")
    if not separator or binding + separator != _binding(key):
        raise CorruptStoreError(
            f"stored token {source} was encrypted for another profile or identity, so it was "
            "moved there by hand or by someone with write access to Redis",
            hint=f"run {logout} and log in again",
        )
    return decode_token(body, source=source, profile=key.profile)


def _binding(key: TokenKey) -> bytes:
    # A JSON array keeps the pair unambiguous whatever characters the names hold.
    return json.dumps([key.profile, key.identity], ensure_ascii=True).encode("ascii") + b"\n"
