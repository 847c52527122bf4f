"""What goes over the wire: an immutable request as it will be sent, and the answer.

Signers see a :class:`Request` whose ``body`` holds the exact bytes that will be sent, and
whose ``params`` hold the raw (undecoded) query values in order, so the bytes hashed are
the bytes sent and a signer never parses a URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import attrs

from brokerauth.contract.errors import BrokerError, ResponseError

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Query keys and values repeat from request to request: each is encoded once.
_quote_plus: Callable[[str], str] = lru_cache(maxsize=4096)(quote_plus)


def _freeze_headers(value: Mapping[str, str] | None) -> Mapping[str, str]:
    # A proxy is what another Request (or with_headers, over a dict it just made) holds:
    # already a private, read-only copy, so building a signed request copies nothing again.
    if type(value) is MappingProxyType:
        return value
    return MappingProxyType(dict(value or {}))


def _params_tuple(value: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    # A tuple is what normalize_params and another Request hold: already (str, str) pairs.
    if type(value) is tuple:
        return value
    return tuple((str(k), str(v)) for k, v in value)


def _upper(value: str) -> str:
    return value.upper()


def normalize_params(
    params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
) -> tuple[tuple[str, str], ...]:
    """Query parameters as ordered ``(key, raw value)`` pairs; booleans as ``true``/``false``,
    alone or in a list; ``None`` left out, alone or in a list (as requests does: never the
    text ``None``)."""
    if not params:
        return ()
    # A dict of strings is the common case: its type, then each value's, checked exactly
    # (cheaper than the Mapping and bool instance checks, with the same result).
    items = (params.items() if type(params) is dict or isinstance(params, Mapping)
             else params)
    out: list[tuple[str, str]] = []
    for key, value in items:
        if type(value) is str:
            out.append((key, value))
        elif value is None:
            continue
        elif isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, list | tuple):
            # Each item as a value of its own is written: a boolean as true/false too.
            out.extend((key, _item_text(v)) for v in value if v is not None)
        else:
            out.append((key, str(value)))
    return tuple(out)


def _item_text(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def netloc(scheme: str, host: str, port: int | None) -> str:
    """``host`` or ``host:port``; the port only when it is not the scheme's default."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return host
    return f"{host}:{port}"


@attrs.frozen(repr=False)
class Request:
    """One HTTP request, fully built, before signing."""

    method: str = attrs.field(converter=_upper)
    scheme: str
    host: str
    """The endpoint host as configured, with ``:port`` only for a non-default port."""
    path: str
    params: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_params_tuple,
                                                      repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze_headers, repr=False)
    body: bytes | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_url(
        cls,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Request:
        """Build from an absolute URL; its query (decoded) comes first, then ``params``."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            # Only what is wrong is named: any other part of the URL may hold a credential.
            what = (f"its scheme is {parts.scheme!r}" if parts.scheme not in _DEFAULT_PORTS
                    else "it has no host")
            raise ValueError(f"not an absolute http(s) URL: {what}")
        query = tuple(parse_qsl(parts.query, keep_blank_values=True))
        return cls(
            method=method,
            scheme=parts.scheme,
            host=netloc(parts.scheme, parts.hostname, parts.port),
            path=parts.path or "/",
            params=query + normalize_params(params),
            headers=headers or {},
            body=body,
        )

    @property
    def query_string(self) -> str:
        """The query as sent on the wire: ``urlencode(params)`` (a space becomes ``+``)."""
        q = _quote_plus
        return "&".join([f"{q(key)}={q(value)}" for key, value in self.params])

    @property
    def url(self) -> str:
        query = self.query_string
        base = f"{self.scheme}://{self.host}{self.path}"
        return f"{base}?{query}" if query else base

    def __repr__(self) -> str:
        # Header values and the body may carry tokens and signatures: names and sizes only.
        size = len(self.body) if self.body is not None else 0
        return (f"<Request {self.method} {self.scheme}://{self.host}{self.path} "
                f"params={len(self.params)} headers={sorted(self.headers)} body={size}B>")

    __str__ = __repr__

    def with_headers(self, extra: Mapping[str, str]) -> Request:
        merged = dict(self.headers)
        merged.update(extra)
        # The constructor, not attrs.evolve: this runs once per request sent, and evolve's
        # generic copy costs half as much again.
        return Request(self.method, self.scheme, self.host, self.path, self.params,
                       MappingProxyType(merged), self.body)


class Response:
    """A complete HTTP answer. The body is read in full (up to the transport's limit).

    Shaped like the answers of requests and httpx where they agree: ``status_code`` (also
    ``status``), ``ok``, ``headers`` (looked up in any case, from the transport and both
    adapters), ``content``, ``text``, ``json()`` and ``raise_for_status()`` (which returns the
    answer, so calls chain).  ``ok`` means a 2xx status, as httpx's ``is_success``: requests'
    own ``ok`` also counts a 3xx, but a session returns redirects rather than following them,
    so a 3xx here is never the answer asked for.
    """

    __slots__ = ("_json", "_json_strict", "content", "headers", "request", "signature", "status")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        request: Request,
        signature: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        #: The request as built, before signing.
        self.request = request
        #: The headers the signer added to ``request`` when it was sent (tokens, signatures):
        #: what a server echoing the request could quote back, and so what error texts mask.
        self.signature: Mapping[str, str] = signature or {}
        self._json: Any = _UNSET
        # Whether the cached parse was strict: a strict call after a lenient one parses again.
        self._json_strict = False

    @property
    def status_code(self) -> int:
        """The HTTP status, as requests and httpx name it: the same as :attr:`status`."""
        return self.status

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx (a 3xx is not: redirects are returned, never followed)."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self, *, strict: bool = False) -> Any:
        """The body parsed as JSON; a :class:`ResponseError` names what is wrong if it is not.

        Arrays and objects nested more than :data:`brokerauth.contract.jsontext.MAX_DEPTH` (64) deep
        are refused, and so are numbers of thousands of digits.  With ``strict`` (token
        answers) an object naming a key twice and ``NaN``/``Infinity`` are refused too.
        """
        if self._json is _UNSET or (strict and not self._json_strict):
            from brokerauth.contract import (
                jsontext,  # not at start-up: most commands parse no answer
            )

            try:
                self._json = jsontext.loads(self.content, strict=strict)
            except jsontext.JsonLimitError as exc:
                # A fixed phrase: the document's own text (a key, a number) is never shown.
                raise ResponseError(
                    f"{self.request.method} {self.request.path}: the JSON answer is refused: "
                    f"{exc}",
                    status=self.status,
                ) from None
            except (ValueError, UnicodeDecodeError):
                kind = _describe_body(self.content, self.headers)
                raise ResponseError(
                    f"{self.request.method} {self.request.path}: expected JSON, got {kind}",
                    status=self.status,
                ) from None
            self._json_strict = strict
        return self._json

    def json_object(self, *, strict: bool = False) -> dict[str, Any]:
        """The body as a JSON object (``{...}``), or a :class:`ResponseError`; ``strict`` as
        for :meth:`json`."""
        data = self.json(strict=strict)
        if not isinstance(data, dict):
            raise ResponseError(
                f"{self.request.method} {self.request.path}: expected a JSON object, "
                f"got {type(data).__name__}",
                status=self.status,
            )
        return data

    def raise_for_status(self) -> Response:
        """Raise a :class:`~brokerauth.contract.errors.BrokerError` unless the status is 2xx."""
        if not self.ok:
            from brokerauth.contract.scrub import error_fields  # an error path only

            raise self.error(*error_fields(self))
        return self

    def error(self, code: str | None = None, message: str | None = None) -> BrokerError:
        """The error this answer is: the broker's ``code`` and ``message`` (fit to show,
        see :func:`brokerauth.contract.scrub.error_fields`), or which request failed."""
        message = message or f"{self.request.method} {self.request.path} failed"
        return BrokerError(message, status=self.status, code=code)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.request.method} {self.request.path}>"


class _Unset:
    pass


_UNSET: Any = _Unset()


def _describe_body(content: bytes, headers: Mapping[str, str]) -> str:
    if not content:
        return "an empty body"
    ctype = ""
    for key, value in headers.items():
        if key.lower() == "content-type":
            ctype = value
    head = content[:200].lstrip().lower()
    if "html" in ctype or head.startswith((b"<!doctype", b"<html")):
        return f"an HTML page ({len(content)} bytes)"
    return f"{len(content)} bytes of {ctype or 'unknown content'}"
