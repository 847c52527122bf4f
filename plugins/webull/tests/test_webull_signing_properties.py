"""Generated requests: the fast signer and the sandbox's independent verifier agree, and any
tampering with what is signed makes the verifier reject."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from brokerauth.contract.wire import Request
from brokerauth_webull import codes, signing, verifier
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webull_helpers import Client

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
APP_KEY = "prop-app-key"
APP_SECRET = "prop-app-secret"

SPECIAL = ["", " ", "&", "=", "+", "%", "a b", "a=b&c", "%20", "中文", "é", "🚀", "/", "?", "#"]
keys = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["a", "A", "host", "x-app-key", "x-timestamp", "X-App-Key", "_u", "Zeta"]),
    st.sampled_from(SPECIAL),
)
values = st.one_of(st.text(max_size=20), st.sampled_from(SPECIAL))
params_strategy = st.lists(st.tuples(keys, values), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
bodies = st.one_of(
    st.none(),
    st.just({}),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5),
).map(
    lambda body: (
        None
        if body is None
        else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    )
)
segment = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~",
    min_size=1,
    max_size=12,
)
paths = st.lists(segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)
algorithms = st.sampled_from(signing.ALGORITHMS)
hosts = st.sampled_from(["api.webull.com", "127.0.0.1:8080", "api.sandbox.webull.com:8443"])


@dataclass(frozen=True)
class Received:
    """A request as the server sees it: query decoded from the URL, header names lower-case."""

    path: str
    params: tuple[tuple[str, str], ...]
    headers: dict[str, str]
    body: bytes
    host: str


def on_the_wire(request: Request, headers: dict[str, str]) -> Received:
    query = urllib.parse.urlsplit(request.url).query
    return Received(
        path=request.path,
        params=tuple(urllib.parse.parse_qsl(query, keep_blank_values=True)),
        headers={k.lower(): v for k, v in headers.items()},
        body=request.body or b"",
        host=request.host,
    )


def verify(received: Received, secret: str = APP_SECRET) -> codes.WebullError | None:
    return verifier.check_request(
        path=received.path,
        params=received.params,
        headers=received.headers,
        body=received.body,
        host=received.host,
        secret_for={APP_KEY: secret}.get,
        now=NOW.timestamp(),
        window=60.0,
    )


def sign(request: Request, nonce: str, algorithm: str) -> dict[str, str]:
    return signing.signature_headers(
        request, APP_KEY, APP_SECRET, NOW.strftime(signing.TIMESTAMP_FORMAT), nonce, algorithm
    )


def build(method: str, host: str, path: str, params: Any, body: bytes | None) -> Request:
    return Request(method=method, scheme="https", host=host, path=path, params=params, body=body)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    host=hosts,
    path=paths,
    params=params_strategy,
    body=bodies,
    nonce=header_text,
    algorithm=algorithms,
)
@settings(max_examples=400)
def test_signer_and_verifier_agree(
    method: str,
    host: str,
    path: str,
    params: list[tuple[str, str]],
    body: bytes | None,
    nonce: str,
    algorithm: str,
) -> None:
    request = build(method, host, path, params, body)
    headers = sign(request, nonce, algorithm)
    received = on_the_wire(request, headers)
    # The URL round trip gives back exactly the raw values that were signed.
    assert received.params == tuple(params)
    assert verify(received) is None
    fast = signing.string_to_sign(request, APP_KEY, headers["x-timestamp"], nonce, algorithm)
    slow = signing.canonical_string(request, APP_KEY, headers["x-timestamp"], nonce, algorithm)
    assert fast == urllib.parse.quote(slow, safe="")


def _change_char(text: str, index: int, replacement: str) -> str:
    if not text:
        return replacement
    i = index % len(text)
    new = replacement if replacement != text[i] else replacement + "x"
    return text[:i] + new + text[i + 1 :]


@st.composite
def tampered(draw: st.DrawFn) -> tuple[Received, str]:
    request = build(
        draw(st.sampled_from(["GET", "POST"])),
        draw(hosts),
        draw(paths),
        draw(params_strategy),
        draw(bodies),
    )
    received = on_the_wire(request, sign(request, draw(header_text), draw(algorithms)))
    targets = ["path", "header", "host", "signature"]
    if received.body:
        targets.append("body")
    if received.params:
        targets += ["param key", "param value"]
    target = draw(st.sampled_from(targets))
    index = draw(st.integers(min_value=0, max_value=10_000))
    char = draw(st.characters(blacklist_categories=("Cs",)))
    if target == "body":
        i = index % len(received.body)
        flipped = received.body[i] ^ draw(st.integers(min_value=1, max_value=255))
        body = received.body[:i] + bytes([flipped]) + received.body[i + 1 :]
        return replace(received, body=body), target
    if target == "path":
        safe = draw(segment.filter(lambda s: len(s) == 1))
        return replace(received, path=_change_char(received.path, index, safe)), target
    if target in ("param key", "param value"):
        params = list(received.params)
        i = index % len(params)
        key, value = params[i]
        if target == "param key":
            params[i] = (_change_char(key, index, char), value)
        else:
            params[i] = (key, _change_char(value, index, char))
        return replace(received, params=tuple(params)), target
    if target == "host":
        return replace(received, host=_change_char(received.host, index, "z")), target
    headers = dict(received.headers)
    if target == "signature":
        headers["x-signature"] = _change_char(headers["x-signature"], index, "A")
        return replace(received, headers=headers), target
    name = draw(st.sampled_from(signing.SIGNED_HEADERS))
    if name == "x-timestamp":
        sent = datetime.strptime(headers[name], signing.TIMESTAMP_FORMAT)
        later = sent + timedelta(seconds=draw(st.integers(min_value=1, max_value=59)))
        headers[name] = later.strftime(signing.TIMESTAMP_FORMAT)
    elif name == "x-signature-algorithm":
        other = [a for a in signing.ALGORITHMS if a != headers[name]]
        headers[name] = other[0]
    elif name == "x-signature-version":
        headers[name] = "1.1"
    else:
        headers[name] = _change_char(headers[name], index, "q")
    return replace(received, headers=headers), f"header {name}"


@given(case=tampered())
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_any_tampering_is_rejected(case: tuple[Received, str]) -> None:
    received, target = case
    assert verify(received) is not None, target


@given(params=params_strategy, body=bodies, algorithm=algorithms)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_signer_and_sandbox_agree_over_http(
    client: Client, params: list[tuple[str, str]], body: bytes | None, algorithm: str
) -> None:
    # The path is not routed: a request that passes Webull's gateway checks gets 404 NOT_FOUND,
    # one that fails gets 401.
    method = "GET" if body is None else "POST"
    response = client.call(
        method, "/openapi/generated/path", params=params, body=body, algorithm=algorithm
    )
    assert response.status == 404, response.data
    assert response.json()["error_code"] == "NOT_FOUND"
