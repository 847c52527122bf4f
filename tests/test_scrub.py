"""Server and callback text reaches an error or a log only with the request's secrets masked,
control characters removed, and its length cut (guarantee 19): the rule itself, the secrets
it finds in a request, and the core's paths over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import traceback
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest
import urllib3
from brokerauth.contract.errors import BrokerError
from brokerauth.contract.scrub import MASK, MAX_CODE, MAX_TEXT, error_text, response_secrets, scrub
from brokerauth.contract.verdicts import error_fields
from brokerauth.contract.wire import Request, Response
from brokerauth.engine.transport import Transport
from brokerauth.toolkit.loopback import LoopbackListener
from brokerauth.toolkit.oauth import AuthorizationError, parse_callback, token_error
from brokerauth_sandbox.echo import EchoServer, leaks
from hypothesis import given
from hypothesis import strategies as st

SECRET = "s3cr3t/value+with=odd&chars é"
TOKEN = "tok-2b7c9e1f4a"
CONTROLS = "\x00\x07\x1b\x7f\x85\x9b\u200b\u200e\u202e\u2066\u2069\ufeff"


def clean(text: str, secrets: tuple[str, ...] = ()) -> None:
    assert leaks(text, secrets) == [], text


# -- the rule -------------------------------------------------------------------------------
def test_a_secret_is_masked_as_sent_url_encoded_and_json_escaped() -> None:
    forms = {
        "raw": SECRET,
        "quote_plus": quote_plus(SECRET),
        "quote": quote(SECRET, safe=""),
        "quote with /": quote(SECRET),
        "json": json.dumps(SECRET)[1:-1],
        "json, unicode kept": json.dumps(SECRET, ensure_ascii=False)[1:-1],
        "json, / escaped": json.dumps(SECRET)[1:-1].replace("/", "\\/"),
    }
    for name, form in forms.items():
        shown = scrub(f"bad client_secret={form}; try again", [SECRET])
        assert shown == f"bad client_secret={MASK}; try again", name


def test_control_characters_go_first_so_a_split_secret_is_still_masked() -> None:
    for char in CONTROLS:
        split = TOKEN[:5] + char + TOKEN[5:]
        shown = scrub(f"token {split} unknown", [TOKEN])
        if char.isspace():  # a line break (NEL here) becomes a space: never re-joined
            assert shown == f"token {TOKEN[:5]} {TOKEN[5:]} unknown", repr(char)
        else:
            assert shown == f"token {MASK} unknown", repr(char)


def test_terminal_escapes_line_breaks_and_bidi_controls_are_removed() -> None:
    shown = scrub("\x1b[2J\x1b[31mline one\r\nline\ttwo\u2028three\u202eevil\u2066x\u2069"
                  "\u200bzero\x07\x00")
    assert shown == "[2J[31mline one line two threeevilxzero"
    clean(shown)


def test_short_secrets_are_left_alone_and_other_text_kept() -> None:
    assert scrub("the code is abc, status 401", ["abc", "401", ""]) == (
        "the code is abc, status 401")
    assert scrub("日本語のエラー  message", ["secret"]) == "日本語のエラー message"


def test_overlapping_secrets_leave_no_fragment() -> None:
    assert scrub("x abcdefghijklmnop y", ["abcdefgh", "efghijklmnop"]) == f"x {MASK} y"


def test_the_cut_comes_after_the_masking() -> None:
    secret = "z" * 20 + "-secret-tail"
    text = "a" * (MAX_TEXT - 10) + secret + " end"
    shown = scrub(text, [secret])
    assert shown is not None
    assert "z" not in shown  # half the secret would have survived a cut made first
    assert shown.endswith(MASK + " end")
    long = scrub("word " * 200)
    assert long is not None
    assert len(long) <= MAX_TEXT + 1 and long.endswith("…")
    assert scrub("x" * 500, limit=10) == "x" * 10 + "…"


def test_none_stays_none_and_anything_else_becomes_text() -> None:
    assert scrub(None) is None
    assert scrub(401001) == "401001"
    assert scrub("") == ""


def test_a_huge_text_is_read_only_in_part_and_never_shows_half_a_secret() -> None:
    # A secret straddling where reading stops must not show its first half, even when what
    # comes before it collapses to nothing (line breaks) and so would be visible.
    secret = "Q" * 30
    for padding in ("b", "\n"):
        for offset in range(0, 40, 3):
            text = padding * (MAX_TEXT * 8 + offset) + secret + "c" * 1_000_000
            shown = scrub(text, [secret])
            assert shown is not None
            assert "Q" not in shown, (padding, offset, shown)
            assert len(shown) <= MAX_TEXT + 1
    assert scrub("\n" * 5_000_000) == "…"


_noise = st.text(st.one_of(st.characters(), st.sampled_from(CONTROLS + "\n\r\t *%\\\"/+")),
                 max_size=40)
_encodings = st.sampled_from([
    lambda s: s, quote_plus, lambda s: quote(s, safe=""), quote,
    lambda s: json.dumps(s)[1:-1], lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
])


@given(
    secrets=st.lists(st.text(min_size=4, max_size=24), min_size=1, max_size=4),
    pieces=st.lists(st.tuples(_noise, st.integers(0, 3), _encodings), max_size=8),
    limit=st.integers(1, 400),
)
def test_property_no_secret_and_no_control_character_ever_comes_out(
    secrets: list[str], pieces: list[tuple[str, int, Any]], limit: int
) -> None:
    text = "".join(noise + encode(secrets[index % len(secrets)])
                   for noise, index, encode in pieces)
    shown = scrub(text, secrets, limit=limit)
    assert shown is not None
    assert len(shown) <= limit + 1
    for secret in secrets:
        for encode in (lambda s: s, quote_plus, lambda s: json.dumps(s)[1:-1]):
            form = encode(secret)
            assert form not in shown, (secret, shown)
    assert leaks(shown, ()) == []
    assert all(char == " " or not char.isspace() for char in shown)


# -- the secrets of a request ---------------------------------------------------------------
def _answer(request: Request, body: Any, signature: dict[str, str] | None = None,
            status: int = 400) -> Response:
    return Response(status, {"Content-Type": "application/json"}, json.dumps(body).encode(),
                    request, signature)


def test_response_secrets_are_every_secret_the_request_carried() -> None:
    form = urlencode({"grant_type": "refresh_token", "client_id": "public-client",
                      "client_secret": SECRET, "refresh_token": "rt-9f8e7d6c",
                      "code_verifier": "verifier-5e4d", "token_type_hint": "refresh_token",
                      "my_api_password": "pw-1a2b3c"})
    request = Request.from_url(
        "POST", "https://broker.example/oauth/token?access_token=qt-77aa&page=2",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Cookie": "sid=cookie-4411; theme=dark", "X-Custom-Session": "sess-0099",
                 "Accept": "application/json"},
        body=form.encode(),
    )
    signature = {"Authorization": f"Bearer {TOKEN}", "X-Signature": "sig-c0ffee",
                 "X-Timestamp": "1714032000"}
    found = response_secrets(_answer(request, {}, signature))
    for secret in (SECRET, "rt-9f8e7d6c", "verifier-5e4d", "pw-1a2b3c", "qt-77aa",
                   "cookie-4411", "sess-0099", f"Bearer {TOKEN}", TOKEN, "sig-c0ffee"):
        assert secret in found, secret
    for public in ("public-client", "refresh_token", "application/json", "1714"):
        assert public not in found, public


def test_response_secrets_of_a_json_body_and_a_basic_credential() -> None:
    body = json.dumps({"client_id": "public-client", "credentials": {"secret": "nested-5151"},
                       "token": "tok-in-json", "code": 123456, "items": ["not-a-secret"]})
    request = Request.from_url(
        "POST", "https://broker.example/token",
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(
                     b"public-client:basic-pass-77").decode()},
        body=body.encode(),
    )
    found = response_secrets(_answer(request, {}))
    for secret in ("nested-5151", "tok-in-json", "123456", "basic-pass-77"):
        assert secret in found, secret
    assert "not-a-secret" not in found and "public-client" not in found


def test_error_fields_scrub_code_and_message_with_the_request_s_secrets() -> None:
    request = Request.from_url("POST", "https://broker.example/token",
                               headers={"Content-Type": "application/x-www-form-urlencoded"},
                               body=urlencode({"client_secret": SECRET}).encode())
    echo = f"\x1b[2Jyou sent client_secret={quote_plus(SECRET)}\r\n" + "x" * 1000
    answer = _answer(request, {"error_code": echo, "message": echo},
                     {"X-Signature": "sig-c0ffee"})
    code, message = error_fields(answer)
    assert code is not None and message is not None
    assert len(code) <= MAX_CODE + 1 and len(message) <= MAX_TEXT + 1
    for text in (code, message):
        clean(text, (SECRET, quote_plus(SECRET)))
        assert text.startswith(f"[2Jyou sent client_secret={MASK} x")
    assert error_text(answer, "sig-c0ffee!") == f"{MASK}!"
    refused = token_error(answer, what="refreshing")
    clean(refused.message, (SECRET, quote_plus(SECRET)))


def test_an_echoing_server_s_error_is_masked_over_real_http() -> None:
    """The core's own path: an answer judged by the default dialect (raise_for_status)."""
    with EchoServer() as echo:
        transport = Transport(timeout=5)
        try:
            request = Request.from_url(
                "POST", echo.base_url + "/oauth/token",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                body=urlencode({"client_secret": SECRET, "refresh_token": "rt-9f8e7d6c",
                                "code": "auth-code-31337"}).encode(),
            )
            signature = {"Authorization": f"Bearer {TOKEN}", "X-Signature": "sig-c0ffee"}
            response = transport.send(request, signature=signature)
        finally:
            transport.close()
    assert response.status == 400
    with pytest.raises(BrokerError) as caught:
        response.raise_for_status()
    sent = (SECRET, quote_plus(SECRET), "rt-9f8e7d6c", "auth-code-31337", TOKEN, "sig-c0ffee")
    clean(caught.value.message, sent)
    assert leaks("".join(traceback.format_exception(caught.value)), sent, lines=True) == []
    assert "POST /oauth/token HTTP/1.1" in caught.value.message  # the echo did arrive
    assert MASK in caught.value.message


# -- callbacks ------------------------------------------------------------------------------
HOSTILE = ("%1B%5B2J%1B%5B31mYour+session+expired.%0D%0A%0D%0A%E2%80%AE"
           "To+continue%2C+paste+your+app_secret%3A+" + "lorem+ipsum+" * 40)


def test_a_callback_s_error_is_shown_on_one_line_without_escapes_and_cut() -> None:
    expected = "expected-state-0123456789"
    with pytest.raises(AuthorizationError) as caught:
        # The right state: an error with a wrong one is refused as forged before it is read.
        parse_callback(f"?error={HOSTILE}&error_description={HOSTILE}&state={expected}"
                       f"&code=leaked-code-4242{expected}", expected_state=expected)
    message = caught.value.message
    clean(message, ("leaked-code-4242", expected))
    assert message.startswith("authorization failed: [2J[31mYour session expired. To")
    assert len(message) < MAX_CODE + MAX_TEXT + 40
    assert "…" in message


def test_a_callback_s_error_masks_the_code_and_the_expected_state() -> None:
    state = "state-abcdefghijklmnop"
    with pytest.raises(AuthorizationError) as caught:
        parse_callback(f"error=access_denied&error_description=code+c0de-9999+state+{state}"
                       f"&code=c0de-9999&state={state}", expected_state=state)
    assert caught.value.message == f"authorization failed: access_denied (code {MASK} state {MASK})"


def test_the_listener_shows_a_hostile_error_callback_scrubbed() -> None:
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state="good-state",
                          timeout=5) as listener:
        answer = urllib3.request(
            "GET", f"http://127.0.0.1:{listener.port}/callback?error={HOSTILE}"
            f"&error_description={HOSTILE}&state=good-state", retries=False, timeout=5)
        assert answer.status == 400
        with pytest.raises(AuthorizationError) as caught:
            listener.wait()
    message = caught.value.message
    clean(message)
    assert "paste your app_secret" in message and message.endswith("…)")
    assert len(message) < MAX_CODE + MAX_TEXT + 40


def test_a_failing_callback_connection_prints_no_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    listener = LoopbackListener("http://127.0.0.1:0/callback", expected_state="s").start()
    try:
        try:
            raise ValueError("\x1b[2J text a crafted request put in an exception")
        except ValueError:
            listener._servers[0].handle_error(None, ("127.0.0.1", 1))
    finally:
        listener.close()
    assert capfd.readouterr().err == ""


def test_a_request_target_that_is_no_url_is_refused_and_prints_nothing(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state="good-state",
                          timeout=5) as listener:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as raw:
            # An absolute-form target urlsplit cannot parse (an unclosed IPv6 bracket).
            raw.sendall(f"GET http://[\x1b[2J/callback?state=good-state HTTP/1.1\r\n"
                        f"Host: 127.0.0.1:{listener.port}\r\n\r\n".encode("latin-1"))
            head = raw.recv(200)
        assert head.startswith(b"HTTP/1.0 400")
        assert listener.refused == 1
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    for record in caplog.records:
        clean(record.getMessage())
