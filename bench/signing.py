"""Signing: brokerauth's Webull signer against the official SDK 3.0.4, the Webull signer alone
against the crypto floor of its string, Futu's legacy signer against the HMAC floor, and how
signing time grows with the body and the query.

What is timed on each side (the fair rows)
------------------------------------------
Both sides start from what a caller gives — a method, a path, the query parameters or a
JSON-able body, and a header — and end with the header dict that authenticates the request.

* The SDK: what its client does before sending (``ApiClient._make_http_response``): an
  ``ApiRequest`` made from the caller's values; for a body, the client JSON-encodes it (the
  text it sends) and then its signer (``AppKeySigner``, as ``SignerFactory`` makes it)
  encodes it again to hash it; the signer makes its own timestamp and nonce and returns the
  headers.  The User-Agent and client-source headers the client adds afterwards are left out,
  as brokerauth's transport adds its own User-Agent outside the timed part.
* brokerauth: what a session does per request: ``ProfileBinding.build`` (the body
  JSON-encoded once, into the bytes that are sent and hashed: by orjson, as ``.bench-venv``
  has the core's ``orjson`` extra; a line for information times it with json), then, per
  attempt,
  ``ProfileBinding.signature_headers`` (read the clock, draw a nonce, call the profile's signer
  through the plugin host) merged into the header dict the transport sends.

The signer-alone row times the Webull plugin's ``sign_request`` hook called directly (no plugin
host, no clock, no nonce drawn: the request built, the time and nonce given) against the crypto
floor of the very string it signs: HMAC-SHA256 of the already-built string to sign (bytes), with
the key prepared once (``hmac.new(key, digestmod=sha256)`` copied per call), and base64 to text.
The request repeats, so the signer finds its quoted query pairs in its caches (as a session
polling one query does); a line for information signs requests whose query values are new on
every call.

Left out: the User-Agent and the SDK's client-source header (both sides), the checks a session
makes before sending (origin, header values), connection handling and sending.

Before anything is timed, both sides sign every HTTP vector of ``webull_signing_vectors.json``
and the benchmark's own inputs with a fixed timestamp and nonce, and must agree byte for byte.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import Report, calls_for, interleaved, table, us

#: The official SDK's outputs, kept with the Webull plugin's tests.
VECTORS = (Path(__file__).resolve().parents[1] / "plugins" / "webull" / "tests"
           / "webull_signing_vectors.json")
HOST = "api.webull.com"
GET_PATH = "/market-data/stocks/snapshots/list"
GET_QUERY = {"symbols": "AAPL,TSLA", "category": "US_STOCK", "extend_hour_required": "true"}
POST_PATH = "/openapi/trade/order/place"
#: The header a caller gives on both sides (the endpoint's generation).
CALLER_HEADERS = {"x-version": "v3"}
#: A fixed time and nonce, to compare signatures.
FIXED_TIMESTAMP, FIXED_NONCE = "2024-01-02T03:04:05Z", "7c9e6679-7425-40de-944b-e07fc1f90ae7"

#: The fair rows' targets: throughput against the SDK, from the caller's values to the headers.
GET_TARGET = 5.0
POST_TARGET = 5.0
#: The Webull signer alone: at most this many times its crypto floor's time.
FLOOR_TARGET = 2.5


def order_body(orders: int = 5) -> dict[str, Any]:
    """A place-order request; five orders make about 1.2 KB of compact JSON."""
    return {
        "account_id": "ACC0123456789",
        "new_orders": [
            {"client_order_id": f"bench-{i:04d}-7c9e6679", "combo_type": "NORMAL",
             "symbol": "AAPL", "instrument_type": "EQUITY", "market": "US",
             "order_type": "LIMIT", "limit_price": "188.50", "quantity": "10", "side": "BUY",
             "time_in_force": "DAY", "entrust_type": "QTY"}
            for i in range(orders)
        ],
    }


class SdkSigner:
    """The SDK's own signer (``AppKeySigner``, as ``SignerFactory`` makes it for a client)
    signing an ``ApiRequest``, as the SDK's client does before sending it."""

    def __init__(self, app_key: str, app_secret: str) -> None:
        from webull.core.auth.signers.signer_factory import SignerFactory
        from webull.core.request import ApiRequest
        from webull.core.utils.common import json_dumps_compact

        self.signer = SignerFactory.get_signer({"app_key": app_key, "app_secret": app_secret})
        self._request_class = ApiRequest
        self._encode = json_dumps_compact

    def request(self, host: str, method: str, path: str, query: dict[str, str] | None,
                body: Any, headers: dict[str, str]) -> Any:
        """An ``ApiRequest`` from the caller's values, made ready as the client makes it
        (``ApiClient._make_http_response``): the body encoded to the text it sends, the
        endpoint set."""
        request = self._request_class(path, method=method, headers=dict(headers),
                                      query_params=query, body_params=body)
        if body is not None:
            request.set_content(self._encode(body))
        request.set_endpoint(host)
        return request

    def headers(self, host: str, method: str, path: str, query: dict[str, str] | None,
                body: Any, headers: dict[str, str]) -> dict[str, str]:
        """From the caller's values to the signed headers, as the client goes."""
        signed: dict[str, str] = self.signer.sign(
            self.request(host, method, path, query, body, headers))
        return signed

    def sign(self, request: Any) -> str:
        headers: dict[str, str] = self.signer.sign(request)
        return headers["x-signature"]


@contextmanager
def _sdk_fixed(timestamp: str, nonce: str) -> Iterator[None]:
    """The SDK draws its own timestamp and nonce; fix them to compare signatures."""
    from webull.core.utils import common

    saved = common.get_iso_8601_date, common.get_uuid
    common.get_iso_8601_date = lambda *_: timestamp
    common.get_uuid = lambda: nonce
    try:
        yield
    finally:
        common.get_iso_8601_date, common.get_uuid = saved


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def check_against_vectors(open_binding: Callable[..., Any], profiles: Path) -> int:
    """Every HTTP vector: the SDK as called here and brokerauth give the recorded signature."""
    cases = [c for c in json.loads(VECTORS.read_text()) if c["method"] != "GRPC"
             and c["signature_headers"]["x-signature-algorithm"] == "HMAC-SHA256"]
    binding = open_binding("vectors", profiles=profiles)
    for case in cases:
        sdk = SdkSigner(case["app_key"], case["app_secret"])
        body = json.loads(case["body"]) if case["body"] is not None else None
        query = case["query_as_signed"] or case["query"] or None
        request = sdk.request(case["host"], case["method"], case["path"], query, body,
                              case["headers_in"])
        with _sdk_fixed(case["timestamp"], case["nonce"]):
            assert sdk.sign(request) == case["signature"], f"the SDK disagrees: {case['name']}"
        ours = binding.build(case["method"], f"https://{case['host']}{case['path']}",
                             params=query, json=body, headers=case["headers_in"])
        signed = binding.sign(ours, None, now=_parse_time(case["timestamp"]),
                              nonce=case["nonce"])
        assert signed.headers["x-signature"] == case["signature"], case["name"]
    return len(cases)


def webull_contenders(binding: Any, method: str, path: str, query: dict[str, str] | None,
                      body: Any, *, one_encoding: bool = False
                      ) -> dict[str, Callable[[], object]]:
    """The SDK and brokerauth, each from the caller's values to the headers dict, checked to
    agree first (same request, fixed time and nonce)."""
    sdk = SdkSigner(binding.settings.app_key.reveal(), binding.settings.app_secret.reveal())
    headers = CALLER_HEADERS
    with _sdk_fixed(FIXED_TIMESTAMP, FIXED_NONCE):
        expected = sdk.headers(HOST, method, path, query, body, headers)["x-signature"]
    request = binding.build(method, path, params=query, json=body, headers=headers)
    signed = binding.sign(request, None, now=_parse_time(FIXED_TIMESTAMP), nonce=FIXED_NONCE)
    assert signed.headers["x-signature"] == expected, "brokerauth and the SDK disagree"
    build, signature_headers = binding.build, binding.signature_headers

    def sdk_headers() -> object:
        return sdk.headers(HOST, method, path, query, body, headers)

    def sdk_signer_encoding_only() -> object:
        # The SDK without its client's own encoding of the body (its signer's only).
        request = sdk._request_class(path, method=method, headers=dict(headers),
                                     query_params=query, body_params=body)
        request.set_endpoint(HOST)
        return sdk.signer.sign(request)

    def brokerauth() -> object:
        # A session's work: the request built from the caller's values (the body encoded
        # once), then the signer's headers merged into the header dict the transport sends.
        request = build(method, path, params=query, json=body, headers=headers)
        sent = dict(request.headers)
        sent.update(signature_headers(request, None))
        return sent

    contenders: dict[str, Callable[[], object]] = {"sdk": sdk_headers, "brokerauth": brokerauth}
    if body is not None and one_encoding:
        contenders["sdk, one encoding"] = sdk_signer_encoding_only
        # brokerauth without the orjson extra: the body encoded by json as the session then
        # encodes it, the rest the same.
        plain = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        json_headers = {**headers, "Content-Type": "application/json"}

        def brokerauth_json_alone() -> object:
            request = build(method, path, data=plain(body).encode("utf-8"), headers=json_headers)
            sent = dict(request.headers)
            sent.update(signature_headers(request, None))
            return sent

        contenders["brokerauth, json alone"] = brokerauth_json_alone
    return contenders


def signer_contenders(binding: Any, method: str, path: str, query: dict[str, str] | None,
                      body: Any) -> dict[str, Callable[[], object]]:
    """The Webull plugin's signer alone, and the crypto floor of the string it signs: HMAC
    (key prepared once, copied per call) of the already-built string, base64 to text."""
    from brokerauth_webull import plugin, signing
    from brokerauth_webull.hmac_headers import timestamp

    settings = binding.settings
    request = binding.build(method, path, params=query, json=body, headers=CALLER_HEADERS)
    now = _parse_time(FIXED_TIMESTAMP)
    nonce = FIXED_NONCE.replace("-", "")
    app_key, secret = settings.app_key.reveal(), settings.app_secret.reveal()
    message = signing.string_to_sign(request, app_key, timestamp(now), nonce).encode("ascii")
    key = hmac.new((secret + "&").encode(), digestmod=hashlib.sha256)
    b2a = binascii.b2a_base64

    def floor() -> object:
        mac = key.copy()
        mac.update(message)
        return b2a(mac.digest(), newline=False).decode("ascii")

    sign = plugin.sign_request

    def signer() -> object:
        return sign(plugin.SIGNER, request, settings, None, now, nonce)

    ours = signer()
    assert isinstance(ours, dict)
    assert ours[signing.SIGNATURE] == floor(), "the floor signs another string"
    contenders: dict[str, Callable[[], object]] = {"floor": floor, "brokerauth": signer}
    if query:
        # Information: requests whose query values are new on every call, so no quoted pair
        # is found in the signer's caches (more distinct requests than the caches keep).
        fresh = [binding.build(method, path, params={k: f"{v}-{i}" for k, v in query.items()},
                               json=body, headers=CALLER_HEADERS) for i in range(6000)]
        cycle = itertools.cycle(fresh).__next__

        def signer_new_values() -> object:
            return sign(plugin.SIGNER, cycle(), settings, None, now, nonce)

        contenders["brokerauth, new values"] = signer_new_values
    return contenders


def run(report: Report, open_binding: Callable[..., Any], profiles: Path,
        quick: bool) -> None:
    print("\n== Webull signing: brokerauth vs the official SDK 3.0.4, from the caller's "
          "values to the headers", flush=True)
    checked = check_against_vectors(open_binding, profiles)
    print(f"  {checked} SDK vectors: the SDK as called here and brokerauth agree byte for byte")
    binding = open_binding("bench-webull", profiles=profiles)
    body = order_body()
    body_size = len(json.dumps(body, separators=(",", ":")))
    # Many short interleaved runs (about 10 ms each): on a shared machine a neighbour's burst
    # then spoils a few samples of both sides, which the medians drop, rather than one side.
    runs = 21 if quick else 41
    cases = [
        ("Webull signing, GET with 3 query params, request building counted on both sides",
         "GET", GET_PATH, GET_QUERY, None, GET_TARGET),
        (f"Webull signing, POST with a {body_size / 1000:.1f} KB JSON body, JSON encoding "
         "counted on both sides", "POST", POST_PATH, None, body, POST_TARGET),
    ]
    for what, method, path, query, request_body, target in cases:
        contenders = webull_contenders(binding, method, path, query, request_body,
                                       one_encoding=True)
        number = calls_for(contenders["sdk"], 0.01)
        result = interleaved(contenders, number=number, runs=runs)
        ratio = result["sdk"] / result["brokerauth"]
        print(f"  {what}: SDK {us(result['sdk'])}, brokerauth {us(result['brokerauth'])}")
        if "sdk, one encoding" in result:
            # Information: the SDK's client encodes the body to send it, then its signer
            # encodes it again to hash it; with the signer's encoding only, the ratio is this.
            alone = result["sdk, one encoding"]
            print(f"    (the SDK without its client's own encoding of the body: {us(alone)}, "
                  f"{alone / result['brokerauth']:.2f}× brokerauth's time)")
        if "brokerauth, json alone" in result:
            # Information: without the orjson extra, json encodes the body.
            plain = result["brokerauth, json alone"]
            print(f"    (brokerauth without the orjson extra, json encoding the body: "
                  f"{us(plain)}, {result['sdk'] / plain:.2f}× throughput)")
        report.add(what, f"{us(result['brokerauth'])} ({1 / result['brokerauth']:,.0f}/s)",
                   f"SDK {us(result['sdk'])} ({1 / result['sdk']:,.0f}/s)", ratio,
                   f"≥ {target:g}× throughput", ratio >= target)

    print("\n== Webull signer alone vs the crypto floor of the same string", flush=True)
    signer_cases = [
        ("Webull signer alone, GET with 3 query params, vs the crypto floor of its string",
         "GET", GET_PATH, GET_QUERY, None, True),
        # Information only: the signer also hashes the body (SHA-256 of 1.2 KB), which the
        # floor of the string does not.
        ("Webull signer alone, POST with a 1.2 KB JSON body (body hash included)", "POST",
         POST_PATH, None, body, False),
    ]
    for what, method, path, query, request_body, is_target in signer_cases:
        contenders = signer_contenders(binding, method, path, query, request_body)
        number = calls_for(contenders["floor"], 0.01)
        result = interleaved(contenders, number=number, runs=runs)
        ratio = result["brokerauth"] / result["floor"]
        print(f"  {what}: floor {us(result['floor'])}, brokerauth {us(result['brokerauth'])}, "
              f"{ratio:.2f}×")
        if "brokerauth, new values" in result:
            new_values = result["brokerauth, new values"]
            print(f"    (query values new on every call, nothing from the signer's caches: "
                  f"{us(new_values)}, {new_values / result['floor']:.2f}×)")
        if is_target:
            report.add(what, us(result["brokerauth"]), f"floor {us(result['floor'])}", ratio,
                       f"≤ {FLOOR_TARGET:g}× the floor's time", ratio <= FLOOR_TARGET)

    futu(report, open_binding, profiles)
    growth(report, binding, quick)


def futu(report: Report, open_binding: Callable[..., Any], profiles: Path) -> None:
    """The Futu plugin's legacy API-key signer against HMAC-SHA256 of the same string."""
    from brokerauth_futu import plugin, signing

    print("\n== Futu legacy API-key signing vs raw hmac + hashlib (the floor)", flush=True)
    binding = open_binding("bench-futu", profiles=profiles)
    settings = binding.settings
    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    secret = settings.app_secret.reveal().encode()
    body = order_body()
    cases = [
        ("Futu legacy signing, GET with 3 query params",
         binding.build("GET", "/v1/quote/snapshot", params=GET_QUERY)),
        ("Futu legacy signing, POST with a 1.2 KB JSON body",
         binding.build("POST", "/v1/trade/order", json=body)),
    ]
    for what, request in cases:
        target = signing.signed_path(request.path, request.query_string)
        message = signing.string_to_sign(request.method, target, str(int(now.timestamp())),
                                         request.body)
        ours = plugin.sign_request("futu", request, settings, None, now)
        assert ours is not None
        floor_sig = hmac.new(secret, message, hashlib.sha256).hexdigest()
        assert ours[signing.HEADER_SIGNATURE] == floor_sig, "the floor signs another string"

        def floor(message: bytes = message) -> object:
            return hmac.new(secret, message, hashlib.sha256).hexdigest()

        def brokerauth(request: Any = request) -> object:
            return plugin.sign_request("futu", request, settings, None, now)

        number = calls_for(floor, 0.05)
        result = interleaved({"floor": floor, "brokerauth": brokerauth}, number=number)
        ratio = result["brokerauth"] / result["floor"]
        print(f"  {what}: floor {us(result['floor'])}, brokerauth {us(result['brokerauth'])}")
        report.add(what, us(result["brokerauth"]), f"floor {us(result['floor'])}", ratio,
                   "≤ 3× the floor's time", ratio <= 3.0)


def growth(report: Report, binding: Any, quick: bool) -> None:
    """brokerauth's signing time (and the SDK's) against body size and query size."""
    print("\n== How signing time grows (from the caller's values to the headers, as in the rows "
          "above; the SDK alongside)", flush=True)
    sizes = [0, 1 << 10, 10 << 10, 100 << 10, 1 << 20]
    rows = []
    for size in sizes:
        body = {"data": "x" * max(0, size - 11)} if size else None
        contenders = webull_contenders(binding, "POST", POST_PATH, None, body)
        number = calls_for(contenders["brokerauth"], 0.02)
        result = interleaved(contenders, number=number, runs=5)
        label = "none" if size == 0 else f"{size >> 10} KiB"
        per_kib = f"{result['brokerauth'] / (size / 1024) * 1e6:.2f} µs" if size else "-"
        rows.append([label, us(result["brokerauth"]), per_kib, us(result["sdk"]),
                     f"{result['sdk'] / result['brokerauth']:.1f}×"])
    body_table = table(
        ["JSON body", "brokerauth", "brokerauth per KiB", "SDK", "SDK / brokerauth"], rows
    )
    print(body_table)
    rows = []
    for count in [0, 1, 3, 10, 30, 100]:
        query = {f"param_{i:03d}": f"value,{i}" for i in range(count)} or None
        contenders = webull_contenders(binding, "GET", GET_PATH, query, None)
        number = calls_for(contenders["brokerauth"], 0.02)
        result = interleaved(contenders, number=number, runs=5)
        rows.append([str(count), us(result["brokerauth"]), us(result["sdk"]),
                     f"{result['sdk'] / result['brokerauth']:.1f}×"])
    query_table = table(["query params", "brokerauth", "SDK", "SDK / brokerauth"], rows)
    print(query_table)
    report.notes.append("Signing time against body size (POST, HMAC-SHA256):\n\n" + body_table)
    report.notes.append("Signing time against query size (GET):\n\n" + query_table)
