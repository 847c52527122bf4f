"""An error report that shows a traceback's variables (Sentry by default, rich's and pytest's
``show_locals``, ``traceback.TracebackException(capture_locals=True)``) shows no token and no
signature of the request that failed: brokerauth's frames hold them only inside objects whose
repr names headers, never in a plain dict of its own."""

from __future__ import annotations

import traceback
from typing import Any

import pytest
from brokerauth.contract.errors import BrokerAuthError, OriginError, TransportError


def _reported(error: BaseException) -> str:
    """The report of ``error`` with every frame's variables, below the test's own frame."""
    below = error.__traceback__.tb_next if error.__traceback__ is not None else None
    report = traceback.TracebackException(type(error), error, below, capture_locals=True)
    return "".join(report.format())


def _signatures(double: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The signatures of the requests the double gets, as it got them."""
    seen: list[str] = []
    dispatch = double.dispatch

    def recording(request: Any) -> Any:
        seen.append(request.header("x-double-signature") or "")
        return dispatch(request)

    monkeypatch.setattr(double, "dispatch", recording)
    return seen


def test_a_connection_dropped_mid_request(
    double: Any, double_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert double_session.get("/api/me").ok
    signatures = _signatures(double, monkeypatch)
    double.drop_flaky = 1
    with pytest.raises(TransportError) as caught:
        double_session.post("/api/flaky", json={"q": 1})
    report = _reported(caught.value)
    assert "signature" in report  # the frames are there, their variables too
    assert signatures
    secrets = {double_session.token.access_token, double.client_secret, *signatures}
    assert not [s for s in secrets if s and s in report], report


def test_a_redirect_elsewhere_refused_by_the_requests_adapter(
    double: Any, token_home: Any, manual_clock: Any, sandbox_factory: Any,
) -> None:
    import requests
    from brokerauth.adapters import requests_auth
    from brokerauth.engine.profiles import Profile
    from brokerauth_sandbox.server import RecordingServer, SandboxRequest, SandboxResponse

    elsewhere = RecordingServer()
    elsewhere.start()
    try:
        dispatch = double.dispatch

        def redirecting(request: SandboxRequest) -> SandboxResponse:
            if request.path == "/hop":
                return SandboxResponse(307, b"", (("Location", elsewhere.base_url + "/x"),))
            answer: SandboxResponse = dispatch(request)
            return answer

        double.dispatch = redirecting
        profile = Profile.from_mapping("adapted", {"broker": "double",
                                                   **double.profile_settings()})
        auth = requests_auth(profile, clock=manual_clock)
        with requests.Session() as http:
            assert http.get(double.base_url + "/api/me", auth=auth).status_code == 200
            with pytest.raises(OriginError) as caught:
                http.get(double.base_url + "/hop", auth=auth)
    finally:
        elsewhere.stop()
    assert elsewhere.seen == []
    report = _reported(caught.value)
    token = auth.core.session.tokens.current()
    assert isinstance(caught.value, BrokerAuthError)
    assert token is not None
    assert token.access_token not in report, report
