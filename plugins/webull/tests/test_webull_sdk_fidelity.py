"""What Webull's official SDK (3.0.4) sends and reads, served by the sandbox.

The SDK signs the endpoint's host without the port (``add_endpoint(region, "127.0.0.1")`` with
``ApiClient(port=N)``), while the wire's ``Host`` has it; and its token manager refuses a token
answer without ``expires``.  The sandbox takes the first and answers the second by default.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
from brokerauth_webull import signing
from brokerauth_webull.hmac_headers import timestamp
from brokerauth_webull.sandbox.server import WebullSandbox

ACCOUNTS = "/openapi/account/list"


def signed_for_host(client: Any, sandbox: WebullSandbox, host: str) -> tuple[Any, dict[str, str]]:
    request, _ = client.build("GET", ACCOUNTS)
    as_signed = attrs.evolve(request, host=host)
    headers = signing.signature_headers(as_signed, sandbox.app_key, sandbox.app_secret,
                                        timestamp(client.clock.now()), str(uuid.uuid4()))
    return request, headers


def test_the_host_may_be_signed_without_the_port(sandbox: WebullSandbox, make_client: Any) -> None:
    client = make_client(sandbox)
    request, headers = signed_for_host(client, sandbox, "127.0.0.1")
    assert ":" in request.host  # the sandbox listens on an ephemeral port: the wire's Host has it
    assert client.send(request, headers).status == 200


def test_the_host_with_its_port_is_still_accepted(sandbox: WebullSandbox, make_client: Any) -> None:
    client = make_client(sandbox)
    request, headers = signed_for_host(client, sandbox, f"127.0.0.1:{sandbox.port}")
    assert client.send(request, headers).status == 200


def test_another_host_is_still_refused(sandbox: WebullSandbox, make_client: Any) -> None:
    client = make_client(sandbox)
    request, headers = signed_for_host(client, sandbox, "api.webull.com")
    assert client.send(request, headers).status == 401


def test_token_answers_carry_both_expiry_fields_by_default(
    make_sandbox: Any, make_client: Any
) -> None:
    sandbox = make_sandbox(two_factor_required=True)
    answer = make_client(sandbox).create().json()
    assert {"expires", "expires_at"} <= set(answer)
    assert answer["expires"] == answer["expires_at"]
