"""The Webull signer made once per settings (settings checked, the HMAC key prepared, the app
key quoted): byte for byte the signature the plain functions and the sandbox's independent
verifier compute, never made with another settings' key, and nothing secret in its repr."""

from __future__ import annotations

import gc
import threading
import tracemalloc
import urllib.parse
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from brokerauth.contract.errors import ConfigError
from brokerauth.contract.wire import Request
from brokerauth.toolkit.secrets import Secret
from brokerauth_webull import hmac_headers, signing, verifier
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 1, 2, 3, 4, 5, 250_000, tzinfo=UTC)
STAMP = "2026-01-02T03:04:05Z"
APP_KEY = "signer-app-key-0123"
APP_SECRET = "signer-app-secret-4567"
OTHER_SECRET = "signer-other-secret-89ab"


class Settings:
    """Settings as a plugin may hand them: plain, mutable attributes."""

    def __init__(self, app_key: Any = APP_KEY, app_secret: Any = APP_SECRET,
                 signature_algorithm: Any = "HMAC-SHA256") -> None:
        self.app_key = Secret.from_value(app_key) if isinstance(app_key, str) else app_key
        self.app_secret = (Secret.from_value(app_secret) if isinstance(app_secret, str)
                           else app_secret)
        self.signature_algorithm = signature_algorithm


def accepted(request: Request, headers: dict[str, str], secret: str) -> bool:
    """Whether the sandbox's verifier (its own, slow, obvious implementation) accepts the
    request as the server receives it: the query parsed back from the URL."""
    query = urllib.parse.urlsplit(request.url).query
    error = verifier.check_request(
        path=request.path,
        params=urllib.parse.parse_qsl(query, keep_blank_values=True),
        headers={k.lower(): v for k, v in headers.items()},
        body=request.body or b"",
        host=request.host,
        secret_for=lambda key: secret if key == headers[signing.APP_KEY] else None,
        now=datetime.strptime(headers[signing.TIMESTAMP], signing.TIMESTAMP_FORMAT)
        .replace(tzinfo=UTC).timestamp(),
        window=60.0,
    )
    return error is None


def get(params: Any = (("symbols", "AAPL,TSLA"), ("category", "US_STOCK"))) -> Request:
    return Request("GET", "https", "api.webull.com", "/openapi/quotes", params, {}, None)


# Unreserved names only (the signer's shortcut sorts their entries as they are), with the
# cases that could sort wrong: prefixes of one another, "-" "." "_" "~", upper case, the
# signed headers' own names, and a name given twice.
plain_keys = st.one_of(
    st.text(alphabet="aAbz09-._~", min_size=1, max_size=4),
    st.sampled_from(["a", "a-", "a.", "a_", "a~", "aa", "A", "host", "hos", "hostx",
                     "x-app-key", "x-app-keys", "x-timestamp", "x-signature-nonce", "x"]),
)
any_keys = st.one_of(plain_keys, st.text(max_size=6), st.sampled_from(["", " ", "é", "a b"]))
values = st.one_of(st.text(max_size=12), st.sampled_from(["", "&", "=", "a&b", "中文"]))


@given(
    params=st.lists(st.tuples(st.one_of(plain_keys, any_keys), values), max_size=8),
    body=st.one_of(st.none(), st.binary(max_size=64)),
    algorithm=st.sampled_from(signing.ALGORITHMS),
    nonce=st.one_of(st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
                    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                            min_size=1, max_size=40)),
    token=st.one_of(st.none(), st.just("token-abc")),
)
@settings(max_examples=400)
def test_the_signer_signs_as_the_functions_and_the_verifier(
    params: list[tuple[str, str]], body: bytes | None, algorithm: str, nonce: str,
    token: str | None,
) -> None:
    request = Request("POST" if body else "GET", "https", "api.webull.com", "/openapi/x",
                      params, {}, body)
    signer = signing.Signer(APP_KEY, APP_SECRET, algorithm)
    headers = signer.headers(request, STAMP, nonce, token)
    assert headers == signing.signature_headers(request, APP_KEY, APP_SECRET, STAMP, nonce,
                                                algorithm, token)
    assert signer.string_to_sign(request, STAMP, nonce) == urllib.parse.quote(
        signing.canonical_string(request, APP_KEY, STAMP, nonce, algorithm), safe="")
    assert accepted(request, headers, APP_SECRET)
    assert not accepted(request, headers, OTHER_SECRET)


def test_one_signer_per_settings_and_a_changed_secret_is_used_at_once() -> None:
    profile = Settings()
    request = get()
    first = hmac_headers.hmac_headers(request, profile, NOW, "n1")
    made = hmac_headers._SIGNERS[id(profile)]
    assert hmac_headers.hmac_headers(request, profile, NOW, "n2") is not first
    assert hmac_headers._SIGNERS[id(profile)] is made  # made once, then reused
    assert accepted(request, first, APP_SECRET)

    profile.app_secret = Secret.from_value(OTHER_SECRET)  # changed in place
    rotated = hmac_headers.hmac_headers(request, profile, NOW, "n3")
    assert accepted(request, rotated, OTHER_SECRET)
    assert not accepted(request, rotated, APP_SECRET)

    profile.app_key = Secret.from_value("another-app-key")
    assert hmac_headers.hmac_headers(request, profile, NOW, "n4")[signing.APP_KEY] == (
        "another-app-key")
    profile.signature_algorithm = "HMAC-SHA1"
    sha1 = hmac_headers.hmac_headers(request, profile, NOW, "n5")
    assert sha1[signing.SIGNATURE_ALGORITHM] == "HMAC-SHA1"
    assert accepted(request, sha1, OTHER_SECRET)


def test_settings_made_and_dropped_never_sign_with_a_predecessor_key() -> None:
    # CPython reuses a freed object's address at once: each new settings object may get its
    # predecessor's id(), and must still be signed for with its own secret.
    request = get()
    for i in range(300):
        secret = f"secret-{i:03d}"
        headers = hmac_headers.hmac_headers(request, Settings(app_secret=secret), NOW, f"n{i}")
        assert accepted(request, headers, secret), i


def test_threads_each_with_their_settings_sign_with_their_own_key() -> None:
    request = get()
    failures: list[str] = []
    start = threading.Barrier(8)

    def work(index: int) -> None:
        secret = f"thread-secret-{index}"
        profile = Settings(app_key=f"thread-key-{index}", app_secret=secret)
        start.wait(timeout=10)
        for n in range(300):
            # A new settings object now and then, so the bounded cache is refilled under way.
            if n % 50 == 0:
                profile = Settings(app_key=f"thread-key-{index}", app_secret=secret)
            headers = hmac_headers.hmac_headers(request, profile, NOW, f"{index}-{n}")
            if headers[signing.APP_KEY] != f"thread-key-{index}" or not accepted(
                    request, headers, secret):
                failures.append(f"thread {index}, request {n}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_nothing_secret_in_a_repr() -> None:
    profile = Settings()
    hmac_headers.hmac_headers(get(), profile, NOW, "n")
    shown = [repr(signing.Signer(APP_KEY, APP_SECRET)), str(signing.Signer(APP_KEY, APP_SECRET)),
             repr(signing.SigningKey(APP_SECRET)), repr(hmac_headers._SIGNERS[id(profile)]),
             repr(hmac_headers._SIGNERS)]
    for text in shown:
        assert APP_SECRET not in text
        assert APP_KEY not in text
    assert repr(signing.Signer(APP_KEY, APP_SECRET, "HMAC-SHA1")) == "<Signer HMAC-SHA1>"


def test_settings_are_checked_when_the_signer_is_made_and_a_fix_is_seen() -> None:
    profile = Settings(signature_algorithm="HMAC-MD5")
    with pytest.raises(ConfigError, match="signature_algorithm must be one of") as caught:
        hmac_headers.hmac_headers(get(), profile, NOW, "n")
    assert APP_SECRET not in str(caught.value)
    profile.signature_algorithm = "HMAC-SHA256"
    assert accepted(get(), hmac_headers.hmac_headers(get(), profile, NOW, "n"), APP_SECRET)

    class Missing:
        app_key = Secret.from_value(APP_KEY)

    with pytest.raises(ConfigError, match="needs the setting 'app_secret'"):
        hmac_headers.hmac_headers(get(), Missing(), NOW, "n", strategy="webull-hmac")
    with pytest.raises(ValueError, match="unsupported signature algorithm"):
        signing.Signer(APP_KEY, APP_SECRET, "HMAC-MD5")


def test_the_timestamp_changes_exactly_at_each_second_even_going_back() -> None:
    base = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    moments = [
        (base + timedelta(microseconds=999_999), "2026-01-02T03:04:05Z"),
        (base + timedelta(seconds=1), "2026-01-02T03:04:06Z"),
        (base + timedelta(microseconds=500_000), "2026-01-02T03:04:05Z"),  # a clock set back
        (base - timedelta(microseconds=1), "2026-01-02T03:04:04Z"),
        (base.astimezone(timezone(timedelta(hours=-5))), "2026-01-02T03:04:05Z"),
        (base.astimezone(timezone(timedelta(hours=9))) + timedelta(seconds=1),
         "2026-01-02T03:04:06Z"),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "9999-12-31T23:59:59Z"),
    ]
    profile = Settings()
    for moment, expected in moments:
        # The signer reads the cached second itself (the first call after the last moment's,
        # the second from the cache it left): the header sent says the same as timestamp().
        for _ in range(2):
            sent = hmac_headers.hmac_headers(get(), profile, moment, "n")
            assert sent[signing.TIMESTAMP] == expected, moment
    for moment, expected in moments:
        assert hmac_headers.timestamp(moment) == expected, moment
        assert hmac_headers.timestamp(moment) == expected, moment  # from the cache
    hmac_headers.timestamp(base)
    with pytest.raises(ValueError, match="aware"):
        hmac_headers.timestamp(datetime(2026, 1, 2, 3, 4, 5))  # naive, in the cached second
    with pytest.raises(ValueError, match="aware"):
        hmac_headers.hmac_headers(get(), profile, datetime(2026, 1, 2, 3, 4, 5), "n")


def test_query_values_as_a_caller_gives_them_are_what_is_signed_and_sent() -> None:
    from types import MappingProxyType

    from brokerauth.contract.wire import normalize_params

    class Text(str):
        pass

    given_params = {"s": "AAPL,TSLA", "yes": True, "no": False, "skip": None,
                    "many": ["x", 1], "n": 3, "sub": Text("y"), "empty": ""}
    expected = (("s", "AAPL,TSLA"), ("yes", "true"), ("no", "false"), ("many", "x"),
                ("many", "1"), ("n", "3"), ("sub", "y"), ("empty", ""))
    for form in (given_params, MappingProxyType(given_params), list(given_params.items())):
        pairs = normalize_params(form)
        assert pairs == expected
        assert all(type(value) is str for _, value in pairs)
        request = get(pairs)
        assert accepted(request, hmac_headers.hmac_headers(request, Settings(), NOW, "n"),
                        APP_SECRET)
    assert normalize_params({}) == normalize_params(None) == ()
    # A request made by hand with its pairs as lists signs as with tuples.
    listed = get(tuple([k, v] for k, v in expected))  # type: ignore[misc]
    assert hmac_headers.hmac_headers(listed, Settings(), NOW, "n") == hmac_headers.hmac_headers(
        get(expected), Settings(), NOW, "n")


class SlotSettings:
    """Settings that cannot be weakly referenced (``__slots__`` without ``__weakref__``)."""

    __slots__ = ("app_key", "app_secret", "signature_algorithm")

    def __init__(self, app_secret: str) -> None:
        self.app_key = Secret.from_value(APP_KEY)
        self.app_secret = Secret.from_value(app_secret)
        self.signature_algorithm = "HMAC-SHA256"


def _kept_secrets() -> list[str]:
    return [bound.app_secret_value.reveal() for bound in list(hmac_headers._SIGNERS.values())
            if isinstance(bound.app_secret_value, Secret)]


def test_a_signer_goes_with_its_settings_object() -> None:
    # The signer holds the revealed secret and the keyed HMAC state: once the settings (the
    # profile, the session) are gone, nothing may keep them.
    secret = "signer-dropped-secret-cdef"
    profile = Settings(app_secret=secret)
    request = get()
    assert accepted(request, hmac_headers.hmac_headers(request, profile, NOW, "n1"), secret)
    assert secret in _kept_secrets()  # kept while the settings live: made once per settings
    del profile
    gc.collect()
    assert secret not in _kept_secrets()


def test_settings_that_cannot_be_weakly_referenced_are_signed_for_and_kept_nowhere() -> None:
    secret = "signer-slotted-secret-0011"
    profile = SlotSettings(secret)
    request = get()
    for n in range(3):
        assert accepted(request, hmac_headers.hmac_headers(request, profile, NOW, f"n{n}"),
                        secret)
    assert secret not in _kept_secrets()
    profile.app_secret = Secret.from_value(OTHER_SECRET)
    assert accepted(request, hmac_headers.hmac_headers(request, profile, NOW, "n9"),
                    OTHER_SECRET)


@pytest.mark.parametrize("values", [(1, True, 1.0), (True, 1, 1.0), (1.0, 1, True)])
def test_query_values_of_other_types_are_signed_as_the_functions_sign_them(
    values: tuple[Any, ...],
) -> None:
    # ("qty", 1) == ("qty", True) == ("qty", 1.0) as tuples: each must still be signed as its
    # own text ("1", "True", "1.0"), whichever was signed first.
    signer = signing.Signer(APP_KEY, APP_SECRET)
    for value in values:
        for params in ((("qty", value),), (("qty", "5"), ("qty", value))):
            request = Request("GET", "https", "api.webull.com", "/openapi/x", params, {}, None)
            assert signer.string_to_sign(request, STAMP, "n") == urllib.parse.quote(
                signing.canonical_string(request, APP_KEY, STAMP, "n"), safe=""), params


def test_long_query_values_are_signed_and_not_kept() -> None:
    # A query value of 4 KiB (a filter, a cursor, a token) is not kept by the signing caches:
    # a thousand of them would hold tens of MiB after the requests are gone.
    signer = signing.Signer(APP_KEY, APP_SECRET)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            value = f"{i:06d}" + "/" * 4096
            for params in ((("filter", value),), (("filter", "a"), ("filter", value))):
                request = Request("GET", "https", "api.webull.com", "/openapi/x", params, {},
                                  None)
                signer.headers(request, STAMP, "n")
        del request, value
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 2 << 20, f"{held / 2**20:.1f} MiB held"
    short = Request("GET", "https", "api.webull.com", "/openapi/x", (("page", "1"),), {}, None)
    assert accepted(short, signer.headers(short, STAMP, "n2"), APP_SECRET)


def test_booleans_in_a_list_are_sent_and_signed_as_true_and_false() -> None:
    # A boolean is written true/false, alone or as one of a list's values: the URL sent and the
    # string signed say the same.
    request = Request.from_url("GET", "https://api.webull.com/openapi/x",
                               params={"flags": [True, False], "flag": True, "n": [1, "a"]})
    assert urllib.parse.urlsplit(request.url).query == (
        "flags=true&flags=false&flag=true&n=1&n=a")
    signer = signing.Signer(APP_KEY, APP_SECRET)
    assert accepted(request, signer.headers(request, STAMP, "n"), APP_SECRET)


@given(
    params=st.lists(st.tuples(st.one_of(plain_keys, any_keys), values), max_size=8),
    body=st.one_of(st.none(), st.binary(max_size=64)),
    algorithm=st.sampled_from(signing.ALGORITHMS),
    nonces=st.lists(st.one_of(
        st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                max_size=40)), min_size=4, max_size=4),
    seconds=st.lists(st.integers(min_value=0, max_value=10**8), min_size=4, max_size=4),
)
@settings(max_examples=300)
def test_a_request_signed_again_is_signed_as_the_functions_sign_it(
    params: list[tuple[str, str]], body: bytes | None, algorithm: str, nonces: list[str],
    seconds: list[int],
) -> None:
    # The same host, path and query signed again and again (as a session polls): from the
    # second time on, the signer fills in a template of the string; every signature must
    # still be the one the plain functions and the verifier compute.
    signer = signing.Signer(APP_KEY, APP_SECRET, algorithm)
    for nonce, offset in zip(nonces, seconds, strict=True):
        request = Request("POST" if body else "GET", "https", "api.webull.com", "/openapi/x",
                          tuple(params), {}, body)
        stamp = hmac_headers.timestamp(NOW + timedelta(seconds=offset))
        assert signer.string_to_sign(request, stamp, nonce) == urllib.parse.quote(
            signing.canonical_string(request, APP_KEY, stamp, nonce, algorithm), safe="")
        headers = signer.headers(request, stamp, nonce)
        assert headers == signing.signature_headers(request, APP_KEY, APP_SECRET, stamp,
                                                    nonce, algorithm)
        assert accepted(request, headers, APP_SECRET)


def test_a_query_holding_the_templates_stand_ins_is_signed_as_it_is() -> None:
    # The stand-ins a template is cut at are random, so no caller can aim at them; a request
    # holding them anyway (read from the module here) gets no template and is signed right.
    signer = signing.Signer(APP_KEY, APP_SECRET)
    for mark in (signing._NONCE_MARK, signing._TIMESTAMP_MARK):
        for n in range(3):
            nonce = f"{n:032x}"
            request = get((("symbols", mark), ("category", f"US{mark}")))
            assert signer.string_to_sign(request, STAMP, nonce) == urllib.parse.quote(
                signing.canonical_string(request, APP_KEY, STAMP, nonce), safe="")


def test_templates_are_bounded_and_hold_no_secret() -> None:
    signer = signing.Signer(APP_KEY, APP_SECRET)
    for n in range(3 * signing._TEMPLATES_MAX):
        request = get((("symbols", f"S{n % (2 * signing._TEMPLATES_MAX)}"),))
        signer.headers(request, STAMP, f"{n:032x}")
        signer.headers(request, STAMP, f"{n + 1:032x}")
    assert len(signer._templates) <= signing._TEMPLATES_MAX
    kept = repr(signer._templates)
    assert APP_SECRET not in kept
    assert urllib.parse.quote(APP_SECRET, safe="") not in kept


def test_a_long_query_signed_again_gets_no_template() -> None:
    # Templates are for the short queries a session repeats: one holding a long value is
    # assembled each time and its request kept nowhere, however often it comes.
    signer = signing.Signer(APP_KEY, APP_SECRET)
    long_value = "/" * (signing._TEMPLATE_QUERY + 1)
    for n in range(3):
        request = get((("filter", long_value),))
        assert accepted(request, signer.headers(request, STAMP, f"{n:032x}"), APP_SECRET)
    assert signer._templates == {}
    short = get((("filter", "/"),))
    for n in range(2):
        signer.headers(short, STAMP, f"{n:032x}")
    assert list(signer._templates) == [(short.host, short.path, short.params)]
