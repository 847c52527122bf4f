"""Signing: brokerauth's Webull signer against the official SDK 3.0.4, Futu's legacy signer
against the HMAC floor, and how signing time grows with the body and the query.

What is timed on each side
--------------------------
* The SDK: its signer (``AppKeySigner``, made by ``SignerFactory`` as the SDK's client makes
  it) signing an ``ApiRequest``, as the client does before sending: it makes its own timestamp
  and nonce, JSON-encodes the body to hash it, and writes the headers into the request.
* brokerauth: what a session does for every attempt — ``ProfileBinding.signature_headers``
  (read the clock, draw a nonce, call the profile's signer through the plugin host), merged
  into the header dict the transport sends, as the SDK writes its headers into its request.
  The request is built beforehand (the body is the bytes that will be sent), as the SDK's
  request object is.

Before anything is timed, both sides sign every HTTP vector of ``webull_signing_vectors.json``
and the benchmark's own inputs with a fixed timestamp and nonce, and must agree byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
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

        self.signer = SignerFactory.get_signer({"app_key": app_key, "app_secret": app_secret})

    @staticmethod
    def request(host: str, method: str, path: str, query: dict[str, str] | None, body: Any,
                headers: dict[str, str]) -> Any:
        from webull.core.request import ApiRequest

        request = ApiRequest(path, method=method, headers=dict(headers), query_params=query,
                             body_params=body)
        request.set_endpoint(host)
        return request

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
                      body: Any) -> dict[str, Callable[[], object]]:
    """The SDK's signer and brokerauth's on one request, checked to agree first."""
    sdk = SdkSigner(binding.settings.app_key.reveal(), binding.settings.app_secret.reveal())
    headers = {"x-version": "v3"}
    sdk_request = sdk.request(HOST, method, path, query, body, headers)
    request = binding.build(method, path, params=query, json=body, headers=headers)
    timestamp, nonce = "2024-01-02T03:04:05Z", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    with _sdk_fixed(timestamp, nonce):
        expected = sdk.sign(sdk_request)
    signed = binding.sign(request, None, now=_parse_time(timestamp), nonce=nonce)
    assert signed.headers["x-signature"] == expected, "brokerauth and the SDK disagree"

    def sdk_sign() -> object:
        return sdk.sign(sdk_request)

    def brokerauth() -> object:
        # A session's work per attempt: the signer's headers, merged into the header dict the
        # transport sends (as the SDK writes them into its request).
        headers = dict(request.headers)
        headers.update(binding.signature_headers(request, None))
        return headers

    return {"sdk": sdk_sign, "brokerauth": brokerauth}


def run(report: Report, open_binding: Callable[..., Any], profiles: Path,
        quick: bool) -> None:
    print("\n== Webull signing: brokerauth vs the official SDK 3.0.4", flush=True)
    checked = check_against_vectors(open_binding, profiles)
    print(f"  {checked} SDK vectors: the SDK as called here and brokerauth agree byte for byte")
    binding = open_binding("bench-webull", profiles=profiles)
    body = order_body()
    body_size = len(json.dumps(body, separators=(",", ":")))
    cases = [
        ("Webull signing, GET with 3 query params", "GET", GET_PATH, GET_QUERY, None),
        (f"Webull signing, POST with a {body_size / 1000:.1f} KB JSON body", "POST", POST_PATH,
         None, body),
    ]
    for what, method, path, query, request_body in cases:
        contenders = webull_contenders(binding, method, path, query, request_body)
        number = calls_for(contenders["sdk"], 0.05)
        result = interleaved(contenders, number=number)
        ratio = result["sdk"] / result["brokerauth"]
        print(f"  {what}: SDK {us(result['sdk'])}, brokerauth {us(result['brokerauth'])}")
        report.add(what, f"{us(result['brokerauth'])} ({1 / result['brokerauth']:,.0f}/s)",
                   f"SDK {us(result['sdk'])} ({1 / result['sdk']:,.0f}/s)", ratio,
                   "≥ 4× throughput", ratio >= 4.0)

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
    print("\n== How signing time grows (brokerauth, a session's signing per attempt; the SDK "
          "alongside)",
          flush=True)
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
