"""Server metadata is read once a day, not before every login and refresh (issue: two GETs
before each refresh with a path issuer), and read again at once when an endpoint fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import RefreshError
from brokerauth.engine import failures
from brokerauth_futu import metadata
from brokerauth_futu.sandbox.server import FutuSandbox

QUOTE = "/v1/quote/snapshot"


def metadata_reads(sandbox: FutuSandbox) -> int:
    return sum(n for (method, path), n in sandbox.calls.items()
               if method == "GET" and path.startswith("/.well-known/"))


def refresh(session: Any, clock: Any) -> None:
    clock.advance(7200 + 1)  # past expiry: the next call refreshes
    assert session.get(QUOTE).ok


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    metadata._memory.clear()  # each test is a new process as far as the cache knows


def test_metadata_is_read_once_for_a_login_and_many_refreshes(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any
) -> None:
    session = open_futu(oauth_sandbox)
    assert session.get(QUOTE).ok
    first = metadata_reads(oauth_sandbox)
    assert first >= 1
    for _ in range(3):
        refresh(session, clock)
    assert metadata_reads(oauth_sandbox) == first


def test_another_process_uses_the_kept_copy(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any, futu_tokens: Path
) -> None:
    session = open_futu(oauth_sandbox)
    assert session.get(QUOTE).ok
    reads = metadata_reads(oauth_sandbox)
    metadata._memory.clear()  # a new process: only the file is left
    refresh(session, clock)
    assert metadata_reads(oauth_sandbox) == reads
    assert list((futu_tokens / ".brokerauth" / "@metadata").glob("*.json"))


def test_metadata_older_than_a_day_is_read_again(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any
) -> None:
    session = open_futu(oauth_sandbox)
    assert session.get(QUOTE).ok
    reads = metadata_reads(oauth_sandbox)
    clock.advance(metadata.MAX_AGE.total_seconds())
    refresh(session, clock)
    assert metadata_reads(oauth_sandbox) > reads


def test_a_failing_endpoint_makes_the_next_try_read_metadata_again(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any
) -> None:
    session = open_futu(oauth_sandbox)
    assert session.get(QUOTE).ok
    reads = metadata_reads(oauth_sandbox)
    clock.advance(7200 + 1)
    oauth_sandbox.token_failures.append(404)
    with pytest.raises(RefreshError):
        session.get(QUOTE)
    clock.advance(failures.backoff(1))
    assert session.get(QUOTE).ok
    assert metadata_reads(oauth_sandbox) > reads


def test_the_kept_copy_belongs_to_its_token_folder(tmp_path: Path) -> None:
    """Two profiles keeping their records apart share no metadata, in memory as on disk: an
    address once used by one server and then by another (a sandbox's port, reused) is not
    answered from the first one's copy."""
    from datetime import UTC, datetime

    from brokerauth.contract.tokens import TokenKey

    now, key, issuer = datetime.now(UTC), TokenKey("futu-test", "default"), "http://127.0.0.1:9"
    first = metadata.cached(issuer, lambda: {"authorization_endpoint": issuer + "/a"},
                            now=now, top=tmp_path / "one", key=key)
    second = metadata.cached(issuer, lambda: {"authorization_endpoint": issuer + "/b"},
                             now=now, top=tmp_path / "two", key=key)
    assert first["authorization_endpoint"].endswith("/a")
    assert second["authorization_endpoint"].endswith("/b")
