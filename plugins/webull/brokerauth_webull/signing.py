"""Webull OpenAPI HTTP request signing, byte-for-byte like the official SDK 3.0.4.

Pure functions, no I/O, no clock and no randomness: the timestamp and nonce come in.

The scheme::

    params    = {host, x-app-key, x-signature-algorithm, x-signature-nonce,
                 x-signature-version, x-timestamp} + query pairs (key case kept, raw value;
                 a key already present gets "old&new")
    canonical = PATH "&" join("&", sorted "k=v") ["&" UPPER_HEX(DIGEST(body bytes))]
    to_sign   = quote(canonical, safe="")
    signature = base64(HMAC(app_secret + "&", to_sign))

The app secret is only ever an HMAC key: it is never a header, never in a returned string.

:func:`string_to_sign` is the hot path and never builds the canonical string: percent-encoding
works character by character, so ``quote(a + b) == quote(a) + quote(b)`` and the string to
sign can be assembled from pieces quoted once and cached (each ``key=value`` pair, host, path,
app key), in one pass over the query, which costs a fraction of quoting the whole canonical
string on every call as the SDK does.  :class:`Signer` does the same for one app key and
secret checked once, with the secret made into its HMAC key once (:class:`SigningKey`): what
a profile's signer uses for every request.  :func:`canonical_string` builds the unencoded form
the slow, obvious way, for debugging and as the tests' second opinion.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import re
from typing import Final, Literal

from brokerauth.contract.wire import Request

Algorithm = Literal["HMAC-SHA256", "HMAC-SHA1"]
ALGORITHMS: Final[tuple[Algorithm, ...]] = ("HMAC-SHA256", "HMAC-SHA1")
DEFAULT_ALGORITHM: Final[Algorithm] = "HMAC-SHA256"
SIGNATURE_VERSION: Final = "1.0"
#: ``x-timestamp``: UTC, second precision.
TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"

APP_KEY: Final = "x-app-key"
TIMESTAMP: Final = "x-timestamp"
SIGNATURE_VERSION_HEADER: Final = "x-signature-version"
SIGNATURE_ALGORITHM: Final = "x-signature-algorithm"
NONCE: Final = "x-signature-nonce"
SIGNATURE: Final = "x-signature"
ACCESS_TOKEN: Final = "x-access-token"
VERSION: Final = "x-version"
HOST: Final = "host"

#: The headers whose values are signed (with ``host``); ``x-signature`` carries the result.
SIGNED_HEADERS: Final = (APP_KEY, TIMESTAMP, SIGNATURE_VERSION_HEADER, SIGNATURE_ALGORITHM, NONCE)

_HMAC_DIGEST: Final[dict[str, str]] = {"HMAC-SHA256": "sha256", "HMAC-SHA1": "sha1"}

# ``urllib.parse.quote(s, safe="")`` keeps exactly these characters.
_is_unreserved = re.compile(r"[A-Za-z0-9._~-]*\Z").match
_QUOTE_TABLE: Final[tuple[str, ...]] = tuple(
    chr(b) if chr(b).isascii() and _is_unreserved(chr(b)) else f"%{b:02X}" for b in range(256)
)
#: The table's ASCII half, indexed by code point (only ever used on ASCII text: a code point
#: past its end would be left as it is).
_ASCII_QUOTE_TABLE: Final[tuple[str, ...]] = _QUOTE_TABLE[:128]


def quote(text: str) -> str:
    """``urllib.parse.quote(text, safe="")``: UTF-8, upper-case hex, ``A-Za-z0-9-._~`` kept."""
    if text.isascii():
        # Letters and digits only (a hex nonce, most keys): kept as they are.
        if text.isalnum():
            return text
        # One character is one byte: str.translate maps each through the table in C.
        return text.translate(_ASCII_QUOTE_TABLE)
    table = _QUOTE_TABLE
    return "".join([table[b] for b in text.encode("utf-8")])


# Keys, hosts, paths, app keys and most query pairs repeat from call to call: each is quoted
# once and kept (a plain dict, cleared when full: a lookup costs half an lru_cache call).  The
# nonce is quoted without it, so unique values do not churn it.  Only short texts are kept
# (the ones that repeat; quoting a long one costs little next to its hashing): the caches stay
# small in bytes, whatever values a caller sends.
_QUOTED: dict[str, str] = {}
_QUOTED_MAX: Final = 4096
#: The longest text (or query pair, key and value together) kept.
_CACHED_LENGTH: Final = 256


def _quote_cached(text: str) -> str:
    quoted = _QUOTED.get(text)
    if quoted is None:
        quoted = quote(text)
        if type(text) is str and len(text) <= _CACHED_LENGTH:
            if len(_QUOTED) >= _QUOTED_MAX:
                _QUOTED.clear()
            _QUOTED[text] = quoted
    return quoted


_is_plain_key = re.compile(r"[A-Za-z0-9._~-]+\Z").match

#: Each query pair seen, as its entry in the string to sign (``quote("key=value")``) and
#: whether its key is unreserved (``quote(key) == key``: such entries sort as their keys do).
#: Keyed by the pair itself, the tuple a request holds; bounded like ``_QUOTED``.  Only pairs of
#: two ``str`` are kept (equal tuples of other types, ``("qty", 1)`` and ``("qty", True)``,
#: are signed differently), and only short ones.
_PAIRS: dict[tuple[str, str], tuple[str, bool]] = {}


def _pair_entry(pair: tuple[str, str]) -> tuple[str, bool]:
    key, value = pair
    made = (quote(f"{key}={value}"), _is_plain_key(f"{key}") is not None)
    if (type(key) is str and type(value) is str
            and len(key) + len(value) <= _CACHED_LENGTH):
        if len(_PAIRS) >= _QUOTED_MAX:
            _PAIRS.clear()
        _PAIRS[pair] = made
    return made


def body_digest(body: bytes | None, algorithm: str = DEFAULT_ALGORITHM) -> str | None:
    """Upper-case hex digest of the exact body bytes: SHA-256 for HMAC-SHA256, MD5 for
    HMAC-SHA1.  ``None`` when there is no body: an absent body adds nothing to the string to
    sign (an empty one cannot be told from an absent one on the wire), while ``b"{}"`` does."""
    if not body:
        return None
    if algorithm == "HMAC-SHA256":
        return hashlib.sha256(body).hexdigest().upper()
    if algorithm == "HMAC-SHA1":
        return hashlib.md5(body, usedforsecurity=False).hexdigest().upper()
    raise ValueError(_unsupported(algorithm))


def sign_params(
    request: Request, app_key: str, timestamp: str, nonce: str, algorithm: str
) -> dict[str, str]:
    """The map that is sorted and joined: the signed headers, ``host``, then each query pair
    (key case kept, raw value); a key already present becomes ``old&new``."""
    params = {
        HOST: request.host,
        APP_KEY: app_key,
        SIGNATURE_ALGORITHM: algorithm,
        NONCE: nonce,
        SIGNATURE_VERSION_HEADER: SIGNATURE_VERSION,
        TIMESTAMP: timestamp,
    }
    for key, value in request.params:
        old = params.get(key)
        params[key] = value if old is None else f"{old}&{value}"
    return params


def canonical_string(
    request: Request,
    app_key: str,
    timestamp: str,
    nonce: str,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """The string before percent-encoding (what the SDK logs as its sign string), to debug."""
    _check_algorithm(algorithm)
    params = sign_params(request, app_key, timestamp, nonce, algorithm)
    text = request.path + "&" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = body_digest(request.body, algorithm)
    return text if digest is None else f"{text}&{digest}"


def string_to_sign(
    request: Request,
    app_key: str,
    timestamp: str,
    nonce: str,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """``quote(canonical_string(...), safe="")``, assembled from quoted pieces (fast path)."""
    if algorithm not in _HMAC_DIGEST:
        raise ValueError(_unsupported(algorithm))
    return _assemble(request, _APP_KEY_ENTRY + _quote_cached(app_key),
                     _ALGORITHM_ENTRY + algorithm, timestamp, nonce, algorithm)


# Each signed name with its quoted "=", as it appears in the string to sign.
_HOST_ENTRY: Final = "host%3D"
_APP_KEY_ENTRY: Final = "x-app-key%3D"
_ALGORITHM_ENTRY: Final = "x-signature-algorithm%3D"
_NONCE_ENTRY: Final = "x-signature-nonce%3D"
_VERSION_ENTRY: Final = "x-signature-version%3D" + SIGNATURE_VERSION
_TIMESTAMP_ENTRY: Final = "x-timestamp%3D"


def _assemble(
    request: Request,
    app_key_entry: str,
    algorithm_entry: str,
    timestamp: str,
    nonce: str,
    algorithm: str,
) -> str:
    """The string to sign in one pass over the query: each name's ``name%3Dvalue`` quoted once
    (``app_key_entry`` and ``algorithm_entry`` come ready), sorted by name, joined by ``%26``.
    ``algorithm`` is known to be supported."""
    text = _unhashed(request, app_key_entry, algorithm_entry, timestamp, nonce)
    body = request.body
    if not body:
        return text
    return f"{text}%26{body_digest(body, algorithm)}"


def _nonce_text(nonce: str) -> str:
    """The nonce as the string to sign holds it: a hex or alphanumeric one (ours; the SDK's
    are UUIDs) needs no quoting."""
    return nonce if nonce.isalnum() and nonce.isascii() else quote(nonce)


def _unhashed(
    request: Request,
    app_key_entry: str,
    algorithm_entry: str,
    timestamp: str,
    nonce: str,
) -> str:
    """The string to sign up to the body's digest: the path, then the sorted entries."""
    cached = _QUOTED.get
    host = request.host
    host_entry = _HOST_ENTRY + (cached(host) or _quote_cached(host))
    nonce_entry = _NONCE_ENTRY + _nonce_text(nonce)
    timestamp_entry = _TIMESTAMP_ENTRY + (cached(timestamp) or _quote_cached(timestamp))
    params = request.params
    if params:
        # Entries are kept already quoted: quote("k=old&new") == quote("k=old") + "%26" +
        # quote(new), so a name given twice (or a query key equal to a signed header's)
        # becomes "old&new" as the SDK's map does.
        entries = {
            HOST: host_entry,
            APP_KEY: app_key_entry,
            SIGNATURE_ALGORITHM: algorithm_entry,
            NONCE: nonce_entry,
            SIGNATURE_VERSION_HEADER: _VERSION_ENTRY,
            TIMESTAMP: timestamp_entry,
        }
        plain = True
        pair_entry = _PAIRS.get
        for pair in params:
            key = pair[0]
            old = entries.get(key)
            if old is None:
                try:
                    found = pair_entry(pair)
                except TypeError:  # a pair held as a list: unhashable, so not kept
                    pair = (key, pair[1])
                    found = None
                entry, plain_key = found or _pair_entry(pair)
                entries[key] = entry
                if not plain_key:
                    plain = False
            else:
                value = pair[1]
                if type(value) is not str:  # as sign_params writes it
                    value = f"{value}"
                entries[key] = f"{old}%26{cached(value) or _quote_cached(value)}"
        if plain:
            # Every name is unreserved, so each entry starts with its name as given, then
            # "%3D" ("%" sorts before every unreserved character): the entries sort as their
            # names do, and are sorted as they are.
            joined = "%26".join(sorted(entries.values()))
        else:
            joined = "%26".join([entries[key] for key in sorted(entries)])
    else:
        # The six names sort in this fixed order.
        joined = (f"{host_entry}%26{app_key_entry}%26{algorithm_entry}%26{nonce_entry}"
                  f"%26{_VERSION_ENTRY}%26{timestamp_entry}")
    path = request.path
    path = cached(path) or _quote_cached(path)
    return f"{path}%26{joined}"


# Stand-ins for the nonce and the timestamp in a template (below): letters and digits, so
# they pass through quoting as they are, and random, so no request can hold them on purpose;
# a template in which either does not occur exactly once is not made.
_NONCE_MARK: Final = "N" + os.urandom(12).hex()
_TIMESTAMP_MARK: Final = "T" + os.urandom(12).hex()
#: Templates a signer keeps, at most (cleared when full), and the longest path and query
#: kept in one.
_TEMPLATES_MAX: Final = 512
_TEMPLATE_QUERY: Final = 512
#: The most query pairs in a request that gets a template (a longer query is not looked at
#: pair by pair on every call only to be refused).
_TEMPLATE_PAIRS: Final = 32
#: The names the string to sign holds whatever the query: a query key among them makes its
#: entry ``old&new`` (see :func:`_unhashed`), which a template does not model.
_SIGNED_NAMES: Final = frozenset((HOST, *SIGNED_HEADERS))

_Template = tuple[str, str, str]
#: A request not seen before, and one seen once, in a signer's templates (told apart by
#: identity: they are never templates of a request, which start with the path).
_UNSEEN: Final[_Template] = ("unseen", "", "")
_SEEN: Final[_Template] = ("seen", "", "")
_TemplateKey = tuple[str, str, tuple[tuple[str, str], ...]]


def _templated(request: Request) -> bool:
    """Whether requests like ``request`` get a template: a query of short text pairs, none
    naming a signed header (only such requests are kept, so a signer's templates stay small
    whatever the queries)."""
    if (type(request.host) is not str or type(request.path) is not str
            or len(request.params) > _TEMPLATE_PAIRS):
        return False
    size = len(request.path)
    for pair in request.params:
        if type(pair) is not tuple or len(pair) != 2:
            return False
        key, value = pair
        if type(key) is not str or type(value) is not str or key in _SIGNED_NAMES:
            return False
        size += len(key) + len(value)
    return size <= _TEMPLATE_QUERY


def _template(
    request: Request, app_key_entry: str, algorithm_entry: str
) -> _Template | None:
    """The string to sign of requests to this host, path and query, cut where the nonce and
    the timestamp go: only those two change from one signature of such a request to the
    next, and the order of the entries depends on the names alone.  Made by
    :func:`_unhashed` itself, so the two can never disagree; ``None`` when the request is not
    one to keep a template for (a query of other than short text pairs, or naming a signed
    header)."""
    if not _templated(request):
        return None
    text = _unhashed(request, app_key_entry, algorithm_entry, _TIMESTAMP_MARK, _NONCE_MARK)
    head, _, rest = text.partition(_NONCE_MARK)
    middle, _, tail = rest.partition(_TIMESTAMP_MARK)
    if (text.count(_NONCE_MARK) != 1 or text.count(_TIMESTAMP_MARK) != 1
            or _TIMESTAMP_MARK in head):
        return None
    return head, middle, tail


def signature(to_sign: str, app_secret: str, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """``base64(HMAC(app_secret + "&", to_sign))``."""
    try:
        digest_name = _HMAC_DIGEST[algorithm]
    except KeyError:
        raise ValueError(_unsupported(algorithm)) from None
    mac = hmac.digest((app_secret + "&").encode("utf-8"), to_sign.encode("ascii"), digest_name)
    return binascii.b2a_base64(mac, newline=False).decode("ascii")


class SigningKey:
    """An app secret made into its HMAC key once: each signature copies the keyed state
    instead of encoding and hashing the secret again (``signature`` with it, faster).

    Holds no copy of the secret's text; its repr names the algorithm only."""

    __slots__ = ("_mac", "algorithm")

    def __init__(self, app_secret: str, algorithm: str = DEFAULT_ALGORITHM) -> None:
        digest_name = _HMAC_DIGEST.get(algorithm)
        if digest_name is None:
            raise ValueError(_unsupported(algorithm))
        self.algorithm = algorithm
        mac = hmac.new((app_secret + "&").encode("utf-8"), digestmod=digest_name)
        # OpenSSL's keyed state itself where hmac.HMAC wraps one (it does whenever OpenSSL
        # has the digest): the same copy, update and digest, without the wrapper's Python
        # frames around each, which cost as much as the HMAC of a short string.
        self._mac: hmac.HMAC = getattr(mac, "_hmac", None) or mac

    def sign(self, to_sign: str) -> str:
        """``signature(to_sign, app_secret, algorithm)``."""
        mac = self._mac.copy()
        mac.update(to_sign.encode("ascii"))
        return binascii.b2a_base64(mac.digest(), newline=False).decode("ascii")

    def __repr__(self) -> str:
        return f"<SigningKey {self.algorithm}>"


class Signer:
    """An app key and secret ready to sign many requests: the algorithm checked, the key
    prepared and the app key quoted once, at construction; each request then costs one pass
    over its query and one HMAC (:func:`signature_headers`, byte for byte).

    Its repr names the algorithm only: neither the secret nor the app key."""

    __slots__ = ("_algorithm_entry", "_app_key_entry", "_key", "_mac", "_templates",
                 "algorithm", "app_key")

    def __init__(self, app_key: str, app_secret: str, algorithm: str = DEFAULT_ALGORITHM) -> None:
        self._key = SigningKey(app_secret, algorithm)
        self._mac = self._key._mac  # the keyed state, copied per signature (inlined below)
        self.algorithm = algorithm
        self.app_key = app_key
        self._app_key_entry = _APP_KEY_ENTRY + quote(app_key)
        self._algorithm_entry = _ALGORITHM_ENTRY + algorithm
        #: (host, path, query) -> the string to sign cut where the nonce and timestamp go
        #: (:func:`_template`), None for a request to assemble each time, or ``_SEEN``.
        self._templates: dict[_TemplateKey, _Template | None] = {}

    def string_to_sign(self, request: Request, timestamp: str, nonce: str) -> str:
        """:func:`string_to_sign` with this app key and algorithm."""
        key = (request.host, request.path, request.params)
        templates = self._templates
        try:
            template = templates.get(key, _UNSEEN)
        except TypeError:  # a query pair held as a list: unhashable
            template = None
        if template is _UNSEEN:
            # Seen once: a request whose query changes on every call never repeats, so its
            # template would never be used; one is made when the request comes again.
            template = None
            if _templated(request):
                if len(templates) >= _TEMPLATES_MAX:
                    templates.clear()
                templates[key] = _SEEN
        elif template is _SEEN:
            template = templates[key] = _template(request, self._app_key_entry,
                                                  self._algorithm_entry)
        if template is None:
            return _assemble(request, self._app_key_entry, self._algorithm_entry, timestamp,
                             nonce, self.algorithm)
        head, middle, tail = template
        text = (f"{head}{_nonce_text(nonce)}{middle}"
                f"{_QUOTED.get(timestamp) or _quote_cached(timestamp)}{tail}")
        body = request.body
        if not body:
            return text
        return f"{text}%26{body_digest(body, self.algorithm)}"

    def signature(self, to_sign: str) -> str:
        """:func:`signature` with this secret and algorithm."""
        return self._key.sign(to_sign)

    def headers(
        self, request: Request, timestamp: str, nonce: str, access_token: str | None = None
    ) -> dict[str, str]:
        """:func:`signature_headers` with this app key, secret and algorithm."""
        algorithm = self.algorithm
        to_sign = self.string_to_sign(request, timestamp, nonce)
        mac = self._mac.copy()
        mac.update(to_sign.encode("ascii"))
        headers = {
            APP_KEY: self.app_key,
            TIMESTAMP: timestamp,
            SIGNATURE_VERSION_HEADER: SIGNATURE_VERSION,
            SIGNATURE_ALGORITHM: algorithm,
            NONCE: nonce,
            SIGNATURE: binascii.b2a_base64(mac.digest(), newline=False).decode("ascii"),
        }
        if access_token is not None:
            headers[ACCESS_TOKEN] = access_token
        return headers

    def __repr__(self) -> str:
        return f"<Signer {self.algorithm}>"


def signature_headers(
    request: Request,
    app_key: str,
    app_secret: str,
    timestamp: str,
    nonce: str,
    algorithm: str = DEFAULT_ALGORITHM,
    access_token: str | None = None,
) -> dict[str, str]:
    """The headers that authenticate ``request``; ``x-access-token`` (not signed) when given.

    ``x-version`` is not added: it names the endpoint's generation and belongs to the caller.
    """
    to_sign = string_to_sign(request, app_key, timestamp, nonce, algorithm)
    headers = {
        APP_KEY: app_key,
        TIMESTAMP: timestamp,
        SIGNATURE_VERSION_HEADER: SIGNATURE_VERSION,
        SIGNATURE_ALGORITHM: algorithm,
        NONCE: nonce,
        SIGNATURE: signature(to_sign, app_secret, algorithm),
    }
    if access_token is not None:
        headers[ACCESS_TOKEN] = access_token
    return headers


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in _HMAC_DIGEST:
        raise ValueError(_unsupported(algorithm))


def _unsupported(algorithm: str) -> str:
    return f"unsupported signature algorithm {algorithm!r} (use one of {', '.join(ALGORITHMS)})"
