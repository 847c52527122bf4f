"""An echoing endpoint for tests: every request is refused with an error message that quotes
the whole request (request line, headers, body) between terminal escapes and line breaks,
as a careless or hostile server would.

Pointing a profile's token endpoint at it shows whether a plugin's errors and log lines keep
the request's secrets masked and the server's control characters out (guarantee 19)::

    with EchoServer(clock, dialect="error_code", part="body") as echo:
        session = session_factory(sandbox, base_url=echo.base_url)  # a stored token's profile
        with pytest.raises(RefreshError) as caught:
            session.get("/api/me")  # in the mandatory window
        assert shown_problems(secrets_sent, error=caught.value, records=caplog.records) == []
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
import unicodedata
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from brokerauth.contract.clock import Clock

from brokerauth_sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

Dialect = Literal["rfc", "error_code", "code-in-200"]
Part = Literal["all", "body", "quoted-body", "headers"]

#: What the echo wraps the request in: screen-clearing and colour escapes, a right-to-left
#: override, and line breaks, so a test can see that none of them reaches the user.
PREFIX = "\x1b[2J\x1b[31m\u202e"
SUFFIX = "\x1b[0m\r\n\x07"
_SENSITIVE = ("authorization", "cookie", "token", "secret", "signature", "key", "session")


class EchoServer(SandboxServer):
    """Answers every request with an error quoting it, in one of three dialects:

    * ``rfc``: HTTP 400, ``{"error": "invalid_request", "error_description": <echo>}``;
    * ``error_code``: HTTP 401, ``{"error_code": <echo>, "message": <echo>}`` (as Webull's
      API answers);
    * ``code-in-200``: HTTP 200, ``{"code": <echo>, "message": <echo>}`` (a refusal inside a
      success, as Futu's legacy API answers).

    The echo quotes ``part`` of the request: all of it (request line, headers, body), or,
    since an error message is cut after 300 characters, one part in full: the body as sent,
    the body quoted again as a JSON string (a server re-serialising what it got), or the
    headers, those whose names look sensitive first.
    """

    broker: ClassVar[str] = "echo"

    def __init__(
        self, clock: Clock | None = None, *, dialect: Dialect = "rfc", part: Part = "all"
    ) -> None:
        super().__init__(clock)
        self.dialect: Dialect = dialect
        self.part: Part = part
        #: Every request received, in order (their reprs show names and sizes only).
        self.received: list[SandboxRequest] = []
        self._received_lock = threading.Lock()

    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        with self._received_lock:
            self.received.append(request)
        text = PREFIX + echo_of(request, self.part) + SUFFIX
        if self.dialect == "error_code":
            return SandboxResponse.json({"error_code": text, "message": text}, status=401)
        if self.dialect == "code-in-200":
            return SandboxResponse.json({"code": text, "message": text})
        return SandboxResponse.json(
            {"error": "invalid_request", "error_description": text}, status=400
        )

    def form(self, index: int = -1) -> dict[str, str]:
        """The form or JSON object body of a received request, as strings."""
        request = self.received[index]
        if (request.header("content-type") or "").startswith("application/json"):
            data: Any = request.json()
            return {str(key): str(value) for key, value in data.items()}
        return request.form()


def echo_of(request: SandboxRequest, part: Part = "all") -> str:
    """``part`` of ``request`` as a server would quote it, lines ending in CR LF."""
    body = request.body.decode("utf-8", errors="replace")
    if part == "body":
        return body
    if part == "quoted-body":
        return json.dumps(body)
    headers = sorted(request.headers.items(),
                     key=lambda item: not any(word in item[0] for word in _SENSITIVE))
    lines = [f"{name}: {value}" for name, value in headers]
    if part == "headers":
        return "\r\n".join(lines)
    target = f"{request.path}?{request.query}" if request.query else request.path
    return "\r\n".join([f"{request.method} {target} HTTP/1.1", *lines, "", body])


def leaks(text: str, secrets: Iterable[str], *, lines: bool = False) -> list[str]:
    """What is wrong with ``text`` as shown to a user: each secret found in it, whole or as a
    long fragment (two thirds of it, at least 12 characters: a partly escaped echo), named by
    its length only; and each control or invisible character, by code point.  With
    ``lines=True`` line breaks are allowed (a traceback, a message with its hint)."""
    problems = []
    for secret in secrets:
        if len(secret) >= 4 and secret in text:
            problems.append(f"a secret of {len(secret)} characters")
        elif len(secret) >= 12:
            size = max(12, 2 * len(secret) // 3)
            if any(secret[i:i + size] in text for i in range(len(secret) - size + 1)):
                problems.append(f"a fragment of a secret of {len(secret)} characters")
    allowed = "\n" if lines else ""
    problems += sorted({
        f"U+{ord(char):04X}" for char in text
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cf", "Cs")
    })
    return problems


def shown_problems(
    secrets: Iterable[str],
    *,
    error: BaseException | None = None,
    records: Iterable[logging.LogRecord] = (),
) -> list[str]:
    """:func:`leaks` in everything a user would see of ``error`` (its text, each message of
    its chain, its traceback) and of log ``records`` (each message on one line)."""
    secrets = [secret for secret in secrets if secret]
    problems: list[str] = []
    if error is not None:
        problems += leaks(str(error), secrets, lines=True)
        problems += leaks("".join(traceback.format_exception(error)), secrets, lines=True)
        chain: list[BaseException] = []
        link: BaseException | None = error
        while link is not None and link not in chain:
            chain.append(link)
            link = link.__cause__ or link.__context__
        for link in chain:
            problems += leaks(str(link.args[0]) if link.args else "", secrets)
    for record in records:
        where = f"log record {record.name} {record.levelname}: "
        problems += [where + problem for problem in leaks(record.getMessage(), secrets)]
        if record.exc_info:
            trace = "".join(traceback.format_exception(*record.exc_info))
            problems += [where + problem for problem in leaks(trace, secrets, lines=True)]
    return problems


def issued_by_the_echo(session: Any) -> None:
    """Store ``session``'s stored token again as issued for the session's own origin: the echo
    tests log in with a sandbox, then point the same profile at an echo server, which a token
    issued elsewhere would (rightly) never be sent to."""
    binding = session.binding
    token = binding.load(wherever_issued=True)
    if token is not None:
        from brokerauth.contract.tokens import ISSUED_FOR

        binding.save(token.replace(extra={k: v for k, v in token.extra.items()
                                          if k != ISSUED_FOR}))
