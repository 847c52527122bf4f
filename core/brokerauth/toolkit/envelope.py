"""The bytes a token becomes in a shared store, in clear or encrypted, and what an entry says
about itself: the one envelope of every store that keeps tokens in a server or a database
(the Redis store, the SQL store), so an entry means the same wherever it is kept.

An entry is the stored bytes plus two numbers kept beside them in clear: its generation
(larger for every write) and the fence of the lock holder that wrote it.  ``entry`` names
the entry in its store (the Redis key, the database row), so a sealed value is bound to
its place.

* In clear (no ``encryption_key``): the bytes are exactly
  :func:`brokerauth.toolkit.tokencodec.encode_token`'s JSON, so a stored token looks the same
  in any store as in a token file; generation and fence exist only in clear.  Nothing is
  authenticated: anyone able to write to the store can change anything.
* Encrypted: ``fernet2:`` followed by a Fernet token (AES-128-CBC with HMAC-SHA256, from the
  ``cryptography`` library) over a header line and the token's JSON.  The header is
  ``{"entry": <name>, "f": <fence>, "g": <generation>}``: binding the entry to its name
  means a person who can write to the store but lacks the key cannot move one profile's or
  identity's token into another's place, and sealing generation and fence means the clear
  copies can be checked (:class:`ReplayedEntryError` when an older value was put back) and
  that the fence a write is compared against is the one its writer sealed, not one someone
  raised by hand.  A logout leaves a sealed record with an empty body (a *logout record*),
  so the fence that keeps a still-running refresh from bringing the token back is sealed
  as well.
* ``fernet1:`` is the previous envelope (binding line, token; no generation, no fence).  It
  is still read, as generation 0, so a fleet upgrades without logging in again; the next
  write replaces it with ``fernet2:``.

Keys are Fernet keys given as a secret reference, several separated by commas (the first
encrypts, all decrypt: :class:`~cryptography.fernet.MultiFernet`), so keys rotate without a
login.  A store given an encryption key refuses an entry in clear: someone able to write to
the store could otherwise plant a token of their choosing.  No message quotes stored data.
``cryptography`` is imported only when a key is used (the core's ``seal`` extra brings it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import attrs

from brokerauth.contract.commands import for_key
from brokerauth.contract.errors import ConfigError, CorruptStoreError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import MAKE_FERNET_KEY as _GENERATE
from brokerauth.toolkit.tokencodec import MAX_TOKEN_BYTES, decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography.fernet import MultiFernet

__all__ = [
    "ENCRYPTED_MARK", "LEGACY_MARK", "MAX_NUMBER", "Entry", "ForgedEntryError",
    "ReplayedEntryError", "TamperedEntryError", "clear_number", "make_cipher", "open_entry",
    "seal_entry",
]

#: What an encrypted entry starts with; the digit is the envelope's version.
ENCRYPTED_MARK = b"fernet2:"
#: The first version: ``[profile, identity]``, a newline, the token; nothing else sealed.
LEGACY_MARK = b"fernet1:"
#: Generations and fences above this are not numbers this store writes: a clear field
#: holding one was set by hand (and Lua, which a Redis store reads fences with, is exact
#: only below 2**53).
MAX_NUMBER = 2**53 - 1
# Fernet adds about a third (base64) plus its header to the header and token it seals.
_MAX_ENTRY_BYTES = 2 * MAX_TOKEN_BYTES


class TamperedEntryError(CorruptStoreError):
    """An entry was changed by someone able to write to the store who lacks the encryption key.
    The entry is left as it is, for inspection; a logout removes it."""


class ForgedEntryError(TamperedEntryError):
    """The entry was not sealed for this key: planted in clear where a key is expected, or
    copied from another entry (another key prefix or table, profile or identity)."""


class ReplayedEntryError(TamperedEntryError):
    """An older sealed value of this very entry was put back: its generation is lower than
    the entry's own generation record, or than one this process has already seen."""


@attrs.frozen
class Entry:
    """What one entry says about itself."""

    #: The token, or ``None`` for a logout record.
    token: Token | None
    #: Larger for every write; sealed (``authenticated``) or only the clear ``g`` field.
    generation: int
    #: The fence of the lock holder that wrote it (or the latest one, for a write outside
    #: the lock or a logout); sealed or only the clear ``f`` field.
    fence: int
    #: Whether generation and fence come from inside the Fernet envelope.
    authenticated: bool
    #: A ``fernet1:`` entry: the token is authenticated, generation and fence are not.
    legacy: bool = False


def make_cipher(secret: Secret, *, store: str) -> MultiFernet:
    """The cipher for an ``encryption_key`` reference: one Fernet key, or several separated by
    commas, the first encrypting and every one decrypting (so keys can be rotated).

    :param store: the store's name, for messages (``the <store> store's encryption_key``).

    :raises ~brokerauth.contract.errors.ConfigError: the reference holds no valid Fernet key.
    :raises ~brokerauth.contract.errors.SecretUnavailableError: the reference cannot be resolved.
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
                f"the {store} store's encryption_key ({secret.source}) is not a Fernet key: "
                f"{which} is not 32 url-safe base64-encoded bytes",
                hint=f"make a key with: {_GENERATE}",
            ) from None
    if not ciphers:
        raise ConfigError(
            f"the {store} store's encryption_key ({secret.source}) is empty",
            hint=f"make a key with: {_GENERATE}",
        )
    return MultiFernet(ciphers)


class StoreCipher:
    """A store's ``encryption_key``: the cipher made on first use (the secret is read then,
    not when the store is opened), once however many threads ask; ``None`` without a key."""

    def __init__(self, secret: Secret | None, *, store: str) -> None:
        import threading

        self._secret = secret
        self._store = store
        self._guard = threading.Lock()
        self._cipher: MultiFernet | None = None
        self._ready = False

    @property
    def source(self) -> str:
        """Where the key comes from, for messages (``none`` without one)."""
        return self._secret.source if self._secret is not None else "none"

    def get(self) -> MultiFernet | None:
        if self._ready:
            return self._cipher
        cipher = make_cipher(self._secret, store=self._store) if self._secret is not None \
            else None
        with self._guard:
            self._cipher, self._ready = cipher, True
        return cipher


def clear_number(raw: object) -> int | None:
    """A clear ``g`` or ``f`` field as a number, or ``None`` if missing or not one this store
    could have written."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 16:
        return None
    number = int(raw)
    return number if number <= MAX_NUMBER else None


def seal_entry(
    token: Token | None, entry: str, *, generation: int, fence: int, cipher: MultiFernet | None
) -> bytes:
    """The bytes to store for ``token`` (``None``: a logout record) under the
    key ``entry``.  In clear, a logout record is no bytes at all: nothing is stored."""
    data = encode_token(token) if token is not None else b""
    if cipher is None:
        return data
    return ENCRYPTED_MARK + cipher.encrypt(_header(entry, generation, fence) + data)


def open_entry(
    data: bytes | None,
    key: TokenKey,
    entry: str,
    cipher: MultiFernet | None,
    *,
    clear_generation: int | None,
    clear_fence: int | None,
    source: str,
    key_source: str,
    store: str,
    where: str,
) -> Entry | None:
    """What the stored bytes ``data`` of ``entry`` and its clear numbers say, ``None`` if
    there is nothing there at all.  Only authenticity is checked here; whether the generation
    is current is the store's business (it knows what this process has seen).

    :param source: the entry's name and server, for messages.
    :param key_source: where the encryption key comes from (``env:NAME``), for messages.
    :param store: the store's name (``the profile's <store> store``), for messages.
    :param where: what holds the entries (``Redis``, ``the database``), for messages.
    :raises ~brokerauth.contract.errors.CorruptStoreError: the entry cannot be decrypted or parsed.
    :raises ForgedEntryError: in clear where a key was given, or sealed for another entry.
    :raises ~brokerauth.contract.errors.StoreError: the entry is encrypted and no key was given.
    """
    logout = f"`{for_key('logout', key)}`"
    if cipher is None:
        if data is None:
            if clear_generation is None and clear_fence is None:
                return None
            return Entry(None, clear_generation or 0, clear_fence or 0, authenticated=False)
        if data.startswith((ENCRYPTED_MARK, LEGACY_MARK)):
            raise StoreError(
                f"stored token {source} is encrypted, and the profile's {store} store has no "
                "encryption_key",
                hint='add the key the rest of the fleet uses: encryption_key = { env = "NAME" }',
            )
        token = decode_token(data, source=source, key=key)
        return Entry(token, clear_generation or 0, clear_fence or 0, authenticated=False)
    if data is None:
        # Nothing sealed: a clear g or f without a value was left by an older version's
        # logout or written by hand, and proves nothing either way.
        return None
    if not data.startswith((ENCRYPTED_MARK, LEGACY_MARK)):
        raise ForgedEntryError(
            f"stored token {source} is not encrypted, but the store has an encryption_key; "
            f"it is not used, since anyone able to write to {where} could have planted it",
            hint=f"run {logout} and log in again: the new token is stored encrypted",
        )
    if len(data) > _MAX_ENTRY_BYTES:
        raise CorruptStoreError(
            f"stored token {source} is {len(data)} bytes, more than this store ever writes",
            hint=f"run {logout} and log in again",
        )
    from cryptography.fernet import InvalidToken

    legacy = data.startswith(LEGACY_MARK)
    try:
        plain = cipher.decrypt(data[len(ENCRYPTED_MARK):])
    except InvalidToken:
        raise CorruptStoreError(
            f"stored token {source} cannot be decrypted with the store's encryption_key "
            f"({key_source}): it was encrypted with another key, or altered",
            hint="give the key the rest of the fleet uses; if the key is lost or the entry "
            f"damaged, {logout} removes it, then log in again",
        ) from None
    header, separator, body = plain.partition(b"\n")

    def moved() -> ForgedEntryError:
        # Made only when raised: every load passes here.
        return ForgedEntryError(
            f"stored token {source} was encrypted for another profile or identity (or "
            f"key_prefix), so it was moved there by hand or by someone with write access to "
            f"{where}", hint=f"run {logout} and log in again",
        )

    if legacy:
        if not separator or header + separator != _legacy_binding(key):
            raise moved()
        legacy_token = decode_token(body, source=source, key=key)
        # Nothing sealed but the token: the fence is the clear one, as before the upgrade.
        return Entry(legacy_token, 0, clear_fence or 0, authenticated=False, legacy=True)
    generation, fence = _read_header(header, entry, moved, source=source, logout=logout,
                                     store=store)
    if not separator:
        raise moved()
    sealed = decode_token(body, source=source, key=key) if body else None
    return Entry(sealed, generation, fence, authenticated=True)


def _header(entry: str, generation: int, fence: int) -> bytes:
    # JSON keeps the key unambiguous whatever characters it holds; sorted keys make the
    # header one fixed text for one entry, generation and fence.
    return json.dumps({"entry": entry, "f": fence, "g": generation}, sort_keys=True,
                      ensure_ascii=True).encode("ascii") + b"\n"


def _read_header(
    header: bytes, entry: str, moved: Callable[[], ForgedEntryError], *, source: str,
    logout: str, store: str,
) -> tuple[int, int]:
    try:
        fields = json.loads(header)
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or set(fields) != {"entry", "f", "g"}:
        # Sealed with the key, yet not a header this store writes: a bug, not an attack.
        raise CorruptStoreError(
            f"stored token {source} has an envelope this version cannot read",
            hint=f"use the same version of the {store} store on every machine, or run "
            f"{logout}",
        )
    if fields["entry"] != entry:
        raise moved()
    numbers = fields["g"], fields["f"]
    if not all(type(n) is int and 0 <= n <= MAX_NUMBER for n in numbers):
        raise CorruptStoreError(
            f"stored token {source} has an envelope this version cannot read",
            hint=f"use the same version of the {store} store on every machine, or run "
            f"{logout}",
        )
    return numbers[0], numbers[1]


def _legacy_binding(key: TokenKey) -> bytes:
    # A JSON array keeps the pair unambiguous whatever characters the names hold.
    return json.dumps([key.profile, key.identity], ensure_ascii=True).encode("ascii") + b"\n"
