"""The sliding window behind token-endpoint budgets, and where the stores keep its count."""

from __future__ import annotations

from pathlib import Path

from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.builtin.memorystore import MemoryStore
from brokerauth.contract.specs import CallBudget
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit import budget
from hypothesis import given
from hypothesis import strategies as st

TEN_PER_30 = CallBudget("token", 10, 30.0)
PER_USER = CallBudget("token", 2, 60.0, "identity")


def test_ten_calls_pass_then_the_eleventh_waits_for_the_first_to_leave() -> None:
    times: list[float] = []
    for i in range(10):
        times, wait = budget.take(times, 100.0 + i, TEN_PER_30)
        assert wait == 0
    times, wait = budget.take(times, 110.0, TEN_PER_30)
    assert wait == 20.0  # the call at 100 leaves the window at 130
    assert len(times) == 10  # a refused call is not counted
    times, wait = budget.take(times, 130.0, TEN_PER_30)
    assert wait == 0


def test_a_slow_caller_never_waits() -> None:
    times: list[float] = []
    for i in range(40):
        times, wait = budget.take(times, i * 3.0, TEN_PER_30)
        assert wait == 0


@given(st.lists(st.floats(min_value=0, max_value=300, allow_nan=False), max_size=60))
def test_no_window_ever_holds_more_than_the_limit(moments: list[float]) -> None:
    times: list[float] = []
    allowed: list[float] = []
    for now in sorted(moments):
        times, wait = budget.take(times, now, TEN_PER_30)
        if wait == 0:
            allowed.append(now)
        else:
            assert 0 < wait <= TEN_PER_30.per
    for at in allowed:
        assert sum(1 for t in allowed if at - TEN_PER_30.per < t <= at) <= TEN_PER_30.calls


def test_a_damaged_record_counts_as_empty() -> None:
    assert budget.decode(b"not json") == []
    assert budget.decode(b'{"calls": [1, "x", true, 2.5]}') == [1.0, 2.5]


def test_file_store_keeps_one_count_per_profile_or_per_user(tmp_path: Path) -> None:
    options = FileStoreOptions(path=str(tmp_path))
    app = budget.budget_key(TokenKey("p", "alice"), TEN_PER_30)
    assert app == budget.budget_key(TokenKey("p", "bob"), TEN_PER_30)
    for _ in range(10):
        assert filestore.take_call(app, TEN_PER_30, 1000.0, options) == 0
    assert filestore.take_call(app, TEN_PER_30, 1001.0, options) > 0
    alice = budget.budget_key(TokenKey("p", "alice"), PER_USER)
    bob = budget.budget_key(TokenKey("p", "bob"), PER_USER)
    for key in (alice, bob):
        assert filestore.take_call(key, PER_USER, 1000.0, options) == 0
        assert filestore.take_call(key, PER_USER, 1000.0, options) == 0
        assert filestore.take_call(key, PER_USER, 1000.0, options) == 60.0
    names = sorted(p.name for p in (tmp_path / "p").iterdir() if not p.name.endswith(".lock"))
    assert names == ["@budget-token-alice.json", "@budget-token-bob.json", "@budget-token.json"]
    assert all((tmp_path / "p" / n).stat().st_mode & 0o777 == 0o600 for n in names)


def test_memory_store_counts_in_the_process() -> None:
    store = MemoryStore()
    key = budget.budget_key(TokenKey("p"), TEN_PER_30)
    assert [store.take_call(key, TEN_PER_30, 5.0) for _ in range(11)][-1] == 30.0
