"""The signers reproduce, byte for byte, what the official SDK computed: every HTTP case with
the HTTP signer, the gRPC case with the ``webull-grpc`` metadata signer."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from brokerauth.contract.wire import Request
from brokerauth_webull import grpc_signing, signing, verifier
from webull_helpers import load_vectors

VECTORS = load_vectors()
HTTP_CASES = [case for case in VECTORS if case["method"] != "GRPC"]
GRPC_CASE = next(case for case in VECTORS if case["method"] == "GRPC")


def request_of(case: dict[str, Any]) -> Request:
    query = case.get("query_as_signed") or case["query"] or {}
    body = case["body"].encode("utf-8") if case["body"] is not None else None
    return Request(
        method=case["method"],
        scheme="https",
        host=case["host"],
        path=case["path"],
        params=list(query.items()),
        body=body,
    )


def algorithm_of(case: dict[str, Any]) -> str:
    return str(case["signature_headers"]["x-signature-algorithm"])


def test_every_case_is_covered() -> None:
    assert len(VECTORS) == 16
    assert len(HTTP_CASES) == 15
    assert {algorithm_of(c) for c in HTTP_CASES} == {"HMAC-SHA256", "HMAC-SHA1"}


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["name"] for c in HTTP_CASES])
def test_vector(case: dict[str, Any]) -> None:
    request = request_of(case)
    args = (request, case["app_key"], case["timestamp"], case["nonce"], algorithm_of(case))
    assert signing.canonical_string(*args) == case["canonical_string_unencoded"]
    assert signing.string_to_sign(*args) == case["string_to_sign"]
    headers = signing.signature_headers(
        request,
        case["app_key"],
        case["app_secret"],
        case["timestamp"],
        case["nonce"],
        algorithm_of(case),
        case.get("access_token"),
    )
    expected = dict(case["signature_headers"])
    if case.get("access_token"):
        expected["x-access-token"] = case["access_token"]
    assert headers == expected


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["name"] for c in HTTP_CASES])
def test_vector_intermediates_agree(case: dict[str, Any]) -> None:
    # The fast path equals the definition: quote(canonical, safe="").
    assert urllib.parse.quote(case["canonical_string_unencoded"], safe="") == case["string_to_sign"]
    digest = case.get("body_sha256_upper") or case.get("body_md5_upper")
    request = request_of(case)
    assert signing.body_digest(request.body, algorithm_of(case)) == digest


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["name"] for c in HTTP_CASES])
def test_vector_reference_verifier(case: dict[str, Any]) -> None:
    """The sandbox's independent verifier rebuilds the same string and signature."""
    request = request_of(case)
    headers = {k.lower(): v for k, v in case["signature_headers"].items()}
    to_sign = verifier.reference_string_to_sign(
        path=request.path,
        params=request.params,
        headers=headers,
        body=request.body or b"",
        host=request.host,
    )
    assert to_sign == case["string_to_sign"]
    signature = verifier.reference_signature(to_sign, case["app_secret"], algorithm_of(case))
    assert signature == case["signature"]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["name"] for c in HTTP_CASES])
def test_vector_wire(case: dict[str, Any]) -> None:
    """The bytes hashed are the bytes sent: same URL and body length as the SDK's."""
    wire = case.get("wire")
    if wire is None:
        pytest.skip("no wire record for this case")
    request = request_of(case)
    assert request.url == wire["url"]
    assert len(request.body or b"") == wire["body_len_bytes"]


def test_access_token_is_not_signed() -> None:
    plain = next(c for c in HTTP_CASES if c["name"] == "get_query_3_params")
    with_token = next(c for c in HTTP_CASES if c["name"] == "get_query_3_params_with_access_token")
    assert plain["signature"] == with_token["signature"]


def test_grpc_vector() -> None:
    """The trade-events subscribe call's metadata, as the SDK's events client made it."""
    case = GRPC_CASE
    body = bytes.fromhex(case["body_protobuf_hex"])
    args = (case["app_key"], case["timestamp"], case["nonce"], body, "HMAC-SHA256")
    assert grpc_signing.body_digest(body) == case["body_sha256_lower"]
    assert grpc_signing.canonical_string(*args) == case["canonical_string_unencoded"]
    assert grpc_signing.string_to_sign(*args) == case["string_to_sign"]
    assert urllib.parse.quote(case["canonical_string_unencoded"], safe="") == case["string_to_sign"]
    sent = grpc_signing.metadata(case["app_key"], case["app_secret"], case["timestamp"],
                                 case["nonce"], body, "HMAC-SHA256")
    assert sent == [tuple(pair) for pair in case["grpc_metadata_ordered"]]
    assert dict(sent)["x-signature"] == case["signature"]
    assert all(case["app_secret"] not in value for _, value in sent)


def test_grpc_vector_message_encoding() -> None:
    """The hand-written SubscribeRequest encoder gives the SDK's protobuf bytes."""
    from brokerauth_webull.events_messages import SubscribeRequest

    case = GRPC_CASE
    request = SubscribeRequest(subscribe_type=7, timestamp=1704164645000,
                               accounts=("ACCT123456",))
    assert request.SerializeToString().hex() == case["body_protobuf_hex"]
    assert SubscribeRequest.FromString(bytes.fromhex(case["body_protobuf_hex"])) == request


def test_grpc_token_is_added_unsigned() -> None:
    case = GRPC_CASE
    body = bytes.fromhex(case["body_protobuf_hex"])
    sent = grpc_signing.metadata(case["app_key"], case["app_secret"], case["timestamp"],
                                 case["nonce"], body, "HMAC-SHA256", access_token="tok")
    assert sent[-1] == ("x-access-token", "tok")
    assert dict(sent)["x-signature"] == case["signature"]


def test_http_signing_is_not_the_grpc_variant() -> None:
    case = GRPC_CASE
    body = bytes.fromhex(case["body_protobuf_hex"])
    request = Request(
        method="POST",
        scheme="https",
        host="events-api.webull.com",
        path="/grpc.trade.event.EventService/Subscribe",
        body=body,
    )
    args = (request, case["app_key"], case["timestamp"], case["nonce"], "HMAC-SHA256")
    canonical = signing.canonical_string(*args)
    to_sign = signing.string_to_sign(*args)
    sig = signing.signature(to_sign, case["app_secret"], "HMAC-SHA256")
    assert canonical != case["canonical_string_unencoded"]
    assert to_sign != case["string_to_sign"]
    assert sig != case["signature"]
    # HTTP joins pairs with "&" and hashes in upper-case hex; gRPC joins with "=" in lower case.
    assert "=x-signature-algorithm=" not in canonical
    assert "&x-signature-algorithm=HMAC-SHA256&" in canonical
    assert canonical.endswith("&" + case["body_sha256_lower"].upper())
    # Even without path and host the HTTP joining never produces the gRPC string.
    bare = Request(method="POST", scheme="https", host="", path="", body=body)
    assert signing.string_to_sign(bare, *args[1:]) != case["string_to_sign"]


def test_app_secret_is_never_sent() -> None:
    case = HTTP_CASES[0]
    headers = signing.signature_headers(
        request_of(case), case["app_key"], case["app_secret"], case["timestamp"], case["nonce"]
    )
    assert "x-app-secret" not in headers
    assert all(case["app_secret"] not in value for value in headers.values())
    assert case["app_secret"] not in signing.canonical_string(
        request_of(case), case["app_key"], case["timestamp"], case["nonce"]
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://api.webull.com/x", "api.webull.com"),
        ("https://api.webull.com:443/x", "api.webull.com"),
        ("https://api.webull.com:8443/x", "api.webull.com:8443"),
        ("http://127.0.0.1:80/x", "127.0.0.1"),
        ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
    ],
)
def test_host_has_port_only_when_not_default(url: str, host: str) -> None:
    canonical = signing.canonical_string(Request.from_url("GET", url), "k", "t", "n")
    assert f"&host={host}&" in canonical


def test_empty_body_adds_nothing_but_empty_object_is_hashed() -> None:
    base = Request(method="POST", scheme="https", host="h", path="/p")
    no_body = signing.canonical_string(base, "k", "t", "n")
    empty = signing.canonical_string(Request(**{**_fields(base), "body": b""}), "k", "t", "n")
    braces = signing.canonical_string(Request(**{**_fields(base), "body": b"{}"}), "k", "t", "n")
    assert no_body == empty
    assert braces == no_body + "&44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A"


def test_repeated_query_keys_join_in_order() -> None:
    request = Request(
        method="GET",
        scheme="https",
        host="h",
        path="/p",
        params=[("a", "2"), ("B", "x"), ("a", "1")],
    )
    canonical = signing.canonical_string(request, "k", "t", "n")
    assert canonical.startswith("/p&B=x&a=2&1&host=h&")
    quoted = urllib.parse.quote(canonical, safe="")
    assert signing.string_to_sign(request, "k", "t", "n") == quoted


def test_unsupported_algorithm_is_refused() -> None:
    request = Request(method="GET", scheme="https", host="h", path="/p")
    for call in (signing.canonical_string, signing.string_to_sign):
        with pytest.raises(ValueError, match="HMAC-SHA256"):
            call(request, "k", "t", "n", "HMAC-MD5")
    with pytest.raises(ValueError, match="unsupported"):
        signing.signature("x", "secret", "RSA")
    with pytest.raises(ValueError, match="unsupported"):
        signing.body_digest(b"x", "RSA")


def test_quote_matches_urllib() -> None:
    samples = ["", "abc", "a b+c&d=e/f", "中文 é", "🚀", "~._-", "100%", "\x00\x7f", "ÿ"]
    for text in samples:
        assert signing.quote(text) == urllib.parse.quote(text, safe="")


def _fields(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "scheme": request.scheme,
        "host": request.host,
        "path": request.path,
        "params": request.params,
        "headers": dict(request.headers),
        "body": request.body,
    }
