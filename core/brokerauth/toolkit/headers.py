"""What an HTTP header may carry, checked before anything is sent.

A CR or LF in a value would split the header and let a caller (or a token) inject others; a NUL
or another control character is refused by some servers and passed on by others; a character
outside Latin-1 cannot be encoded at all and would surface as an untyped ``UnicodeEncodeError``
from deep inside the HTTP library, whose message quotes the whole value.  Errors here name the
header, never its value: it may be a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from brokerauth.contract.errors import RequestError, TokenError
from brokerauth.contract.tokens import Token

# RFC 9110 §5.1: a field name is a token.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_SCHEME_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def header_problem(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be sent, or ``None`` when it can."""
    if not isinstance(name, str) or not _FIELD_NAME(name):
        return "its name is not a valid HTTP field name"
    if not isinstance(value, str):
        return f"its value is a {type(value).__name__}, not text"
    if value.isascii() and value.isprintable():
        return None  # the common case, decided in C
    for character in value:
        point = ord(character)
        if character == "\t" or 0x20 <= point < 0x7F or 0xA0 <= point <= 0xFF:
            continue
        if point > 0xFF:
            return "its value holds a character outside Latin-1"
        return "its value holds a control character (CR, LF, NUL or another)"
    return None


#: Field names already found valid: the same few names come with every request.
_VALID_NAMES: set[str] = set()


def check_headers(headers: Mapping[str, str], *, made_by: str = "caller") -> None:
    """Refuse headers that cannot be sent safely; ``made_by`` says whose they are."""
    # Every request passes here twice: decide the common case (known names, plain visible
    # ASCII values) with a few C calls, and look closer only when something is unusual.
    try:
        values = "".join(headers.values())
    except TypeError:
        values = "\n"  # a value that is not text: the loop below names it
    if values.isascii() and (values.isprintable() or not values) and all(
        name in _VALID_NAMES for name in headers
    ):
        return
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is None:
            if len(_VALID_NAMES) < 1024:  # bounded: names a caller makes up need not pile up
                _VALID_NAMES.add(name)
            continue
        shown = name if isinstance(name, str) and _FIELD_NAME(name) else repr(name)[:60]
        if made_by == "caller":
            raise RequestError(f"header {shown} cannot be sent: {problem}",
                               hint="remove line breaks and control characters from it")
        raise RequestError(
            f"the {made_by} made a header {shown} that cannot be sent: {problem}",
            hint="log in again for a new token; if it persists, report it to the plugin's "
            "authors",
        )


def bearer_authorization(token: Token) -> str:
    """``Authorization`` for ``token``: ``Bearer <access token>`` (RFC 6750), or the token's
    own scheme when it names another."""
    scheme = token.token_type or "Bearer"
    # Schemes are case-insensitive (RFC 7235) and servers commonly answer "bearer"; sending
    # the canonical spelling spares the rare server that compares it exactly.
    if scheme.lower() == "bearer":
        scheme = "Bearer"
    elif not set(scheme) <= _SCHEME_CHARS:
        raise TokenError(
            f"the {token.broker!r} token's type is not a valid HTTP auth scheme; it was not sent",
            hint="log in again; if it persists, report it to the broker plugin's authors",
        )
    return f"{scheme} {header_token(token)}"


def visible_ascii(value: str) -> bool:
    """Whether ``value`` is 0x21-0x7E only (a superset of RFC 6750's ``b64token``): what a
    token must be to be stored and sent in a header."""
    return bool(value) and value.isascii() and value.isprintable() and " " not in value


def header_token(token: Token) -> str:
    """The access token, if a header can carry it: visible ASCII, no space."""
    value = token.access_token
    # Wider than RFC 6750's b64token, as brokers issue opaque tokens, but a space, CR, LF or
    # non-ASCII character would split or corrupt the header, and http.client would quote the
    # whole value, token included, in its error.
    if not visible_ascii(value):
        raise TokenError(
            f"the {token.broker!r} access token is empty or holds characters an HTTP header "
            "cannot carry; it was not sent",
            hint="log in again; if it persists, report it to the broker plugin's authors",
        )
    return value
