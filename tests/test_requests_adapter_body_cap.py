"""The requests adapter reads a non-success answer's body (the flow judges it: it may ask for
a refresh) up to the profile's ``max_response_bytes``, as the httpx adapter and the transport
do: a larger one is a :class:`ResponseError` and the rest is not read; a smaller one is the
caller's, as requests would have read it."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from _hostile import HostileServer, each_request, measure
from brokerauth.adapters import requests_auth
from brokerauth.contract.errors import ResponseError
from brokerauth.engine.profiles import Profile
from brokerauth.toolkit.secrets import Secret
from test_adapter_error_body_cap import CAP, HUGE, huge_error, small_error

# The profiles here are Webull profiles: the core's tests run without the plugin too.
pytest.importorskip("brokerauth_webull")


@pytest.fixture(autouse=True)
def _home(token_home: Path) -> Path:
    return token_home


def _get(url: str) -> requests.Response:
    auth = requests_auth(Profile.from_mapping("wb", {
        "broker": "webull", "base_url": url.rsplit("/", 2)[0], "two_factor": "off",
        "max_response_bytes": CAP,
        "app_key": Secret.from_value("cap-key"), "app_secret": Secret.from_value("cap-secret"),
    }))
    with requests.Session() as client:
        return client.get(url, auth=auth, timeout=10)


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "declared"])
def test_a_huge_error_body_is_refused_past_the_cap(declared: bool) -> None:
    sent = [0]
    with HostileServer(huge_error(sent, declared=declared)) as server:
        elapsed, error = measure(lambda: _get(server.url + "/openapi/account/list"))
        assert isinstance(error, ResponseError), repr(error)
        assert error.status == 500
        assert elapsed < 5  # the client's timeout is 10 s: it did not wait for the rest
        if declared:
            assert str(error).startswith(
                f"GET /openapi/account/list: the answer declares {HUGE:,} bytes, over the "
                f"{CAP:,}-byte limit (the profile's max_response_bytes); nothing was read")
        else:
            assert str(error).startswith(
                f"GET /openapi/account/list: the answer is larger than the {CAP:,}-byte "
                "limit (the profile's max_response_bytes)")
        assert server.client_closed.wait(5)  # dropped, not drained
    assert sent[0] < 32 << 20, sent[0]


def test_an_error_body_under_the_cap_is_the_callers() -> None:
    with HostileServer(each_request(small_error)) as server:
        response = _get(server.url + "/openapi/account/list")
    assert response.status_code == 503
    assert response.json() == {"error_code": "BROKEN", "message": "under the cap"}
    assert b"".join(response.iter_content(16)) == response.content  # read once, kept
