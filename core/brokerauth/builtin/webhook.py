"""The built-in ``webhook`` notifier: each credential event POSTed as one JSON object.

A profile names it as ``notify = { name = "webhook", url = { env = "HOOK_URL" } }``.  The URL
is a secret: the URLs of Slack, Discord and most chat services carry the token that lets
anyone post, so it is a :class:`~brokerauth.toolkit.secrets.Secret` like an app secret, and
no log line, error, ``repr`` or terminal output shows it; they say "the webhook of profile
NAME" instead.

What it sends, and what it never does:

* ``POST`` with ``Content-Type: application/json`` and ``User-Agent: brokerauth/VERSION``,
  and a body of exactly ``profile``, ``identity``, ``broker``, ``event`` (the kind),
  ``at``, ``works_until``, ``must_act_by`` (ISO 8601 UTC, or ``null``), ``message``,
  ``login_command`` and ``login_url``;
* ``https://`` only, or plain ``http://`` to a loopback host (a local relay or a test),
  the same rule as every other URL of brokerauth;
* one attempt, no redirect followed (a 3xx is a failure and its ``Location`` is not
  visited: a redirect could carry the event, or the token in the URL, elsewhere);
* at most ``timeout`` seconds from the call to its return, whatever the server does
  (answers slowly, trickles, never answers); the answer's status and headers are read,
  never its body;
* never an exception: a 2xx is ``True``; anything else is ``False`` and one WARNING line on
  the logger ``brokerauth.notify.webhook`` saying which profile's webhook failed and how.

Importing this module costs nothing beyond what the core has already imported: urllib3,
:mod:`json`, :mod:`logging` and the socket machinery load on the first notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

import attrs

from brokerauth.contract.errors import BrokerAuthError
from brokerauth.contract.hookspecs import hookimpl
from brokerauth.contract.specs import NOTIFIER, PluginInfo, StrategySpec
from brokerauth.toolkit.headers import header_problem
from brokerauth.toolkit.secrets import Secret

if TYPE_CHECKING:
    from datetime import datetime

    from brokerauth.contract.events import CredentialEvent

__all__ = [
    "DEFAULT_TIMEOUT",
    "LOGGER",
    "MAX_TIMEOUT",
    "WEBHOOK",
    "WebhookOptions",
    "WebhookPlugin",
    "deliver",
    "payload",
]

#: The id the host registers this plugin under, beside ``builtin``.
#: The notifier's strategy name.
WEBHOOK = "webhook"
LOGGER = "brokerauth.notify.webhook"
DEFAULT_TIMEOUT = 5.0
#: A notification is sent from inside a session's work: the hook's contract allows "a few
#: seconds at most", so a profile cannot ask for more than this.
MAX_TIMEOUT = 10.0

# Headers that frame the request or that this notifier sets: a profile's ``headers`` adding
# one would send a request other than the one described above.
_RESERVED_HEADERS = frozenset(
    ("host", "content-length", "transfer-encoding", "connection", "content-type",
     "user-agent", "te", "upgrade", "trailer", "expect", "keep-alive", "proxy-connection")
)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's address, in words that never quote it; ``None`` when
    it can."""
    # Imported here: a broker's settings import it anyway, the core alone need not.
    from brokerauth.toolkit.settings_checks import PLAIN_HTTP_ONLY_LOCAL, plain_http_allowed

    if not isinstance(url, str):
        return f"is a {type(url).__name__}, not text"
    # An address split by a space or a line break would be sent as something else.
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        return "holds a space, a control character or a character outside ASCII"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "is not a valid URL (its host or port cannot be read)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute https:// URL"
    if "@" in parts.netloc:
        return ("must not carry a user or password before its host: give a credential as "
                "headers = { Authorization = { env = \"NAME\" } }")
    if not plain_http_allowed(url):
        return f"must be https://, {PLAIN_HTTP_ONLY_LOCAL}"
    return None


def _url_reference(_: Any, attribute: attrs.Attribute[Secret], value: Secret) -> None:
    if not isinstance(value, Secret):
        raise TypeError(
            f"{attribute.name} must be a Secret (Secret(env=...), Secret(file=...) or "
            f"Secret.from_value(...)), not {type(value).__name__}"
        )
    # A secret given by value (from code) is checked now, as a profile is read; one that
    # lives in the environment or a file is resolved on first use, like every secret, and
    # checked then, before any connection.
    if value.env is None and value.file is None:
        problem = url_problem(value.reveal())
        if problem is not None:
            raise ValueError(f"the webhook's {attribute.name} {problem}")


def _timeout(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        0 < value <= MAX_TIMEOUT
    ):
        raise ValueError(
            f"{attribute.name} must be a number of seconds above 0 and at most "
            f"{MAX_TIMEOUT:g}, not {value!r}"
        )


def _header_names(_: Any, attribute: attrs.Attribute[Mapping[str, Secret]],
                  value: Mapping[str, Secret]) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{attribute.name} must map header names to secrets")
    for name, secret in value.items():
        if header_problem(name, "x") is not None:
            raise ValueError(f"{attribute.name}: {str(name)[:60]!r} is not an HTTP field name")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"{attribute.name}: {name} is set by the notifier itself")
        if not isinstance(secret, Secret):
            raise TypeError(f"{attribute.name}: the value of {name} must be a secret reference")


@attrs.frozen
class WebhookOptions:
    """Options of the ``webhook`` notifier, given in a profile as
    ``notify = { name = "webhook", url = { env = "HOOK_URL" }, timeout = 5 }``."""

    #: Where events are POSTed: ``https://``, or ``http://`` to a loopback host.  A secret.
    url: Secret = attrs.field(validator=_url_reference)
    #: Seconds from the call to its return, connecting and waiting for the answer included.
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_timeout)
    #: Extra headers, each value a secret (``Authorization = { env = "HOOK_TOKEN" }``).
    headers: Mapping[str, Secret] = attrs.field(
        factory=dict, validator=_header_names, hash=False
    )


class WebhookPlugin:
    """The ``webhook`` notifier."""

    def __repr__(self) -> str:
        return "WebhookPlugin()"

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(
            description="brokerauth's built-in webhook notifier",
            strategies=(
                StrategySpec(
                    kind=NOTIFIER,
                    name=WEBHOOK,
                    description=(
                        "POSTs each credential event as JSON to url (a secret; https://, or "
                        "http:// to a loopback host), within timeout seconds, following no "
                        "redirect"
                    ),
                    options=WebhookOptions,
                ),
            ),
        )

    @hookimpl
    def notify(self, event: CredentialEvent, options: Any) -> bool:
        return deliver(event, options)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    from brokerauth.contract.clock import utc_text

    return utc_text(moment)


def payload(event: CredentialEvent) -> dict[str, Any]:
    """The JSON object sent for ``event``."""
    return {
        "profile": event.profile,
        "identity": event.identity,
        "broker": event.broker,
        "event": event.kind,
        "at": _iso(event.at),
        "works_until": _iso(event.works_until),
        "must_act_by": _iso(event.must_act_by),
        "message": event.message,
        "login_command": event.login_command,
        "login_url": event.login_url,
    }


def deliver(event: CredentialEvent, options: Any) -> bool:
    """POST ``event`` to the webhook of ``options``; ``True`` on a 2xx answer within the
    timeout, else ``False`` and a WARNING naming the profile and what failed.  Never raises
    (a notification never breaks a request) and never shows the URL."""
    import logging

    log = logging.getLogger(LOGGER)
    what = f"the webhook of profile {event.profile!r} did not deliver the {event.kind} event"
    try:
        failure = _deliver(event, options)
    except Exception as exc:  # a bug here must not break the session that noticed the event
        failure = f"unexpected {type(exc).__name__}"
    if failure is None:
        log.debug("the webhook of profile %r delivered the %s event", event.profile, event.kind)
        return True
    log.warning("%s: %s", what, failure)
    return False


def _deliver(event: CredentialEvent, options: Any) -> str | None:
    """``None`` once delivered, else why not (safe to log)."""
    if not isinstance(options, WebhookOptions):
        return "it has no url (write notify = { name = \"webhook\", url = { env = \"NAME\" } })"
    source = options.url.source
    try:
        url = options.url.reveal()
        extra = {name: secret.reveal() for name, secret in options.headers.items()}
    except BrokerAuthError as exc:  # an unset variable, an unreadable file: named, not shown
        return f"a secret is not available: {exc.message}"
    problem = url_problem(url)
    if problem is not None:
        return f"its url (from {source}) {problem}; nothing was sent"
    for name, value in extra.items():
        header_fault = header_problem(name, value)
        if header_fault is not None:
            return f"its header {name} cannot be sent: {header_fault}; nothing was sent"

    import json

    from brokerauth._version import user_agent

    body = json.dumps(payload(event), ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        **extra,
        "Content-Type": "application/json",
        "User-Agent": user_agent(),
    }
    return _Exchange(urlsplit(url), body, headers, float(options.timeout)).run()


# What a failure is called, by the class of the exception urllib3 or the socket raised.
_REASONS = {
    "NewConnectionError": "connection refused or host unreachable",
    "ConnectionRefusedError": "connection refused",
    "NameResolutionError": "the host name could not be resolved",
    "gaierror": "the host name could not be resolved",
    "ConnectTimeoutError": "timed out connecting",
    "SSLError": "the TLS handshake or certificate check failed",
    "SSLCertVerificationError": "the server's TLS certificate could not be verified",
    "RemoteDisconnected": "the server closed the connection without answering",
    "ConnectionResetError": "the connection was reset",
    "BadStatusLine": "the answer was not HTTP",
    "LineTooLong": "the answer's headers were too long",
    "HTTPException": "the answer was not valid HTTP",
}


def _reason(exc: BaseException) -> str:
    # Only the class is named: urllib3's messages quote the connection, and a server's text
    # has no place in a warning about a secret URL.
    for kind in type(exc).__mro__:
        if kind.__name__ in _REASONS:
            return _REASONS[kind.__name__]
        if kind.__name__ in ("TimeoutError", "timeout"):
            return "timed out"
    return f"failed ({type(exc).__name__})"


class _Exchange:
    """One POST, run on a thread of its own so the caller waits ``seconds`` at most.

    Socket timeouts bound each operation, not the exchange (a server trickling a byte just
    inside each read would hold it for ever), and not the name lookup; so the caller waits
    for the thread until the deadline only, then shuts the connection down, which ends any
    read in progress, and the thread sends nothing more.
    """

    def __init__(self, parts: SplitResult, body: bytes, headers: Mapping[str, str],
                 seconds: float) -> None:
        import threading

        self._parts = parts
        self._body = body
        self._headers = headers
        self._seconds = seconds
        self._lock = threading.Lock()
        self._connection: Any = None
        self._cancelled = False
        self._outcome: str | None = "no answer"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._post, name="brokerauth-webhook",
                                        daemon=True)

    def run(self) -> str | None:
        self._thread.start()
        if self._done.wait(self._seconds):
            return self._outcome
        self._cut()
        return f"no answer within {self._seconds:g} s"

    def _cut(self) -> None:
        import contextlib
        import socket

        with self._lock:
            self._cancelled = True
            connection = self._connection
        sock = getattr(connection, "sock", None)
        if sock is not None:
            # An OSError: the other side closed it already, and nothing is left to end.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _post(self) -> None:
        try:
            self._outcome = self._exchange()
        except Exception as exc:
            self._outcome = _reason(exc)
        finally:
            self._done.set()

    def _exchange(self) -> str | None:
        # One connection made here and closed here: no pool, so nothing retries, nothing
        # follows a redirect, and nothing is kept for another request.
        from urllib3.connection import HTTPConnection, HTTPSConnection

        parts = self._parts
        host = parts.hostname
        assert host is not None  # url_problem refused a URL without one
        kind = HTTPSConnection if parts.scheme == "https" else HTTPConnection
        connection = kind(host, parts.port, timeout=self._seconds)
        with self._lock:
            if self._cancelled:
                return "no answer in time"
            self._connection = connection
        try:
            connection.connect()
            with self._lock:
                # Past the deadline the caller has gone: the event must not arrive late
                # and be reported as lost.
                if self._cancelled:
                    return "no answer in time"
            target = parts.path or "/"
            if parts.query:
                target = f"{target}?{parts.query}"
            connection.request("POST", target, body=self._body, headers=self._headers,
                               preload_content=False)
            answer = connection.getresponse()
            status = answer.status
        finally:
            connection.close()
        if 200 <= status < 300:
            return None
        if 300 <= status < 400:
            return f"the server answered HTTP {status} (a redirect, not followed)"
        return f"the server answered HTTP {status}"
