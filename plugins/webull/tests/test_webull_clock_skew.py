"""A clock 90 s off: at most one rejected request, the offset learned from the server's
``Date`` header, and every later request accepted (the README's guarantee 11)."""

from __future__ import annotations

from typing import Any


def test_ninety_seconds_of_skew_cost_one_rejection(webull: Any, open_session: Any) -> None:
    webull.two_factor_required = False
    webull.clock_offset = 90  # the server's clock runs 90 s ahead; its window is 60 s
    session = open_session(webull, two_factor="off")
    for _ in range(5):
        assert session.get("/openapi/account/list").status == 200
    assert sum(webull.rejections.values()) == 1
    assert round(session.binding.skew.total_seconds()) == 90


def test_skew_behind_is_learned_too(webull: Any, open_session: Any) -> None:
    webull.two_factor_required = False
    webull.clock_offset = -90
    session = open_session(webull, two_factor="off")
    assert session.get("/openapi/account/list").status == 200
    assert session.get("/openapi/account/list").status == 200
    assert sum(webull.rejections.values()) == 1
