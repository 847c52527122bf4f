"""The HTTP libraries' own log lines kept free of query strings, signatures and header values.

:mod:`logging` is imported when a filter is installed, not with this module: a command that
never logs, such as ``brokerauth sign``, need not pay its milliseconds of start-up (modules on
that path get their logger from :func:`brokerauth.contract.interaction.logger`, on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Where plugins have imported it from: the one implementation is the contract's.
from brokerauth.contract.interaction import logger as logger

if TYPE_CHECKING:
    import logging

#: The HTTP libraries' loggers that write a request target or URL into a record: urllib3 2.x's
#: ``"GET /path?query HTTP/1.1" 200`` line, retries and redirects, and httpx's INFO line
#: ``HTTP Request: GET https://host/path?query``.  A filter on a logger sees only the records
#: made on that very logger, so each one gets it.
HTTP_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "urllib3.connection",
    "httpx",
)

#: HTTP/2's header coder (hpack, under httpx with ``http2=True``) logs each header it encodes
#: or decodes, value and all (it masks only ``Authorization``), and each header block as
#: bytes: none of its records can be made safe, so they are dropped.
HEADER_LOGGERS = ("hpack.hpack", "hpack.table")

#: httpcore's trace loggers (httpx's transport): each record is a step with its arguments,
#: formatted beforehand; the answer's step carries the status line and every header, value
#: and all (a ``Location`` with an authorization code, a cookie).
TRACE_LOGGERS = ("httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                 "httpcore.socks")
_ANSWER_STEP = "receive_response_headers.complete"

#: What a query string is replaced by.
QUERY_MARK = "?<query>"


def quiet_http_logs() -> None:
    """Make urllib3's and httpx's log records leave out query strings (they carry signatures,
    tokens and whatever a caller put in a parameter), drop HTTP/2's header coding records and
    keep only the status of httpcore's trace of an answer (they carry header values),
    whoever turns DEBUG on: ``brokerauth -v`` or an application's own ``logging`` set-up.

    The filter goes on urllib3's loggers themselves, not on a handler, so it holds for every
    handler added later.  Idempotent and cheap: call it whenever a pool or an adapter is made.
    """
    import logging

    for names, keep in ((HTTP_LOGGERS, redact_query_record), (HEADER_LOGGERS, drop_record),
                        (TRACE_LOGGERS, redact_trace_record)):
        for name in names:
            target = logging.getLogger(name)
            if keep not in target.filters:
                target.addFilter(keep)


def drop_record(record: logging.LogRecord) -> bool:
    """A :mod:`logging` filter that lets no record through."""
    return False


def redact_trace_record(record: logging.LogRecord) -> bool:
    """A :mod:`logging` filter for httpcore's traces: the answer's step keeps its status
    only, every other step loses its query strings (:func:`redact_query_record`)."""
    try:
        message = record.getMessage()
        if message.startswith(_ANSWER_STEP):
            import re

            # (b'HTTP/1.1', 200, b'OK', [...]) over HTTP/1.1, (200, [...]) over HTTP/2.
            status = re.search(r"return_value=\((?:b'[^']*', )?(\d{3})\b", message)
            record.msg = (f"{_ANSWER_STEP} status={status.group(1)} (headers not logged)"
                          if status else f"{_ANSWER_STEP} (not logged)")
            record.args = ()
            return True
    except Exception:
        return False
    return redact_query_record(record)


def redact_query_record(record: logging.LogRecord) -> bool:
    """A :mod:`logging` filter: ``record`` with every query string replaced by ``?<query>``.

    Never raises: a record that cannot be made safe is dropped (``False``), because logging's
    own error report for a record it fails to format prints the record's arguments.
    """
    try:
        args = record.args
        if isinstance(args, tuple) and args:
            # The usual form: the method, target and URLs are separate %s arguments.
            record.args = tuple(
                without_query(arg) if isinstance(arg, str) else arg for arg in args
            )
        # Whatever form is left (a dict of arguments, a message formatted beforehand, an
        # exception whose text names the URL): what gets printed holds no query either.
        message = record.getMessage()
        if "?" in message:
            record.msg = _text_without_queries(message)
            record.args = ()
        return True
    except Exception:
        return False


def without_query(target: str) -> str:
    """``target`` (a request target or URL) with its query replaced by ``?<query>``; the
    fragment goes too, as nothing after ``?`` is kept."""
    head, mark, _ = target.partition("?")
    return head + QUERY_MARK if mark else target


def _text_without_queries(text: str) -> str:
    import re  # already loaded whenever logging is

    # Up to the next blank, quote or bracket: the end of a URL inside a log line.
    return re.sub(r"\?(?!<query>)[^\s\"'<>()\[\]{}]*", QUERY_MARK, text)
