"""Where a profile's credentials may go: the set of origins of one profile.

An origin is a scheme, a host and a port (RFC 6454).  A profile's origins are its broker's API
base URL, the hosts its plugin declares for the environment (``credential_origins`` on the
settings, e.g. Webull's quotes and events hosts, a token endpoint on its own host), and the
profile's own ``allowed_origins``.  A request to any other origin is refused before anything is
signed or sent, and plain ``http://`` is an origin only on a loopback host (the sandboxes).

Origins are kept in the form :class:`~brokerauth.contract.wire.Request` holds its scheme and host
(``host`` or ``host:port``, the port only when it is not the scheme's default), so checking a
request is one set lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from brokerauth.contract.wire import netloc

#: ``(scheme, netloc)`` as :class:`~brokerauth.contract.wire.Request` has them.
Origin = tuple[str, str]


def _shown(url: str) -> str:
    """``url`` as an error may quote it: no user part, query or fragment (they may hold a
    credential); :func:`brokerauth.toolkit.settings_checks.shown_url`."""
    from brokerauth.toolkit.settings_checks import shown_url

    return shown_url(url)


def parse_origin(url: str) -> Origin:
    """The origin of an absolute ``http(s)`` URL; a ``ValueError`` says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {_shown(url)!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"the port of {_shown(url)!r} is not a number from 0 to 65535") from None
    return parts.scheme, netloc(parts.scheme, parts.hostname, port)


def origin_text(origin: Origin) -> str:
    return f"{origin[0]}://{origin[1]}"


def host_of(origin: Origin) -> str:
    """The bare host of an origin (no port, no IPv6 brackets)."""
    host = origin[1]
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rpartition(":")[0] if ":" in host else host


def cleartext_refused(origin: Origin) -> bool:
    """Whether credentials must never go to ``origin``: plain http to a non-loopback host."""
    if origin[0] != "http":
        return False
    from brokerauth.toolkit.settings_checks import is_loopback_host

    return not is_loopback_host(host_of(origin))


def check_allowed_origin(value: str) -> str:
    """One ``allowed_origins`` entry: ``https://host[:port]`` (``http://`` only on loopback),
    with nothing after the origin; returns it in its canonical form."""
    parts = urlsplit(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        # Not the value as given: its user part or query may hold a credential.
        raise ValueError(
            f"{_shown(value)!r} is not an origin: give scheme, host and port only, like "
            "'https://data-api.example.com' or 'https://host:8443'"
        )
    origin = parse_origin(value)
    if cleartext_refused(origin):
        raise ValueError(
            f"{_shown(value)!r} is plain http to a host that is not loopback: credentials "
            "would cross the network in clear; use https:// (http:// is only for 127.0.0.1, "
            "::1, localhost)"
        )
    return origin_text(origin)


class Origins:
    """The origins one profile's credentials may reach."""

    __slots__ = ("_set", "ordered")

    def __init__(self, urls: Iterable[str]) -> None:
        ordered: list[Origin] = []
        for url in urls:
            origin = parse_origin(url)
            if origin not in ordered:
                ordered.append(origin)
        #: In the order given: the API base first.
        self.ordered: tuple[Origin, ...] = tuple(ordered)
        self._set = frozenset(ordered)

    def allows(self, scheme: str, host: str) -> bool:
        return (scheme, host) in self._set

    def __contains__(self, origin: object) -> bool:
        return origin in self._set

    def __repr__(self) -> str:
        return f"<Origins {' '.join(origin_text(o) for o in self.ordered)}>"
