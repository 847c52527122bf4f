"""Token-endpoint budgets: a broker's limit on its token endpoints, kept across processes.

A broker plugin declares its limits (:class:`~brokerauth.contract.specs.CallBudget`: at most
``calls`` in any ``per`` seconds, counted per app or per user); the core counts every request
a token flow sends against them in the profile's token store (the ``take_call`` hook), so
every process sharing the store shares the count.  A call the budget does not allow yet waits
for its turn when that is within the profile's ``lock_timeout``, and otherwise fails at once
with :class:`~brokerauth.contract.errors.RateLimitError` saying how long until the next allowed
call: the broker never sees more than its limit, however many processes start.

The counting rule is one sliding window, :func:`take`; stores keep its list of call times.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from brokerauth.contract.specs import CallBudget
from brokerauth.contract.tokens import TokenKey

#: The identity a budget counted per app is kept under (not a name a user can give:
#: every store encodes ``@`` in an identity).
APP = "@app"


def take(times: Sequence[float], now: float, budget: CallBudget) -> tuple[list[float], float]:
    """``(times to keep, wait)``: with ``wait == 0`` the call is allowed and ``now`` is among
    the times kept; otherwise ``wait`` seconds until the oldest call leaves the window."""
    start = now - budget.per
    kept = sorted(t for t in times if start < t <= now + budget.per)
    if len(kept) < budget.calls:
        kept.append(now)
        return kept, 0.0
    return kept, max(kept[-budget.calls] + budget.per - now, 0.001)


def budget_key(key: TokenKey, budget: CallBudget) -> TokenKey:
    """The key a budget is counted under: the user's, or the profile's for a per-app limit."""
    return key if budget.scope == "identity" else TokenKey(key.profile, APP)


def encode(times: Sequence[float]) -> bytes:
    import json  # not at start-up: only a token flow counts calls

    return json.dumps({"calls": list(times)}).encode("ascii")


def decode(data: bytes | None) -> list[float]:
    """The call times of a kept record; a damaged one counts as empty (it only paces calls)."""
    if not data:
        return []
    import json

    try:
        calls = json.loads(data).get("calls", [])
    except (ValueError, AttributeError, UnicodeDecodeError):
        return []
    if not isinstance(calls, list):
        return []
    return [float(t) for t in calls if isinstance(t, int | float) and not isinstance(t, bool)]


class MemoryBudgets:
    """Budgets kept in the process: for the memory store, and for a store whose plugin does
    not count calls (then the limit holds within each process only)."""

    def __init__(self) -> None:
        self._times: dict[tuple[TokenKey, str], list[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: TokenKey, budget: CallBudget, now: float) -> float:
        with self._lock:
            slot = (budget_key(key, budget), budget.name)
            kept, wait = take(self._times.get(slot, ()), now, budget)
            self._times[slot] = kept
            return wait


#: The count for stores that keep none themselves.
PROCESS = MemoryBudgets()
