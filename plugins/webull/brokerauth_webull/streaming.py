"""Webull's quote streaming, the authenticated part: the MQTT login values and the signed
subscribe / unsubscribe calls, through a brokerauth session.

Quotes stream over MQTT 3.1.1: over TLS, WebSocket ``wss://data-api.webull.com:8883/mqtt``
(use it), or plain ``data-api.webull.com:1883``, which sends everything in clear, the app key
(the MQTT user name) included.  The client id is a *session id* you make, the user name the
app key, the password anything.  The stream carries nothing until the session id is
subscribed to symbols by an ordinary signed HTTP call, ``POST
/market-data/streaming/subscribe`` (Webull's Data Streaming API docs); that call is what this
module makes, with the session's signature, 2FA token, origin check and clock::

    import brokerauth
    from brokerauth_webull import streaming

    with brokerauth.session("webull") as api:
        session_id = streaming.new_session_id()
        login = streaming.mqtt_login(api, session_id)   # client_id, username, password
        # ... connect your MQTT client with login.client_id / login.username / login.password
        streaming.subscribe(api, session_id, ["AAPL", "TSLA"], category="US_STOCK",
                            sub_types=["QUOTE", "SNAPSHOT"])

Webull's limits (its docs): at most 50 symbols a call, 100 topics (a symbol and sub type each) a
connection, 5 connections an app key, 10 subscribe calls a minute; a session id used by a
second connection disconnects the first.  No MQTT client is bundled: any (paho-mqtt, gmqtt)
will do, and the MQTT connection carries no secret beyond the app key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import attrs
from brokerauth.contract.errors import ConfigError
from brokerauth.toolkit.secrets import Secret

if TYPE_CHECKING:
    from brokerauth.contract.wire import Response
    from brokerauth.engine.sessions import Session

SUBSCRIBE_PATH: Final = "/market-data/streaming/subscribe"
UNSUBSCRIBE_PATH: Final = "/market-data/streaming/unsubscribe"
#: The data types a subscription may ask for.
SUB_TYPES: Final = ("QUOTE", "SNAPSHOT", "TICK")
MAX_SYMBOLS: Final = 50


@attrs.frozen
class MqttLogin:
    """What the MQTT ``CONNECT`` packet carries: the session id as client id, the app key as
    user name (kept out of ``repr``), and a password Webull does not check."""

    client_id: str
    username: str = attrs.field(repr=False)
    password: str = attrs.field(default="", repr=False)


def new_session_id() -> str:
    """A fresh session id (a UUID): one per MQTT connection, never shared by two."""
    return str(uuid.uuid4())


def mqtt_login(session: Session, session_id: str) -> MqttLogin:
    """The MQTT login for ``session_id`` with ``session``'s app key."""
    app_key = getattr(session.binding.settings, "app_key", None)
    if not isinstance(app_key, Secret):
        raise ConfigError(f"{session.binding.label}: the profile has no Webull app_key")
    return MqttLogin(client_id=session_id, username=app_key.reveal())


def subscribe(
    session: Session,
    session_id: str,
    symbols: Iterable[str],
    *,
    category: str,
    sub_types: Iterable[str] = ("SNAPSHOT",),
    url: str = SUBSCRIBE_PATH,
    timeout: float | None = None,
) -> Response:
    """Subscribe the MQTT connection ``session_id`` to ``symbols`` (``category`` such as
    ``US_STOCK``; ``sub_types`` from :data:`SUB_TYPES`): one signed ``POST``.

    :param url: the path (on the profile's API host) or an absolute URL on one of the
        profile's origins (e.g. its quotes host), should Webull serve it elsewhere.
    :raises ValueError: no symbol, more than 50, or an unknown sub type (nothing sent).
    :raises ~brokerauth.contract.errors.BrokerAuthError: the broker refused (the answer's
        ``raise_for_status()``).
    """
    body = _body(session_id, symbols, category, sub_types)
    return session.post(url, json=body, timeout=timeout).raise_for_status()


def unsubscribe(
    session: Session,
    session_id: str,
    symbols: Iterable[str],
    *,
    category: str,
    sub_types: Iterable[str] = ("SNAPSHOT",),
    url: str = UNSUBSCRIBE_PATH,
    timeout: float | None = None,
) -> Response:
    """The reverse of :func:`subscribe`, with the same arguments."""
    body = _body(session_id, symbols, category, sub_types)
    return session.post(url, json=body, timeout=timeout).raise_for_status()


def _body(
    session_id: str, symbols: Iterable[str], category: str, sub_types: Iterable[str]
) -> dict[str, object]:
    symbol_list = list(symbols)
    types = list(sub_types)
    if not session_id:
        raise ValueError("session_id must not be empty: give the MQTT connection's client id")
    if not 0 < len(symbol_list) <= MAX_SYMBOLS:
        raise ValueError(f"give 1 to {MAX_SYMBOLS} symbols a call, not {len(symbol_list)}")
    unknown = [t for t in types if t not in SUB_TYPES]
    if unknown or not types:
        raise ValueError(f"sub_types must be some of {', '.join(SUB_TYPES)}, not {types!r}")
    return {"session_id": session_id, "symbols": symbol_list, "category": category,
            "sub_types": types}
