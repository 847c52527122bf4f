"""JSON from outside, parsed with limits: a bounded nesting depth, and (on request) no key
given twice in an object.

Used for servers' answers (:meth:`brokerauth.contract.wire.Response.json`) and the token store's
entries (:mod:`brokerauth.toolkit.tokencodec`), so both refuse the same things the same way.

Why the depth is checked before parsing rather than by catching :class:`RecursionError`:
CPython's decoder recurses in C, once per ``[`` or ``{``, and stops at the interpreter's
recursion limit, wherever the caller's stack already is.  So what is accepted would depend
on the caller's stack and on ``sys.setrecursionlimit`` (an application that raises it lets a
hostile answer overflow the C stack: a crash, not an exception), and code walking the result
recursively (error scrubbing, cattrs) would meet the same depth again.  A scan of the bytes
gives one limit everywhere, and costs two ``bytes.count`` calls for an answer with few
brackets, which is nearly every answer.
"""

from __future__ import annotations

# json and re at import: this module is itself imported only when a document is parsed
# (brokerauth.contract.wire and brokerauth.toolkit.tokencodec import it on first use), never at
# start-up.
import json
import re
from typing import Any, Final

__all__ = ["MAX_DEPTH", "SHOWABLE_NAME", "DuplicateKeyError", "JsonLimitError", "loads",
           "too_deep", "unique_object"]

#: Deepest nesting of arrays and objects accepted.  Token answers are one or two levels deep
#: and broker APIs a handful; 64 leaves room for any real document and stays far below the
#: decoder's recursion limit.
MAX_DEPTH: Final = 64

# What the scan keeps of a document: quotes (to drop strings) and brackets, with "{" and "}"
# made "[" and "]" (only nesting matters here, not which kind).
_NOT_STRUCTURE: Final = bytes(b for b in range(256) if b not in b'"[]{}')
_UNIFY: Final = bytes.maketrans(b"{}", b"[]")
#: A key from a document is shown in a message only when it looks like a field name, so a
#: stray secret used as a key never reaches one.
SHOWABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


class JsonLimitError(ValueError):
    """The text is refused before or while parsing; ``str()`` is a fixed phrase, never text
    from the document."""


class DuplicateKeyError(JsonLimitError):
    """An object names the same key twice.  ``key`` is the document's own text: show it only
    after checking it looks like a name (it may be a secret pasted as a key)."""

    def __init__(self, key: str) -> None:
        shown = f"the key {key!r}" if SHOWABLE_NAME.fullmatch(key) else "a key"
        super().__init__(f"an object names {shown} twice")
        self.key = key


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook`` refusing a key given twice.

    Decoders disagree on which of two equal keys wins (Python keeps the last, others the
    first), so a document naming ``access_token`` twice can mean different tokens to a proxy
    and to us; and in a stored token, two writers interleaved could pair one generation's
    access token with another's refresh token.  Refusing is the only reading all agree on.
    """
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(key)
        result[key] = value
    return result


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``data`` nests arrays and objects more than ``limit`` deep (brackets inside
    strings do not count).  Unbalanced text is judged by what it opens: text that opens more
    than ``limit`` levels without closing them counts as too deep, since the decoder would
    recurse through all of them before finding the mistake.

    Every step is a pass of C code over bytes (count, replace, translate), never a Python
    loop or an object per string, so a 1 MiB answer costs a fraction of parsing it.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # the common case: fewer brackets than the limit, nothing to scan
    # Escapes go first: in JSON a backslash only appears in a string, escaping the next
    # character, so removing escaped backslashes (left to right) and then escaped quotes
    # leaves exactly the quotes that open and close strings.
    text = data.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in data else data
    # Only quotes and brackets are left.  Two adjacent quotes are an empty string or the end
    # of one string and the start of the next: removing them keeps every other byte inside
    # or outside a string as it was, and leaves quotes only around strings with brackets.
    shape = text.translate(_UNIFY, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in shape:
        shape = b"".join(shape.split(b'"')[::2])  # every other piece is a string's text
    if shape.count(b"[") <= limit:
        return False
    if b"[" * (limit + 1) in shape:
        return True  # that many opened in a row are nested: the usual attack, found at once
    # Each pass removes every innermost pair (an adjacent "[]"; replace does not rescan what
    # it produced), so balanced text of depth d is empty after exactly d passes.
    for _ in range(limit):
        shorter = shape.replace(b"[]", b"")
        if not shorter:
            return False
        if len(shorter) == len(shape):
            # No pair left to remove: a "]" before its "[", malformed, and the decoder will
            # say so; too deep only if what is left still opens more levels than allowed.
            return shorter.count(b"[") > limit
        shape = shorter
    return True


def loads(data: bytes | str, *, strict: bool = False, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` with the limits above; with ``strict`` also no key given twice and no
    ``NaN``/``Infinity`` (which JSON does not have: some servers' encoders write them in
    market data, so only documents where every field must mean one thing are strict).

    :raises JsonLimitError: nesting deeper than ``max_depth``, a number with more digits than
        Python converts (4,300), and with ``strict`` a key given twice or a constant.
    :raises json.JSONDecodeError: (a :class:`ValueError`) text that is not JSON.
    :raises UnicodeDecodeError: bytes that are not UTF-8, -16 or -32.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if too_deep(raw, max_depth):
        raise JsonLimitError(f"it nests arrays or objects more than {max_depth} levels deep")
    try:
        if strict:
            return json.loads(data, object_pairs_hook=unique_object,
                              parse_constant=_no_constants)
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, JsonLimitError):
        raise
    except RecursionError:
        # Only text the scan misreads (UTF-16 or -32, whose code units can hide a quote) can
        # get here: the scan is the limit, this is the belt.
        raise JsonLimitError("it nests arrays or objects too deeply") from None
    except ValueError:
        # int() of a number of thousands of digits (Python's limit, CVE-2020-10735).
        raise JsonLimitError("it holds a number with far too many digits") from None


def _no_constants(name: str) -> Any:
    raise JsonLimitError("it uses NaN or Infinity, which JSON does not have")
