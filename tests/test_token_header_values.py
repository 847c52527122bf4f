"""A token is stored only if it can be a header value (README, Guarantees; QUALITY item 20):
a refresh answered with an access or refresh token outside visible ASCII (0x21-0x7E) is a
typed error, the stored token stays the old one, and the next request, with the server
sane again, succeeds.  Over real HTTP against the test double's sandbox on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import RefreshError, ResponseError
from brokerauth.contract.tokens import ISSUED_FOR, Token
from brokerauth.engine import failures

# The test double's tokens live 600 s: advisory window from 300 s before expiry, mandatory
# from 60 s.
MANDATORY = 560
ADVISORY = 400

BAD_VALUES = {
    "cjk": "令牌",
    "tab": "tok\tQ7en",
    "del": "tok\x7fQ7en",
    "space": "tok Q7en",
    "latin-1": "caf\u00e9Q7",         # a header could carry it, but no broker issues it
    "nbsp": "tok\u00a0Q7en",
    "newline": "tok\r\nX-Injected: Q7",
    "nul": "tok\x00Q7en",
    "leading-space": " Q7token",
}


def _answer(field: str, value: str, *, ascii_json: bool) -> tuple[int, str, bytes]:
    body = {"access_token": "fine-access-token", "refresh_token": "fine-refresh-token",
            "token_type": "Bearer", "expires_in": 600, field: value}
    return 200, "application/json", json.dumps(body, ensure_ascii=ascii_json).encode()


def _store_bytes(home: Path) -> dict[str, bytes]:
    """Every token file of the store as it is on disk (lock files left out)."""
    return {str(p): p.read_bytes() for p in home.rglob("*")
            if p.is_file() and not p.name.endswith(".lock")}


def _assert_old_token_kept(session: Any, good: Token, before: dict[str, bytes], home: Path,
                           refused: str) -> None:
    stored = session.binding.load()
    assert stored == good
    assert failures.failure_of(stored) is not None
    kept = {k: v for k, v in failures.cleared(stored).extra.items() if k != ISSUED_FOR}
    assert kept == {k: v for k, v in good.extra.items() if k != ISSUED_FOR}
    after = _store_bytes(home)
    assert after.keys() == before.keys()
    for content in after.values():
        assert refused.encode() not in content
        assert json.dumps(refused).encode() not in content


CASES = [(field, name, ascii_json)
         for field in ("access_token", "refresh_token")
         for name in BAD_VALUES
         for ascii_json in ((True, False) if name == "cjk" else (True,))]


@pytest.mark.parametrize(("field", "name", "ascii_json"), CASES,
                         ids=[f"{f}-{n}{'-utf8' if not a else ''}" for f, n, a in CASES])
def test_a_token_that_cannot_be_a_header_is_never_stored(
    double: Any, double_session: Any, manual_clock: Any, token_home: Path,
    field: str, name: str, ascii_json: bool,
) -> None:
    good = double_session.token
    before = _store_bytes(token_home)
    assert before, "the file store should hold the first token"
    manual_clock.advance(MANDATORY)
    double.bad_refresh_answers = [_answer(field, BAD_VALUES[name], ascii_json=ascii_json)]
    with pytest.raises(RefreshError) as info:
        double_session.get("/api/me")
    assert isinstance(info.value.__cause__, ResponseError)
    assert "nothing was stored, the previous token is kept" in str(info.value)
    assert BAD_VALUES[name] not in str(info.value)
    assert double.refresh_calls == 1
    assert double.count("GET", "/api/me") == 0
    # the store still holds the old token: only the failure, for other callers to share, is
    # recorded with it (and never the refused value)
    _assert_old_token_kept(double_session, good, before, token_home, BAD_VALUES[name])
    # and with the server sane again, the next request after the back-off refreshes
    manual_clock.advance(failures.backoff(1))
    response = double_session.get("/api/me")
    assert response.status == 200
    assert double.refresh_calls == 2
    assert double_session.token.access_token != good.access_token


def test_in_the_advisory_window_the_old_token_keeps_working(
    double: Any, double_session: Any, manual_clock: Any, token_home: Path, caplog: Any,
) -> None:
    good: Token = double_session.token
    before = _store_bytes(token_home)
    manual_clock.advance(ADVISORY)
    double.bad_refresh_answers = [_answer("access_token", BAD_VALUES["cjk"], ascii_json=False)]
    assert double_session.get("/api/me").status == 200
    assert double.seen_tokens[-1] == good.access_token
    assert "early refresh failed" in caplog.text
    assert BAD_VALUES["cjk"] not in caplog.text
    _assert_old_token_kept(double_session, good, before, token_home, BAD_VALUES["cjk"])


def test_every_visible_ascii_character_is_accepted(double: Any, double_session: Any,
                                                   manual_clock: Any) -> None:
    # The rule's other edge: an opaque token may use any of 0x21-0x7E, not only b64token's.
    visible = "".join(chr(c) for c in range(0x21, 0x7F))
    double_session.token
    manual_clock.advance(MANDATORY)
    double.bad_refresh_answers = [_answer("refresh_token", visible, ascii_json=True)]
    assert double_session.token.refresh_token == visible
    assert double_session.binding.load().refresh_token == visible
