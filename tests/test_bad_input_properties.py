"""Bad input, property-based (the README's guarantee 16): whatever a profile file or a server
answer holds, the result is a value or one typed brokerauth error — never an unhandled
exception from deep inside.

The broker plugins' own parsers are tried too wherever they are installed (as in ``make
test``); the core's tests need none of them."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import tomli_w
from brokerauth.contract.errors import BrokerAuthError
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.interaction import LogInteraction
from brokerauth.contract.tokens import Token
from brokerauth.contract.verdicts import default_verdict
from brokerauth.contract.wire import Request, Response
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import parse_profiles
from brokerauth.engine.resolve import resolve_profile
from brokerauth.toolkit.oauth import parse_token_answer, token_error
from brokerauth_sandbox.clock import ManualClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def needs(package: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not installed(package), reason=f"{package} is not installed")


#: Each broker plugin of this tree that judges answers itself, by its package.
PLUGIN_BROKERS = {"webull": "brokerauth_webull", "webull_connect": "brokerauth_webull_connect",
                  "futu": "brokerauth_futu"}


@pytest.fixture(scope="module")
def host() -> PluginHost:
    # Per module, not at import: the test double is installed while the module's tests run.
    return PluginHost.create()

# Numbers a server can send that Python's date arithmetic and int() cannot take: each must
# end in a typed error (QUALITY item 26), never an OverflowError or ValueError.
hostile_numbers = st.sampled_from([
    10**12, 10**13, 10**30, -1, 0, 2**63, "\u00b2", "9" * 5000, "\u0661\u0662\u0660",
    "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
    1.5, 1e300, "1e3", " 60", "+60", "", "0", str(10**12), "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    | hostile_numbers,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
token_fields = st.sampled_from([
    "access_token", "refresh_token", "expires_in", "rt_expires_in", "token_type", "scope",
    "created_at", "identity_id", "error", "error_code", "message", "token", "expires_at",
    "status", "data", "code",
])
answer_objects = st.dictionaries(token_fields, json_values, max_size=8)


def _with_a_key_twice(fields: dict[str, Any]) -> bytes:
    # json.dumps cannot write a key twice: the first field is repeated by hand.
    text = json.dumps(fields)
    first = json.dumps(dict([next(iter(fields.items()))]))[1:-1]
    return ("{" + first + ", " + text[1:]).encode()


bodies = st.one_of(
    answer_objects.map(lambda d: json.dumps(d).encode()),
    answer_objects.filter(bool).map(_with_a_key_twice),
    st.sampled_from([65, 1000, 100_000]).flatmap(lambda n: st.sampled_from([
        b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n, b"[" * n])),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"", b"<html><body>502 Bad Gateway</body></html>", b'{"access_token": "a',
                     b"\xff\xfe\x00", b"null", b"[]"]),
)
statuses = st.sampled_from([200, 201, 400, 401, 403, 417, 429, 500, 502, 503])


def response(status: int, body: bytes, content_type: str = "application/json") -> Response:
    return Response(status, {"Content-Type": content_type}, body,
                    Request.from_url("POST", "http://127.0.0.1:9/token"))


def context(broker: str, settings_obj: Any = None) -> FlowContext:
    return FlowContext(profile="p", broker=broker, identity="default", settings=settings_obj,
                       options=None, clock=ManualClock(NOW), http=None,  # type: ignore[arg-type]
                       interaction=LogInteraction(), stored=None)


def typed_or_value(call: Any) -> Any:
    try:
        return call()
    except BrokerAuthError as error:
        assert str(error)  # noqa: PT017 - either outcome is fine; an error must read well
        return error


@given(answer_objects, statuses)
def test_token_answers_give_a_token_or_a_typed_error(body: dict[str, Any], status: int) -> None:
    result = typed_or_value(lambda: parse_token_answer(body, broker="b", now=NOW, status=status,
                                                       refresh_lifetime_field="rt_expires_in"))
    if isinstance(result, Token):
        assert result.access_token
        # Never a token that never expires (a missing expires_in takes the default), never
        # one past the 10-year bound.
        assert result.expires_at is not None
        assert NOW < result.expires_at <= NOW + timedelta(days=3650)


@given(statuses, bodies)
def test_any_answer_parses_or_is_a_typed_error(status: int, body: bytes) -> None:
    answer = response(status, body)
    typed_or_value(answer.json_object)
    default_verdict(answer)
    assert isinstance(token_error(answer, what="refresh"), BrokerAuthError)


@needs("brokerauth_webull")
@given(statuses, bodies)
def test_webull_2fa_answers(status: int, body: bytes) -> None:
    from brokerauth_webull.twofactor import _parse_answer

    typed_or_value(lambda: _parse_answer(response(status, body), "create token", sent=None))


@needs("brokerauth_webull_connect")
@given(statuses, bodies)
def test_webull_connect_token_answers(status: int, body: bytes) -> None:
    from brokerauth_webull_connect.flow import parse_answer

    typed_or_value(lambda: parse_answer(context("webull_connect"), response(status, body),
                                        previous=None))


@needs("brokerauth_futu")
@given(statuses, bodies)
def test_futu_token_answers(status: int, body: bytes) -> None:
    from brokerauth_futu.oauthflow import _token_from

    typed_or_value(lambda: _token_from(context("futu"), response(status, body),
                                       client_id="c", previous=None))


@given(statuses, bodies)
def test_double_token_answers(status: int, body: bytes) -> None:
    from doubles.plugin import token_from_answer

    typed_or_value(lambda: token_from_answer(context("double"), response(status, body),
                                             previous=None))


@needs("brokerauth_futu")
@given(statuses, bodies)
def test_futu_legacy_refresh_answers(status: int, body: bytes) -> None:
    from brokerauth_futu.apikey import refresh_access_token

    class Http:
        def request(self, method: str, url: str, **kw: Any) -> Response:
            return response(status, body)

    old = Token(access_token="old", broker="futu")
    until = NOW + timedelta(days=90)
    typed_or_value(lambda: refresh_access_token(Http(), old, until, identity=None,  # type: ignore[arg-type]
                                                now=NOW))


# Every numeric field any parser reads, with every hostile number (and the ordinary values
# around it): all 22 x 9 pairs are tried, whatever else the random examples hit.
numeric_fields = ["expires_in", "rt_expires_in", "created_at", "expires_at", "expires",
                  "status", "expired_at"]


@settings(max_examples=400)
@given(st.sampled_from(numeric_fields), hostile_numbers, st.sampled_from(["NORMAL", 1, None]))
def test_hostile_numbers_in_every_token_parser(field: str, value: Any, status: Any) -> None:
    from doubles.plugin import token_from_answer

    fields = {"access_token": "a-token", "token": "a-token", "refresh_token": "r-token",
              "status": status, "expires_at": 1_800_000_000_000, field: value}
    body = json.dumps(fields).encode()

    class Http:
        def request(self, method: str, url: str, **kw: Any) -> Response:
            return response(200, body)

    calls: list[Callable[[], Any]] = [
        lambda: parse_token_answer(fields, broker="b", now=NOW, status=200,
                                   refresh_lifetime_field="rt_expires_in"),
        lambda: token_from_answer(context("double"), response(200, body), previous=None),
    ]
    if installed("brokerauth_webull"):
        from brokerauth_webull.twofactor import _parse_answer

        calls.append(lambda: _parse_answer(response(200, body), "check", sent="a-token"))
    if installed("brokerauth_webull_connect"):
        from brokerauth_webull_connect.flow import parse_answer

        calls.append(lambda: parse_answer(context("webull_connect"), response(200, body),
                                          previous=None))
    if installed("brokerauth_futu"):
        from brokerauth_futu.apikey import refresh_access_token
        from brokerauth_futu.oauthflow import _token_from

        old = Token(access_token="old", broker="futu")
        calls.append(lambda: _token_from(context("futu"), response(200, body), client_id="c",
                                         previous=None))
        calls.append(lambda: refresh_access_token(Http(), old, NOW + timedelta(days=90),  # type: ignore[arg-type]
                                                  identity=None, now=NOW))
    for call in calls:
        result = typed_or_value(call)
        expiry = getattr(result, "expires_at", None)
        if isinstance(expiry, datetime):
            assert datetime(2000, 1, 1, tzinfo=UTC) <= expiry <= NOW + timedelta(days=3650)


@given(statuses, bodies)
def test_broker_verdicts(host: PluginHost, status: int, body: bytes) -> None:
    answer = response(status, body)
    for broker in ["double", *(b for b, package in PLUGIN_BROKERS.items() if installed(package))]:
        host.broker(broker)
        host.interpret_response(broker, None, answer.request, answer)


profile_values = st.one_of(
    json_values.filter(lambda v: v is not None and not isinstance(v, float)),
    st.sampled_from([{"env": "X"}, {"file": "/nonexistent"}, {"name": "file"}, "double", "webull",
                     "futu", "webull_connect", "file", "memory", {"name": "memory", "x": 1}]),
)
profile_tables = st.dictionaries(
    st.sampled_from(["broker", "signer", "flow", "store", "timeout", "retries", "identity",
                     "client_id", "client_secret", "base_url", "app_key", "app_secret",
                     "environment", "mode", "two_factor", "colour", "refresh_advisory"]),
    profile_values, max_size=8,
)


def _toml_safe(value: Any) -> bool:
    try:
        tomli_w.dumps({"v": value})
    except Exception:
        return False
    return True


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
          max_examples=150)
@given(st.dictionaries(st.text(min_size=1, max_size=8), profile_tables, min_size=1, max_size=3))
def test_any_profile_document_resolves_or_is_one_profile_error(
    host: PluginHost, document: dict[str, dict[str, Any]],
) -> None:
    doc = {"profiles": {name: {k: v for k, v in table.items() if _toml_safe(v)}
                        for name, table in document.items()}}
    text = tomli_w.dumps(doc)
    result = typed_or_value(lambda: parse_profiles(text, source="p.toml"))
    if isinstance(result, BrokerAuthError):
        return
    for profile in result.profiles.values():
        resolved = typed_or_value(lambda profile=profile: resolve_profile(profile, host))
        if not isinstance(resolved, BrokerAuthError):
            assert attrs.has(type(resolved.settings))


@given(st.text(max_size=300))
def test_any_text_as_a_profiles_file(text: str) -> None:
    typed_or_value(lambda: parse_profiles(text, source="p.toml"))
