"""Headers that cannot be sent safely are a typed error before anything is sent (QUALITY 20)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.errors import BrokerAuthError, RequestError
from brokerauth.contract.tokens import Token
from brokerauth.toolkit.headers import header_problem
from test_cli import live_profile, run

BAD_VALUES = {
    "CR LF": "a\r\nX-Injected: 1",
    "LF": "a\nb",
    "NUL": "a\x00b",
    "DEL": "a\x7fb",
    "escape": "\x1b[2J",
    "non-Latin-1": "令牌",
}


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_bad_caller_header_is_refused_before_sending(
    double: Any, session_factory: Any, value: str
) -> None:
    session = session_factory(double)
    assert session.get("/api/me").status == 200
    before = double.count("GET", "/api/me")
    with pytest.raises(RequestError) as caught:
        session.get("/api/me", headers={"X-Note": value})
    assert "X-Note" in str(caught.value)
    assert value not in str(caught.value)
    assert double.count("GET", "/api/me") == before


def test_a_bad_header_name_is_refused(double: Any, session_factory: Any) -> None:
    session = session_factory(double)
    for name in ("X Note", "X-Note:", "X\r\nNote", ""):
        with pytest.raises(RequestError):
            session.get("/api/me", headers={name: "v"})
    assert double.count("GET", "/api/me") == 0


def test_latin_1_tabs_and_visible_ascii_are_sent(double: Any, session_factory: Any) -> None:
    session = session_factory(double)
    assert session.get("/api/me", headers={"X-Note": "caf\u00e9\tok ~!"}).status == 200


def test_a_stored_token_that_cannot_be_a_header_is_never_sent(
    double: Any, session_factory: Any
) -> None:
    session = session_factory(double)
    assert session.get("/api/me").status == 200
    stored = session.tokens.peek()
    assert stored is not None
    # A token stored by an older version, before tokens were checked on the way in.
    session.binding.save(Token(access_token="令牌", broker="double",
                               refresh_token=stored.refresh_token))
    session.tokens.forget()
    before = double.count("GET", "/api/me")
    with pytest.raises(BrokerAuthError) as caught:
        session.get("/api/me")
    assert "令牌" not in str(caught.value)
    assert "log in again" in (caught.value.hint or "")
    assert double.count("GET", "/api/me") == before


def test_cli_header_with_a_line_break_is_a_usage_error(
    sandbox_factory: Any, token_home: Path, tmp_path: Path
) -> None:
    double = sandbox_factory("double", clock=SystemClock())
    env = live_profile(double, tmp_path)
    result = run("request", "live", "GET", "/api/me", "-H", "X-Note:a\rX-Injected: 1", env=env)
    assert result.returncode == 2, result.stderr
    assert "X-Note" in result.stderr
    assert "report it" not in result.stderr
    assert double.count("GET", "/api/me") == 0


def test_the_header_rule() -> None:
    assert header_problem("X-A", "plain value") is None
    assert header_problem("X-A", "tab\there, caf\u00e9") is None
    assert header_problem("X-A", "\u00a0nbsp") is None  # Latin-1, though odd
    for value in BAD_VALUES.values():
        assert header_problem("X-A", value) is not None
    assert header_problem("X-A", "\u0085") is not None  # C1 control
    assert header_problem("X A", "v") is not None
