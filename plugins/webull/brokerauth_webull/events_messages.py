"""The two messages of Webull's trade-events service, encoded by hand (no protobuf needed).

From the official SDK's ``events.proto`` (``package grpc.trade.event``)::

    service EventService { rpc Subscribe(SubscribeRequest) returns (stream SubscribeResponse); }
    message SubscribeRequest  { uint32 subscribeType = 1; int64 timestamp = 2;
                                string contentType = 3; string payload = 4;
                                repeated string accounts = 5; }
    message SubscribeResponse { EventType eventType = 1; uint32 subscribeType = 2;
                                string contentType = 3; string payload = 4;
                                string requestId = 5; int64 timestamp = 6; }
    enum EventType { SubscribeSuccess = 0; Ping = 1; AuthError = 2; NumOfConnExceed = 3;
                     SubscribeExpired = 4; }

Eleven scalar fields do not justify the protobuf runtime (several MB, and generated code tied
to its version); the encoding below is proto3's: fields in number order, defaults (0, "")
left out, varints for integers, length-delimited UTF-8 for strings.  Its bytes equal the
SDK's (the signing vector ``grpc_trade_events_subscribe``), which matters: the signature
hashes the serialized request.  Code that has protobuf classes generated from the same
``.proto`` can use them instead: the interceptor signs whatever ``SerializeToString()`` gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs

METHOD: Final = "/grpc.trade.event.EventService/Subscribe"
SERVICE: Final = "grpc.trade.event.EventService"

SUBSCRIBE_SUCCESS: Final = 0
PING: Final = 1
AUTH_ERROR: Final = 2
NUM_OF_CONN_EXCEED: Final = 3
SUBSCRIBE_EXPIRED: Final = 4

def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


_VARINT: Final = 0
_LENGTH: Final = 2


@attrs.frozen
class SubscribeRequest:
    """``SubscribeRequest``; ``timestamp`` in milliseconds.  The SDK sends
    ``subscribe_type=1`` ("only 1 allowed now")."""

    subscribe_type: int = 1
    timestamp: int = 0
    content_type: str = ""
    payload: str = ""
    accounts: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def SerializeToString(self) -> bytes:  # protobuf's names: stubs call them
        out = bytearray()
        _put_varint_field(out, 1, self.subscribe_type)
        _put_varint_field(out, 2, self.timestamp)
        _put_text_field(out, 3, self.content_type)
        _put_text_field(out, 4, self.payload)
        for account in self.accounts:
            _put_text(out, 5, account)
        return bytes(out)

    @classmethod
    def FromString(cls, data: bytes) -> SubscribeRequest:
        fields = _parse(data)
        return cls(
            subscribe_type=_last_int(fields, 1),
            timestamp=_signed64(_last_int(fields, 2)),
            content_type=_last_text(fields, 3),
            payload=_last_text(fields, 4),
            accounts=tuple(_text(v) for v in fields.get(5, ())),
        )


@attrs.frozen
class SubscribeResponse:
    """``SubscribeResponse``: one event of the stream; ``timestamp`` in milliseconds."""

    event_type: int = 0
    subscribe_type: int = 0
    content_type: str = ""
    payload: str = ""
    request_id: str = ""
    timestamp: int = 0

    def SerializeToString(self) -> bytes:
        out = bytearray()
        _put_varint_field(out, 1, self.event_type)
        _put_varint_field(out, 2, self.subscribe_type)
        _put_text_field(out, 3, self.content_type)
        _put_text_field(out, 4, self.payload)
        _put_text_field(out, 5, self.request_id)
        _put_varint_field(out, 6, self.timestamp)
        return bytes(out)

    @classmethod
    def FromString(cls, data: bytes) -> SubscribeResponse:
        fields = _parse(data)
        return cls(
            event_type=_last_int(fields, 1),
            subscribe_type=_last_int(fields, 2),
            content_type=_last_text(fields, 3),
            payload=_last_text(fields, 4),
            request_id=_last_text(fields, 5),
            timestamp=_signed64(_last_int(fields, 6)),
        )


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        value += 1 << 64  # int64: two's complement, ten bytes
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _put_varint_field(out: bytearray, number: int, value: int) -> None:
    if value:
        _put_varint(out, number << 3 | _VARINT)
        _put_varint(out, value)


def _put_text(out: bytearray, number: int, text: str) -> None:
    data = text.encode("utf-8")
    _put_varint(out, number << 3 | _LENGTH)
    _put_varint(out, len(data))
    out += data


def _put_text_field(out: bytearray, number: int, text: str) -> None:
    if text:
        _put_text(out, number, text)


def _parse(data: bytes) -> dict[int, list[int | bytes]]:
    """Fields by number, in order; unknown fields are kept and ignored by the callers, as
    protobuf does.  A malformed message is a ``ValueError``."""
    fields: dict[int, list[int | bytes]] = {}
    at = 0
    end = len(data)
    while at < end:
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == _VARINT:
            value, at = _varint(data, at)
        elif wire == _LENGTH:
            size, at = _varint(data, at)
            if at + size > end:
                raise ValueError("truncated message")
            value, at = data[at:at + size], at + size
        elif wire == 1:
            value, at = int.from_bytes(data[at:at + 8], "little"), at + 8
        elif wire == 5:
            value, at = int.from_bytes(data[at:at + 4], "little"), at + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if number == 0 or at > end:
            raise ValueError("malformed message")
        fields.setdefault(number, []).append(value)
    return fields


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ValueError("varint longer than 10 bytes")


def _last_int(fields: dict[int, list[int | bytes]], number: int) -> int:
    values = fields.get(number)
    if not values:
        return 0
    value = values[-1]
    if not isinstance(value, int):
        raise ValueError(f"field {number} is not an integer")
    return value


def _last_text(fields: dict[int, list[int | bytes]], number: int) -> str:
    values = fields.get(number)
    return _text(values[-1]) if values else ""


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ValueError("a string field is not length-delimited")
    return value.decode("utf-8")


def _signed64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value
