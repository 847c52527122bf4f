"""The core's judgement of RFC 6750 / RFC 6749 answers (pure functions): a 401 means "refresh
once and resend" only when the Bearer challenge's ``error`` parameter, or the body's error
code, says ``invalid_token`` — never because the words appear somewhere in the header."""

from __future__ import annotations

import json
from typing import Any

import pytest
from brokerauth.contract.verdicts import Outcome, bearer_error, default_verdict
from brokerauth.contract.wire import Request, Response

API = Request.from_url("GET", "https://api.example/v1/things")


def answer(status: int, body: Any = None, challenge: str | None = None) -> Response:
    headers = {} if challenge is None else {"WWW-Authenticate": challenge}
    return Response(status, headers, b"" if body is None else json.dumps(body).encode(), API)


@pytest.mark.parametrize(("challenge", "error"), [
    ('Bearer error="invalid_token"', "invalid_token"),
    ('Bearer realm="api", error="invalid_token", error_description="expired"', "invalid_token"),
    ("bearer error=invalid_token", "invalid_token"),
    ('Bearer error="insufficient_scope", scope="trade"', "insufficient_scope"),
    ('Bearer error_description="error=\\"invalid_token\\" is not the code"', None),
    ('Bearer realm="invalid_token"', None),
    ('Basic realm="x", error="invalid_token"', None),
    ("", None),
])
def test_the_error_parameter_of_a_bearer_challenge(challenge: str, error: str | None) -> None:
    assert bearer_error(challenge) == error


@pytest.mark.parametrize(("response", "outcome"), [
    (answer(401, None, 'Bearer error="invalid_token"'), Outcome.TOKEN_INVALID),
    (answer(401, {"error": "invalid_token"}), Outcome.TOKEN_INVALID),
    (answer(401, {"error": "token_expired"}), Outcome.TOKEN_INVALID),
    # The words in a description or a realm are not the code.
    (answer(401, None, 'Bearer error="insufficient_scope", '
                       'error_description="needs more than an invalid_token refresh"'),
     Outcome.ERROR),
    (answer(401, None, 'Bearer realm="invalid_token_zone"'), Outcome.ERROR),
    (answer(403, None, 'Bearer error="invalid_token"'), Outcome.ERROR),
    (answer(200, {"ok": True}), Outcome.OK),
])
def test_default_verdict_reads_the_code_not_the_words(response: Response,
                                                      outcome: Outcome) -> None:
    assert default_verdict(response).outcome is outcome
