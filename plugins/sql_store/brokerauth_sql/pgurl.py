"""A PostgreSQL URL as libpq reads it, and the rules it must pass before anything connects.

The URL is read with libpq's own parser (``psycopg.conninfo.conninfo_to_dict``), never with
``urllib``: the two disagree on URLs an attacker can write (a second ``@``, a ``#``, an empty
``hostaddr=``), and a check made on another reading than the one that connects proves
nothing.  Without psycopg (only at profile load: the store needs it anyway) a plain reading
is used, refusing every form on which the readings could differ.

Forms refused, whoever wrote them: a ``#``, more than one ``@``, a port that is not a number,
an ``@`` in a host or database name (a password holding ``/ : @ ? #`` must be
percent-encoded, or libpq reads part of it as the host), a ``service=`` (or ``PGSERVICE``):
a service file names the host and TLS mode where no check can see them.

Where the connection goes: ``hostaddr`` (or ``PGHOSTADDR``) when set, else ``host`` (or
``PGHOST``), else the default Unix socket; it counts as this machine when every target is a
socket folder, ``localhost`` or a loopback address (names under ``.localhost`` are looked up
in DNS by libpq, so they do not count).  What was checked is pinned: the environment's host
and TLS mode are passed explicitly, and a cleartext password exchange is refused
(``require_auth=!password``) unless the URL asks otherwise.

No message quotes the URL: only hosts, ports and the database name, which have passed the
checks above.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

__all__ = ["UNREADABLE", "PgUrl"]

UNREADABLE: Final = (
    "cannot be read as a PostgreSQL URL (postgresql://user:password@host:port/database"
    "?sslmode=verify-full; a user name or password holding / : @ ? # must be percent-encoded)"
)
# The only mode that checks both the certificate and that it names the host: verify-ca
# accepts any certificate of the authority, for any host.
VERIFYING_SSLMODE: Final = "verify-full"


@attrs.frozen
class PgUrl:
    """One PostgreSQL URL, read as libpq reads it."""

    raw: str = attrs.field(repr=False)
    fields: Mapping[str, str] = attrs.field(repr=False)

    @classmethod
    def read(cls, url: str) -> PgUrl:
        """:raises ValueError: with a message safe to show."""
        if "#" in url:
            raise ValueError(UNREADABLE)
        fields = _libpq_fields(url)
        if "service" in fields or os.environ.get("PGSERVICE"):
            raise ValueError(
                "names a service (service= or $PGSERVICE), whose file gives the host and TLS "
                "mode where the store cannot check them: write the host in the URL"
            )
        for port in fields.get("port", "").split(","):
            if port and not port.isdigit():
                raise ValueError(UNREADABLE)
        if any("@" in fields.get(name, "") for name in ("host", "hostaddr", "dbname")):
            raise ValueError(UNREADABLE)
        return cls(url, fields)

    @property
    def password(self) -> str | None:
        return self.fields.get("password") or None

    @property
    def targets(self) -> tuple[str, ...]:
        """Where libpq connects: host addresses, host names or socket folders."""
        # libpq fills each setting the URL lacks from its variable: a PGHOSTADDR sends a URL
        # naming localhost elsewhere.
        for name, variable in (("hostaddr", "PGHOSTADDR"), ("host", "PGHOST")):
            value = self.fields.get(name) or os.environ.get(variable)
            if value:
                return tuple(part for part in value.split(",") if part) or ("",)
        return ()

    @property
    def sslmode(self) -> str:
        return self.fields.get("sslmode") or os.environ.get("PGSSLMODE", "")

    @property
    def verifies_server(self) -> bool:
        return self.sslmode == VERIFYING_SSLMODE

    @property
    def is_local(self) -> bool:
        return all(_is_local_target(target) for target in self.targets)

    @property
    def location(self) -> str:
        """Hosts, ports and database, for messages: never the user or password."""
        ports = self.fields.get("port", "").split(",")
        shown = []
        for number, target in enumerate(self.targets or ("",)):
            port = ports[number] if number < len(ports) else (ports[0] if len(ports) == 1
                                                               else "")
            if target.startswith("/") or not target:
                shown.append(f"(socket {target or 'default'})")
                continue
            host = f"[{target}]" if ":" in target else target
            shown.append(f"{host}:{port}" if port else host)
        return f"postgresql://{','.join(shown)}/{self.fields.get('dbname', '')}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The password as libpq reads it and as it is written, to mask in any message."""
        found = [self.password or ""]
        rest = self.raw.split("://", 1)[-1].split("/", 1)[0]
        if "@" in rest:
            userinfo = rest.rsplit("@", 1)[0]
            if ":" in userinfo:
                written = userinfo.split(":", 1)[1]
                found += [written, unquote(written)]
        return tuple(dict.fromkeys(value for value in found if value))

    def pinned(self) -> dict[str, str]:
        """Connection settings passed explicitly, so that what was checked is what connects."""
        pinned: dict[str, str] = {}
        for name, variable in (("host", "PGHOST"), ("hostaddr", "PGHOSTADDR")):
            if not self.fields.get(name) and os.environ.get(variable):
                pinned[name] = os.environ[variable]
        if "sslmode" not in self.fields and self.sslmode:
            pinned["sslmode"] = self.sslmode
        if "require_auth" not in self.fields:
            pinned["require_auth"] = "!password"
        return pinned


def _is_local_target(target: str) -> bool:
    if not target or target.startswith(("/", "@")):
        return True  # a Unix socket folder, the default socket, or an abstract socket
    if target.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(target)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _libpq_fields(url: str) -> dict[str, str]:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return _plain_fields(url)
    try:
        parsed = conninfo_to_dict(url)
    except Exception:
        # libpq's message quotes the text it could not read, which may be the password.
        raise ValueError(UNREADABLE) from None
    return {name: str(value) for name, value in parsed.items() if value is not None}


def _plain_fields(url: str) -> dict[str, str]:
    """A reading without libpq, for the forms on which every reader agrees."""
    rest = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    if rest.count("@") > 1:
        raise ValueError(UNREADABLE)
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        raise ValueError(UNREADABLE) from None
    fields: dict[str, str] = {}
    if parts.username:
        fields["user"] = unquote(parts.username)
    if parts.password:
        fields["password"] = unquote(parts.password)
    hosts, ports = [], []
    for item in netloc.split(","):
        host, port = item, ""
        if item.startswith("["):
            end = item.find("]")
            if end < 0:
                raise ValueError(UNREADABLE)
            host, port = item[1:end], item[end + 1:].lstrip(":")
        elif ":" in item:
            host, port = item.rsplit(":", 1)
        hosts.append(unquote(host))
        ports.append(port)
    if any(hosts):
        fields["host"] = ",".join(hosts)
    if any(ports):
        fields["port"] = ",".join(ports)
    if parts.path.strip("/"):
        fields["dbname"] = unquote(parts.path.lstrip("/"))
    fields.update(parse_qsl(parts.query, keep_blank_values=True))
    return fields
