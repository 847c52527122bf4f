"""attrs validators and converters that broker plugins' settings classes share.

Each error names the setting (the attrs attribute) and shows what was given, so the core can
report it as a profile mistake on that key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def strip_slash(value: Any) -> Any:
    """A URL without its trailing slashes (paths are joined onto it); other values as they are."""
    return value.rstrip("/") if isinstance(value, str) else value


def positive_seconds(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, not {value!r}")


def seconds_up_to(upper: float) -> Any:
    """A validator: more than 0 and at most ``upper`` seconds."""
    def check(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0 < value <= upper:
            raise ValueError(f"{attribute.name} must be more than 0 and at most {upper:g} seconds")

    return check


def not_empty(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


#: Why a plain-http URL was refused, for errors elsewhere to say it the same way.
PLAIN_HTTP_ONLY_LOCAL = "plain http is only for a local sandbox on 127.0.0.1/::1/localhost"

# The loopback spellings sandboxes use, answered without importing ipaddress.
_LOOPBACK_FAST = frozenset(("127.0.0.1", "::1", "localhost"))
def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a URL's host, as ``urlsplit(url).hostname`` gives it; ``[::1]`` with
    brackets is accepted too) names this machine: an address in 127.0.0.0/8, ``::1``, an
    IPv4-mapped ``::ffff:127.x.y.z``, or the name ``localhost`` (case-insensitive).

    Anything else is not: ``0.0.0.0`` and ``::`` (unspecified, not loopback), names that only
    start with a loopback spelling (``127.0.0.1.evil.com``, ``localhost.evil.com``), names
    under ``localhost`` and ``localhost.`` (RFC 6761 asks resolvers to answer those with
    loopback, but glibc's sends them to DNS, whose answer an attacker on the network can
    give), and abbreviated or numeric IPv4 forms (``127.1``, ``2130706433``, ``0x7f.1``):
    resolvers disagree on those, and refusing a sandbox spelled oddly costs less than
    trusting one.  Never raises.
    """
    host = host.lower()
    if host.startswith("[") and host.endswith("]") and ":" in host:
        host = host[1:-1]  # brackets belong around an IPv6 address only
    if host in _LOOPBACK_FAST:
        return True
    import ipaddress  # only for hosts other than the sandboxes' usual spellings

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Python 3.13 started calling these loopback; decide it here, the same on every version.
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def plain_http_allowed(url: str) -> bool:
    """The rule for any URL credentials may be sent to: ``True`` for ``https://`` with a host
    (any host), and for ``http://`` only when the host is loopback (:func:`is_loopback_host`:
    a local sandbox); ``False`` for ``http://`` elsewhere, any other scheme, or no host.

    ``url`` is an absolute URL or an origin (``scheme://host[:port]``); the scheme is compared
    case-insensitively.  Never raises.
    """
    try:
        parts = urlsplit(url)
    except (ValueError, TypeError):
        return False
    host = parts.hostname
    if not host:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and is_loopback_host(host)


def shown_url(url: str) -> str:
    """``url`` as an error may show it: its user part (which may hold a password), its query
    and its fragment (which may hold a key or a token) each replaced by ``***``; the scheme,
    host, port and path kept, which are what a person needs to see what is wrong."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be read)"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc, query="***" if parts.query else "",
                          fragment="***" if parts.fragment else "").geturl()


_shown = shown_url


def http_url(*, query: bool = False, example: str = "https://api.example.com",
             any_http_host: bool = False) -> Validator:
    """An absolute ``http(s)`` URL (or ``None``), without a fragment, and without a query
    unless ``query``.  ``http://`` only on a loopback host (:func:`plain_http_allowed`):
    keys, signatures and tokens must not cross a network in clear.  ``any_http_host`` keeps
    the old leniency (any http host, any port text) for a URL this program sends no
    credential to and that has rules of its own (a registered OAuth redirect)."""

    def check(_: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
        if value is None:
            return
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in range
            port_ok = True
        except ValueError:
            port_ok = any_http_host  # a redirect's port is checked by its own rules
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or not port_ok
            or parts.fragment
            or (parts.query and not query)
        ):
            raise ValueError(
                f"{attribute.name} must be an absolute http(s) URL"
                + ("" if query else " without a query")
                + f", like {example!r}, not {_shown(value)!r}"
            )
        if not any_http_host and not plain_http_allowed(value):
            secure = "https://" + value[len("http://"):]
            raise ValueError(
                f"{attribute.name} must not be plain http to {parts.hostname!r}: keys, "
                f"signatures and tokens would cross the network in clear; use "
                f"{_shown(secure)!r}, {PLAIN_HTTP_ONLY_LOCAL}"
            )

    return check


#: The command that makes a Fernet key, for the hints of the stores that take one.
MAKE_FERNET_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def check_remote_store(
    *, server: str, location: str, tls: bool, tls_fix: str, encrypted: bool, key_env: str,
) -> None:
    """The rule of a token store on a server of another machine: its connection uses TLS
    that checks the server, and its tokens are encrypted at rest, unless the profile says
    ``allow_plaintext = true`` (the caller checks that, and that the server is remote).

    ``server`` names the kind of server ("Redis"), ``location`` where it is (no password),
    ``tls_fix`` how to turn TLS on, ``key_env`` the variable the example key reference uses.

    :raises ValueError: naming the options to change, never a URL's secret part.
    """
    lacks, why, fixes = [], [], []
    if not tls:
        lacks.append("TLS")
        why.append(f"tokens and the {server} password would cross the network in clear")
        fixes.append(tls_fix)
    if not encrypted:
        lacks.append("an encryption_key")
        why.append(f"tokens would sit in {server} readable by anyone who can read it")
        fixes.append(f'add encryption_key = {{ env = "{key_env}" }} (make a key with '
                     f"{MAKE_FERNET_KEY})")
    if lacks:
        raise ValueError(
            f"points at a {server} server on another machine ({location}) without "
            f"{' and without '.join(lacks)}: {' and '.join(why)}; {' and '.join(fixes)}, or, "
            "if that network and server are trusted, set allow_plaintext = true"
        )
