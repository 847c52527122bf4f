"""``x-timestamp`` formatting, including its one-second cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from brokerauth_webull.hmac_headers import timestamp


def test_utc_second_precision_and_any_offset() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 999_000, tzinfo=UTC)
    assert timestamp(moment) == "2024-01-02T03:04:05Z"
    tokyo = moment.astimezone(timezone(timedelta(hours=9)))
    assert timestamp(tokyo) == "2024-01-02T03:04:05Z"  # the cached text of that second
    assert timestamp(moment + timedelta(seconds=1)) == "2024-01-02T03:04:06Z"
    assert timestamp(tokyo + timedelta(seconds=2)) == "2024-01-02T03:04:07Z"  # not cached
    assert timestamp(moment - timedelta(days=400)) == "2022-11-28T03:04:05Z"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        timestamp(datetime(2024, 1, 2, 3, 4, 5))
