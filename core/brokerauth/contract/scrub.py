"""One rule for text from outside (a server's error message, a callback's ``error=``) before it
becomes an error message or a log line: every secret of the request masked, control and
invisible characters removed, the length bounded.

A server may quote the request it refuses (its form body, its JSON, its headers), so each
secret is masked as sent and in the forms an echo takes: URL-encoded and JSON-escaped.  The
steps run in an order an attacker cannot turn against them: control characters go first (a
secret split by one would otherwise slip past the mask and be re-joined by the removal), then
the masking, then the cut (which so never leaves half a secret behind).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, quote, quote_plus


class Sent(Protocol):
    """What is read of a request (a :class:`~brokerauth.contract.wire.Request`)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def params(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def body(self) -> bytes | None: ...


class Answer(Protocol):
    """What is read of an answer (a :class:`~brokerauth.contract.wire.Response`): the request
    behind it, the signer's headers it was sent with, its JSON body."""

    @property
    def request(self) -> Sent: ...

    @property
    def signature(self) -> Mapping[str, str]: ...

    def json(self, *, strict: bool = False) -> Any: ...

#: What a masked secret becomes.
MASK: Final = "***"
#: The longest text kept (then "…" is appended).
MAX_TEXT: Final = 300
#: The longest error code kept: codes are identifiers, a long one is not a code.
MAX_CODE: Final = 100
#: Shorter values are not masked: they would mangle ordinary words and numbers.
MIN_SECRET: Final = 4

# Beyond this many characters the text is not even read: an "error message" of a megabyte is
# noise, and cleaning it character by character would cost more than the error is worth.
_SCAN_FACTOR: Final = 8
# Unicode categories removed: controls (C0, DEL, C1), format characters (bidi overrides and
# isolates, zero-width spaces and joiners, tag characters) and lone surrogates.
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Cs"})

_SECRET_FIELDS: Final = frozenset({
    "client_secret", "refresh_token", "access_token", "code", "code_verifier", "password",
    "token", "assertion", "client_assertion", "app_secret", "secret", "id_token",
    "device_code", "api_key", "app_key", "signature",
})
_SECRET_WORDS: Final = ("secret", "token", "password", "passwd")
# Fields whose names contain a secret word but whose values are protocol vocabulary
# ("refresh_token", "Bearer"): masking those would blank the words of the error itself.
_PUBLIC_FIELDS: Final = frozenset({"token_type", "token_type_hint", "grant_type"})
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
_SECRET_HEADER_WORDS: Final = ("token", "secret", "signature", "key", "password", "session")
_MAX_DEPTH: Final = 8


def scrub(text: object, secrets: Iterable[str] = (), *, limit: int = MAX_TEXT) -> str | None:
    """``text`` fit to show: ``None`` stays ``None``; anything else becomes one line of at
    most ``limit`` characters (plus "…" when cut), each of ``secrets`` (4 characters or more)
    replaced by :data:`MASK`, raw, URL-encoded or JSON-escaped."""
    if text is None:
        return None
    raw = str(text)
    forms = _forms(secrets)
    longest = max((len(form) for form in forms), default=0)
    scan = max(limit, MAX_TEXT) * _SCAN_FACTOR + longest
    partial = len(raw) > scan
    masked = _mask(_one_line(raw[:scan] if partial else raw).strip(), forms)
    if partial:
        # A secret may straddle where reading stopped: its start is unmasked at the very end.
        masked = masked[: max(len(masked) - longest, 0)].rstrip()
    if len(masked) <= limit and not partial:
        return masked
    # Masked again: the ellipsis could complete a secret that ends in one.
    return _mask(masked[:limit].rstrip() + "…", forms)


#: What :func:`terminal_text` shows as an escape: controls (C0, DEL, C1), format characters
#: (bidi overrides and isolates, zero-width characters, tags), lone surrogates, and the line
#: and paragraph separators.
_UNSAFE_ON_TERMINAL: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def terminal_text(text: object, *, lines: bool = False) -> str:
    """``text`` from outside (a profile's name from a cloned file, a server's message, a
    file's words) safe to write to a terminal: each character that could move the cursor,
    recolour, retitle or reorder what the terminal shows (ESC, CR, BEL, every other control,
    bidi overrides, zero-width characters) is shown as its Python escape (``\\x1b``,
    ``\\u202e``), so that it is seen and does nothing; everything else is kept as it is,
    whatever its script.  ``lines``: text of several lines, whose newlines (a CR-LF made one)
    and tabs are kept.  The one rule for what the command line prints."""
    raw = str(text)
    if raw.isprintable():  # the common case, at no cost
        return raw
    if lines:
        raw = raw.replace("\r\n", "\n")
    import unicodedata  # only for text that has something to show differently

    shown: list[str] = []
    for char in raw:
        if char.isprintable() or (lines and char in "\n\t"):
            shown.append(char)
        elif unicodedata.category(char) in _UNSAFE_ON_TERMINAL:
            code = ord(char)
            shown.append(f"\\x{code:02x}" if code < 0x100 else
                         f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:  # a space other than ASCII's
            shown.append(char)
    return "".join(shown)


def response_secrets(response: Answer) -> list[str]:
    """Every secret the request behind ``response`` carried: the signer's headers, the
    request's sensitive headers, and the secret fields of its query and body."""
    request = response.request
    found: list[str] = []
    for name, value in response.signature.items():
        found.extend(_header_secrets(name, value))
    for name, value in request.headers.items():
        if _secret_header(name):
            found.extend(_header_secrets(name, value))
    found.extend(value for key, value in request.params if _secret_field(key))
    if request.body:
        found.extend(_body_secrets(request.body, _content_type(request.headers)))
    return list(dict.fromkeys(value for value in found if len(value) >= MIN_SECRET))


def error_text(response: Answer, text: object, *, limit: int = MAX_TEXT) -> str | None:
    """A server's ``text`` about ``response`` fit to show (see :func:`scrub`)."""
    return scrub(text, response_secrets(response), limit=limit)


#: Where error answers put their code and their message, in the common dialects, in order.
CODE_FIELDS: Final = ("error_code", "error", "code")
MESSAGE_FIELDS: Final = ("message", "error_description", "msg")


def error_fields(
    response: Answer,
    code_fields: Iterable[str] = CODE_FIELDS,
    message_fields: Iterable[str] = MESSAGE_FIELDS,
) -> tuple[str | None, str | None]:
    """``(code, message)`` from a JSON error body: the first of ``code_fields`` and of
    ``message_fields`` that holds a value; ``(None, None)`` when the body is not a JSON object.

    Both are fit to show: a server quoting the request it refuses gets every secret of that
    request masked, its control characters removed, its length cut.
    """
    try:
        body = response.json()
    except Exception:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = next((body[f] for f in code_fields if body.get(f) is not None), None)
    message = next((body[f] for f in message_fields if body.get(f) is not None), None)
    if code is None and message is None:
        return None, None
    secrets = response_secrets(response)
    return scrub(code, secrets, limit=MAX_CODE), scrub(message, secrets)


# -- the text ---------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    """``text`` with controls and invisible characters removed and each run of whitespace
    made one space (the ends kept: a secret's form must match inside a text)."""
    if not text.isprintable():
        import unicodedata  # only for text that has something to remove

        # Whitespace of any kind (newline, tab, NEL, U+2028) becomes a space; controls and
        # invisible characters go; everything else stays, whatever its script.
        kept: list[str] = []
        for char in text:
            if char.isspace():
                kept.append(" ")
            elif char.isprintable() or unicodedata.category(char) not in _INVISIBLE:
                kept.append(char)
        text = "".join(kept)
    words = " ".join(text.split())
    if words:
        words = (" " if text[0].isspace() else "") + words + (" " if text[-1].isspace() else "")
    return words


def _mask(text: str, forms: list[str]) -> str:
    # Every occurrence of every form, overlapping or touching ones merged into one run, each
    # run replaced once (so overlapping secrets leave no fragment). Repeated while any form
    # is found, since a mask between two fragments could complete a (pathological) secret;
    # each round shortens the text, so this ends.
    while True:
        spans = sorted(
            (start, start + len(form)) for form in forms for start in _find_all(text, form)
        )
        if not spans:
            return text
        parts: list[str] = []
        kept = 0
        run_start, run_end = spans[0]
        for start, stop in spans[1:]:
            if start <= run_end:
                run_end = max(run_end, stop)
                continue
            parts += (text[kept:run_start], MASK)
            kept = run_end
            run_start, run_end = start, stop
        parts += (text[kept:run_start], MASK, text[run_end:])
        text = "".join(parts)


def _find_all(text: str, form: str) -> Iterator[int]:
    start = text.find(form)
    while start >= 0:
        yield start
        start = text.find(form, start + 1)


def _forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as sent and as an echo would show it, made one line like the text."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET:
            forms.update(shown for shown in map(_one_line, _echoes(secret))
                         if len(shown) >= MIN_SECRET)
    return sorted(forms, key=len, reverse=True)


def _echoes(secret: str) -> set[str]:
    """``secret`` raw, URL-encoded, JSON-escaped, and JSON-escaped twice (a JSON body a
    server quotes inside its JSON error keeps one level of escaping after parsing)."""
    import json  # only when there are secrets to mask: an error path, never start-up

    once = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    # A lone surrogate cannot be URL-encoded, so no URL or form carried it: no echo can.
    with contextlib.suppress(UnicodeEncodeError):
        once.update((quote_plus(secret), quote(secret, safe=""), quote(secret)))
    twice = {json.dumps(form, ensure_ascii=escape)[1:-1] for form in once
             for escape in (True, False)}
    # Some encoders also escape "/" (PHP's json_encode).
    return {variant for form in once | twice for variant in (form, form.replace("/", "\\/"))}


# -- the request ------------------------------------------------------------------------------
def _secret_field(name: str) -> bool:
    lowered = name.lower()
    if lowered in _PUBLIC_FIELDS:
        return False
    return lowered in _SECRET_FIELDS or any(word in lowered for word in _SECRET_WORDS)


def _secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or any(word in lowered for word in _SECRET_HEADER_WORDS)


def _header_secrets(name: str, value: str) -> list[str]:
    """The value, and its parts a server might quote alone: the credential after a scheme
    (``Bearer X``), a Basic credential's decoded password, each cookie's value."""
    found = [value]
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if credential:
        found.append(credential)
        if scheme.lower() == "basic":
            found.extend(_basic_secrets(credential))
    if name.lower() == "cookie":
        for cookie in value.split(";"):
            found.append(cookie.partition("=")[2].strip())
    return found


def _basic_secrets(credential: str) -> list[str]:
    import base64
    import binascii

    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return []
    _, _, password = decoded.partition(":")
    return [decoded, password]


def _content_type(headers: Mapping[str, str]) -> str:
    for key, value in headers.items():
        if key.lower() == "content-type":
            return value.lower()
    return ""


def _body_secrets(body: bytes, content_type: str) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    looks_json = text.lstrip()[:1] in ("{", "[")
    if "json" in content_type or (not content_type and looks_json):
        import json

        try:
            data = json.loads(text)
        except ValueError:
            return []
        return list(_json_secrets(data, secret=False, depth=0))
    if "x-www-form-urlencoded" in content_type or not content_type:
        return [value for key, value in parse_qsl(text, keep_blank_values=True)
                if _secret_field(key)]
    return []


def _json_secrets(data: Any, *, secret: bool, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(data, str | int) and not isinstance(data, bool):
        if secret:  # a number too: a numeric code or PIN is a secret like any other
            yield str(data)
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from _json_secrets(value, secret=secret or _secret_field(str(key)),
                                     depth=depth + 1)
    elif isinstance(data, list):
        for item in data:
            yield from _json_secrets(item, secret=secret, depth=depth + 1)
