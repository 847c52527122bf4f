"""What a user's own WebSocket client needs to open an authenticated Futu stream.

What the public record says (sources in the plugin's README, "Streaming"):

* Futu's docs name ``FUTU_QUOTE_WS_URL`` and ``FUTU_TRADE_WS_URL`` and nothing more: no
  default URL, no handshake.  futu-cli, Futu's only shipping client of this API, opens no
  WebSocket.  So this module has **no default WebSocket URL**: a profile names one
  (``quote_ws_url`` / ``trade_ws_url``, or the two variables), or :func:`handshake` refuses.
* Longbridge's OpenAPI, whose design Futu's follows (the same ``Config``, variables, signing
  and ``/v1/token/refresh``), documents the handshake: a one-time password from
  ``GET /v1/socket/token`` (an ordinary authenticated API call; answer
  ``{"code": 0, "data": {"otp", "limit", "online"}}``), then a WebSocket to the gateway URL
  with ``?version=1&codec=1&platform=9`` and an ``Accept-Language`` header (no credential in
  the upgrade request), then a binary *auth* request (command 2) whose protobuf body
  ``AuthRequest{token = otp, metadata}`` carries the password.  The password "will be expired
  after authing": one password, one connection.  That mechanism is what is implemented here,
  with the token path a profile setting (``socket_token_path``), since Futu documents none.
  It is Longbridge's protocol, unverified against Futu, so it is opt-in: a profile sets
  ``ws_handshake = "longbridge-otp"`` (no default), or :func:`handshake` refuses.

The password is fetched through the profile's session (the one door: signed or Bearer,
origin-checked, refreshed once on a 401) from the API root, and handed back only inside a
:class:`WebSocketHandshake` whose URL is the profile's own WebSocket URL: the caller has no
way to aim it elsewhere through this API.  Neither the password nor the auth frame is in a
``repr``, a log line or an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlencode, urlsplit

import attrs
from brokerauth.contract.errors import BrokerError, ConfigError, ResponseError
from brokerauth.contract.scrub import MAX_CODE, response_secrets, scrub
from brokerauth.engine.transport import TOKEN_RESPONSE_LIMIT
from brokerauth.toolkit.headers import visible_ascii

if TYPE_CHECKING:
    from brokerauth.engine.sessions import Session

Kind = Literal["quote", "trade"]
KINDS: Final = ("quote", "trade")

#: Longbridge's documented socket token path (``GET``); a profile's ``socket_token_path``.
SOCKET_TOKEN_PATH: Final = "/v1/socket/token"
#: The query Longbridge's SDK adds to the gateway URL: protocol version 1, protobuf codec,
#: platform "OpenAPI" (``rust/crates/wsclient/src/client.rs``, ``do_connect``).
HANDSHAKE_QUERY: Final = (("version", "1"), ("codec", "1"), ("platform", "9"))
#: The control command that authenticates a connection (``CMD_AUTH``).
COMMAND_AUTH: Final = 2
#: How long the gateway may take to answer the auth request, as the SDK asks (milliseconds).
AUTH_TIMEOUT_MS: Final = 5000
#: The longest password taken: Longbridge's are short; anything bigger is not one.
MAX_OTP_CHARS: Final = 4096
_PACKET_REQUEST: Final = 1
_MAX_BODY: Final = (1 << 24) - 1


@attrs.frozen
class WebSocketHandshake:
    """One authenticated connection's worth: connect to :attr:`url` with :attr:`headers`,
    then send :meth:`auth_frame` as the first (binary) message.

    The password is single-use: ask for a new handshake for every connection and every
    reconnect (Longbridge's reconnect command takes the session id the auth answer gave).
    """

    #: ``quote`` or ``trade``.
    kind: str
    #: The profile's WebSocket URL with the handshake query (``?version=1&codec=1&platform=9``).
    url: str
    #: Headers of the upgrade request: ``Accept-Language`` only (no credential).
    headers: Mapping[str, str]
    #: The one-time password for the auth request: a credential.
    otp: str = attrs.field(repr=False)
    #: The connection limit and the connections open now, as the token answer gave them.
    limit: int | None = None
    online: int | None = None
    #: The metadata the SDK sends with the auth request (quote: ``accept-language``).
    metadata: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of :attr:`url`: the only place the password belongs."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def auth_frame(self, request_id: int = 1) -> bytes:
        """The binary auth request carrying the password, as Longbridge's SDK frames it:
        ``0x01`` (request), command ``2``, request id (u32), timeout in ms (u16), body length
        (u24), then the protobuf ``AuthRequest{1: token, 2: map<string, string> metadata}``."""
        if not 0 <= request_id < 1 << 32:
            raise ValueError("request_id must fit in 32 bits")
        body = auth_request_body(self.otp, self.metadata)
        return (
            bytes((_PACKET_REQUEST, COMMAND_AUTH))
            + request_id.to_bytes(4, "big")
            + AUTH_TIMEOUT_MS.to_bytes(2, "big")
            + len(body).to_bytes(3, "big")
            + body
        )


def handshake(session: Session, kind: Kind) -> WebSocketHandshake:
    """A fresh one-time password for the profile's ``kind`` WebSocket, and the rest of what
    a WebSocket client needs to use it.

    :raises ~brokerauth.contract.errors.ConfigError: ``kind`` is not ``quote``/``trade``, the
        profile is not a Futu one, or it names no WebSocket URL for ``kind`` (Futu documents
        no default).
    :raises ~brokerauth.contract.errors.BrokerError: the server refused the token request
        (its code and message, scrubbed), or the connection limit is reached.
    :raises ~brokerauth.contract.errors.ResponseError: the answer holds no usable password.
    """
    if kind not in KINDS:
        raise ConfigError(f"kind must be 'quote' or 'trade', not {kind!r}")
    settings = session.binding.settings
    url = getattr(settings, f"{kind}_ws_url", None)
    path = getattr(settings, "socket_token_path", None)
    if not isinstance(path, str):
        raise ConfigError(f"{session.profile}: not a Futu profile; no WebSocket settings")
    if not isinstance(url, str):
        raise ConfigError(
            f"{session.profile}: no {kind} WebSocket URL is configured, and Futu documents no "
            "default",
            hint=f"set {kind}_ws_url = \"wss://...\" in the profile (or "
            f"FUTU_{kind.upper()}_WS_URL for Config.from_env())",
        )
    if getattr(settings, "ws_handshake", None) != "longbridge-otp":
        raise ConfigError(
            f"{session.profile}: Futu documents no WebSocket handshake; the one implemented "
            "is Longbridge's (a one-time password from GET socket_token_path), not verified "
            "against Futu's gateways",
            hint="to try it, set ws_handshake = \"longbridge-otp\" in the profile (or "
            "Config.new(..., ws_handshake=\"longbridge-otp\") / Config.from_env("
            "ws_handshake=\"longbridge-otp\"))",
        )
    language = str(getattr(settings, "language", "en"))
    otp, limit, online = socket_token(session, path)
    return WebSocketHandshake(
        kind=kind,
        url=with_handshake_query(url),
        headers={"Accept-Language": language},
        otp=otp,
        limit=limit,
        online=online,
        # What the SDK sends: the language on quote connections, nothing on trade ones.
        metadata={"accept-language": language} if kind == "quote" else {},
    )


def socket_token(session: Session, path: str = SOCKET_TOKEN_PATH) -> tuple[str, int | None,
                                                                           int | None]:
    """``GET path`` through the session: ``(otp, limit, online)``.

    Refused like the SDK when ``online >= limit`` (a new connection would be over the limit).
    """
    # A token answer: the limit the other token calls have, not the API's 64 MiB.
    response = session.get(path, max_bytes=TOKEN_RESPONSE_LIMIT)
    response.raise_for_status()
    body = response.json_object(strict=True)
    code = body.get("code")
    if not _success(code):
        sent = [*response_secrets(response), *_otp_candidates(body)]
        raise BrokerError(
            scrub(body.get("message"), sent) or "Futu refused the socket token request",
            status=response.status,
            code=scrub(code, sent, limit=MAX_CODE),
        )
    data = body.get("data", body)
    if not isinstance(data, dict):
        raise ResponseError("Futu's socket token answer holds no data object",
                            status=response.status)
    otp = data.get("otp")
    if not isinstance(otp, str) or not 0 < len(otp) <= MAX_OTP_CHARS or not visible_ascii(otp):
        raise ResponseError("Futu's socket token answer holds no usable one-time password",
                            status=response.status)
    limit = _count(data.get("limit"), "limit", response.status)
    online = _count(data.get("online"), "online", response.status)
    if limit is not None and online is not None and online >= limit:
        raise BrokerError(
            f"the WebSocket connection limit is reached ({online} of {limit} open)",
            status=response.status,
            hint="close a connection of this account first",
        )
    return otp, limit, online


def with_handshake_query(url: str) -> str:
    """``url`` (which has no query: the settings refuse one) with the handshake query."""
    return f"{url}?{urlencode(HANDSHAKE_QUERY)}"


def auth_request_body(token: str, metadata: Mapping[str, str]) -> bytes:
    """The protobuf encoding of ``AuthRequest{token = 1, metadata = 2 (map)}``."""
    body = _field(1, token.encode("utf-8"))
    for key, value in sorted(metadata.items()):
        entry = _field(1, key.encode("utf-8")) + _field(2, value.encode("utf-8"))
        body += _field(2, entry)
    if len(body) > _MAX_BODY:
        raise ValueError("the auth request is too big for one packet")
    return body


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _success(code: Any) -> bool:
    """Whether an answer's ``code`` says success: absent, the integer 0 or the text "0"
    (``false``, ``0.0`` and ``[]`` are not 0)."""
    return code is None or (type(code) is int and code == 0) or code == "0"


def _count(value: Any, name: str, status: int) -> int | None:
    """A connection count of the token answer: absent (None), or a non-negative integer;
    anything else is refused (not dropped: the connection-limit check needs it)."""
    if value is None:
        return None
    if type(value) is int and 0 <= value < 1 << 31:
        return value
    raise ResponseError(f"Futu's socket token answer has a {name} that is not a count",
                        status=status)


def _otp_candidates(body: Mapping[str, Any]) -> list[str]:
    data = body.get("data")
    otp = data.get("otp") if isinstance(data, dict) else None
    return [otp] if isinstance(otp, str) and otp else []
