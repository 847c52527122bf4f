"""Keeping a token usable: single-flight refresh with advisory and mandatory windows.

The design follows botocore's ``RefreshableCredentials``:

* before the **advisory** point the token is used as is: no lock, one clock read;
* inside the advisory window one caller refreshes while the others keep using the still-valid
  token, and a failed refresh is logged, not raised;
* inside the **mandatory** window every caller waits for the refresh, or gets a typed error;
  an expired token is never handed out.

A refresh takes the thread lock, then the store's cross-process lock, re-reads the store (another
process may already have refreshed) and only then calls the flow — so one expiry causes one
refresh across every thread and process sharing the store.

A store's lock may offer ``stop_when(check)`` (see :class:`StoppableLock`): a caller waiting
for another process's refresh then re-reads the store each time the lock is released (or at
each of the lock's polls), and takes the new token as soon as it is there instead of queueing
for the lock only to read it: a crowd of processes is served together when the refresh ends,
not one lock hand-over after another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from brokerauth.contract.clock import Clock
from brokerauth.contract.errors import (
    BrokerAuthError,
    IssuedElsewhereError,
    LoginRequiredError,
    RefreshError,
    ResponseError,
    StaleTokenError,
    TokenError,
)
from brokerauth.contract.interaction import logger
from brokerauth.contract.tokens import Token
from brokerauth.engine import failures
from brokerauth.toolkit.headers import visible_ascii

LOGGER = "brokerauth.engine.refresh"

_MAX_TOKEN_LENGTH = 16 * 1024
#: After a failed early refresh, how long callers use the current token before trying again.
ADVISORY_RETRY = timedelta(seconds=30)


class NotAtHand(Exception):
    """The current token cannot be had without waiting (a lock, the store, a refresh)."""


class TokenSource(Protocol):
    """What the manager needs from a profile's flow and store (see
    :mod:`brokerauth.engine.binding`)."""

    label: str

    @property
    def login_command(self) -> str:
        """The command a person runs to log this profile and identity in again."""

    def load(self) -> Token | None: ...

    def save(self, token: Token) -> None: ...

    def lock(self, timeout: float) -> AbstractContextManager[bool]: ...

    def acquire(self, stored: Token | None) -> Token | None: ...

    def refresh(self, token: Token) -> Token | None: ...

    # Optional: ``notice(kind, token, message)``, told of a refresh that happened, failed, or
    # ended in the need of a login (see :mod:`brokerauth.engine.notices`); called with no
    # lock held.


@runtime_checkable
class StoppableLock(Protocol):
    """A lock (what ``TokenSource.lock`` returns) whose wait can end early: entering yields
    ``False`` before its timeout as soon as ``check()``, called after each failed attempt at
    the lock, is true.  Optional: a lock without it is waited for until held or timed out."""

    def stop_when(self, check: Callable[[], bool]) -> None: ...


#: How coarsely the last successful use of a credential with an idle limit is recorded in the
#: store: at most one write per this long, whatever the request rate.
USE_RECORDED_EVERY = timedelta(hours=1)


@attrs.frozen
class _Flight:
    """A refresh of ``state``'s token under way in this process, by the thread holding the
    manager's lock; ``landed`` is set once its outcome is the manager's state (before any
    notice is given)."""

    state: _State
    landed: threading.Event = attrs.field(factory=threading.Event)


@attrs.frozen
class _State:
    """A token with its refresh points, replaced as a whole so a reader never sees a mix."""

    token: Token
    advisory_at: datetime | None
    mandatory_at: datetime | None


_TOKENLESS = object()

#: How long a wait for another process's lock goes untold: a refresh holds it for
#: milliseconds, so a wait this long is a login or a stuck process, which the person should
#: hear of rather than watch a silent terminal.
LOCK_NOTICE_AFTER = timedelta(seconds=2)


def _same_token(current: object, seen: _State) -> bool:
    # A failed refresh records itself on the token: the same token, with a record.
    return isinstance(current, _State) and current.token.access_token == seen.token.access_token


def validate_token(token: Token, label: str) -> Token:
    """Refuse a token no broker would issue, before it can reach the store."""
    for name in ("access_token", "refresh_token"):
        value = getattr(token, name)
        if value is None and name == "refresh_token":
            continue
        if (
            not isinstance(value, str)
            or len(value) > _MAX_TOKEN_LENGTH
            # What a header can carry: a stored "令牌" would fail every request, untyped, until
            # a logout.
            or not visible_ascii(value)
        ):
            raise ResponseError(
                f"{label}: the broker's answer holds an unusable {name.replace('_', ' ')}; "
                "nothing was stored, the previous token is kept"
            )
    return token


def token_state(
    token: Token | None, now: datetime, *, advisory: float, mandatory: float,
    needed: bool = True,
) -> tuple[str, float | None]:
    """``(state, seconds left)`` for display: ``no token needed`` (no token, and the flow
    uses none: ``needed`` is false), ``needs login``, ``expired`` (a refresh token can renew
    it), ``refreshing soon`` (inside the advisory window), or ``fresh``."""
    if token is None:
        return ("needs login" if needed else "no token needed"), None
    failure = failures.failure_of(token)
    left = token.seconds_left(now)
    if failure is not None and failure.kind == failures.DEAD:
        return "needs login", left  # the broker refused it: only a login helps
    if left is None:
        return "fresh", None
    if left <= 0:
        from brokerauth.engine.horizons import horizon_of  # only for a token past its expiry

        ends = horizon_of(token, now)
        # Renewable without a person: by its refresh token, or (an idle limit) by a check
        # while its last use is recent enough.
        renewable = ends.works_until is None or ends.works_until > now
        return ("expired" if renewable else "needs login"), left
    start = token.issued_at or now
    lifetime = (token.expires_at - start).total_seconds() if token.expires_at else 0.0
    if left <= min(advisory, lifetime / 2) or left <= mandatory:
        return "refreshing soon", left
    return "fresh", left


class TokenManager:
    """The current token of one profile and identity, refreshed as described above."""

    def __init__(
        self,
        source: TokenSource,
        clock: Clock,
        *,
        advisory: float = 300.0,
        mandatory: float = 60.0,
        lock_timeout: float = 30.0,
        tell: Callable[[str], None] | None = None,
    ) -> None:
        """``tell``: how a person is told of a long wait for another process's lock (the
        profile's interaction says it)."""
        if mandatory > advisory:
            raise ValueError("the mandatory window must not be longer than the advisory window")
        self._source = source
        self._clock = clock
        self._advisory = timedelta(seconds=advisory)
        self._mandatory = timedelta(seconds=mandatory)
        self._lock_timeout = lock_timeout
        self._tell = tell
        self._lock = threading.Lock()
        self._state: _State | object | None = None
        #: The mandatory refresh this process's lock holder is doing, if any: the other
        #: threads that need it wait for it to land, all woken at once, rather than taking
        #: the lock one after another only to find the new token.
        self._flight: _Flight | None = None
        self._advisory_quiet_until: datetime | None = None
        #: Refreshes this manager performed (not adopted from another process).
        self.refreshes = 0
        #: Notices to give once the locks are released: (kind, token, message).
        self._notices: list[tuple[str, Token, str]] = []

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The thread lock, waited for at most ``lock_timeout``: one thread refreshing slowly
        (a token endpoint that trickles, a login) must not hold up every other thread."""
        if not self._lock.acquire(timeout=min(self._lock_timeout, threading.TIMEOUT_MAX)):
            raise self._lock_timed_out()
        try:
            yield
        finally:
            self._land()  # a flight that ended without reaching _refresh's end (an error)
            self._lock.release()

    def _lock_timed_out(self) -> RefreshError:
        return RefreshError(
            f"{self._source.label}: another thread of this process has been refreshing "
            f"(or logging in) for {self._lock_timeout:g} s",
            hint="the broker's token endpoint is slow: try again, or raise the profile's "
            "lock_timeout",
        )

    def _logged_out(self) -> LoginRequiredError:
        return LoginRequiredError(
            f"{self._source.label}: logged out: the token is no longer in the store, so the "
            "copy this process held is not refreshed",
            hint=f"run `{self._source.login_command}` to use this profile again",
        )

    # -- reading ---------------------------------------------------------------------------
    def current(self) -> Token | None:
        """The token to sign with now, or ``None`` when the profile's flow uses none."""
        try:
            return self.current_nowait()
        except NotAtHand:
            return self._slow(self._state)

    def current_nowait(self) -> Token | None:
        """What :meth:`current` returns when it needs no lock, store or refresh (a fresh
        token held in memory, or ``None`` for a flow that uses none), for a caller that must
        not wait (an event loop); else :class:`NotAtHand`, and nothing was done.  The state
        is read once: it is replaced whole, so what is read is consistent."""
        state = self._state
        if isinstance(state, _State):
            if state.advisory_at is None or self._clock.now() < state.advisory_at:
                return state.token
        elif state is _TOKENLESS:
            return None
        raise NotAtHand

    def peek(self) -> Token | None:
        """The token held in memory or stored, without refreshing or acquiring."""
        state = self._state
        if isinstance(state, _State):
            return state.token
        return self._source.load()

    def use_due(self) -> bool:
        """Whether :meth:`note_use` would record a use now (a store write): for a caller that
        runs it elsewhere (an event loop, in a thread) only when it has something to do."""
        return self._use_due(self._state)

    def _use_due(self, state: _State | object | None) -> bool:
        if not isinstance(state, _State) or state.token.idle_timeout is None:
            return False
        last = state.token.last_used_at
        return last is None or self._clock.now() - last >= USE_RECORDED_EVERY

    def note_use(self) -> None:
        """A request with the current token succeeded.  For a credential with an idle limit,
        the time is recorded in the store, at most every :data:`USE_RECORDED_EVERY` and never
        waiting for a lock: a busy lock means someone else is writing it anyway."""
        state = self._state
        if not self._use_due(state):
            return
        assert isinstance(state, _State)
        now = self._clock.now()
        if not self._lock.acquire(blocking=False):
            return
        try:
            with self._source.lock(0) as held:
                if not held or self._state is not state:
                    return
                stored = self._source.load()
                if stored is None or stored.access_token != state.token.access_token:
                    return  # refreshed meanwhile: the new token is the one to record on
                if stored.last_used_at is None or stored.last_used_at < now:
                    stored = stored.replace(last_used_at=now)
                    self._source.save(stored)
                self._state = _State(stored, state.advisory_at, state.mandatory_at)
        except BrokerAuthError as exc:
            logger(LOGGER).warning("%s: could not record the credential's last use: %s",
                                   self._source.label, exc.message)
        finally:
            self._lock.release()

    def _slow(self, state: _State | object | None) -> Token | None:
        if not isinstance(state, _State):
            with self._locked():
                if self._state is None:
                    self._obtain(force=False)
                state = self._state
            if not isinstance(state, _State):
                return None
        now = self._clock.now()
        if state.advisory_at is None or now < state.advisory_at:
            return state.token
        assert state.mandatory_at is not None
        if now < state.mandatory_at:
            quiet = self._advisory_quiet_until
            if (quiet is None or now >= quiet) and self._lock.acquire(blocking=False):
                try:
                    if self._state is state:
                        self._refresh(state, wait=False, force=False)
                        if _same_token(self._state, state):
                            # The early refresh failed or was deferred: let the next try wait,
                            # so a failing server is not asked on every request.
                            self._advisory_quiet_until = now + ADVISORY_RETRY
                finally:
                    self._lock.release()
            return self._current_or_raise()
        flight = self._flight
        # Another thread of this process refreshing this very token: its outcome is ours too,
        # read as soon as it lands (the notices it gives next, which may take seconds, are
        # not waited for).
        if (flight is not None and flight.state is state
                and not flight.landed.wait(min(self._lock_timeout, threading.TIMEOUT_MAX))):
            raise self._lock_timed_out()
        if self._state is not state:
            # Refreshed since this thread read the token (a flight lands after the new state
            # is set): nothing to wait for.
            return self._current_or_raise()
        with self._locked():
            if self._state is state:
                self._flight = _Flight(state)
                self._refresh(state, wait=True, force=False)
        return self._current_or_raise()

    def _land(self) -> None:
        """The flight, if any, has its outcome in ``_state``: wake its waiters."""
        flight, self._flight = self._flight, None
        if flight is not None:
            flight.landed.set()

    def _current_or_raise(self) -> Token | None:
        state = self._state
        if state is _TOKENLESS:
            return None
        assert isinstance(state, _State)
        if state.token.expired(self._clock.now()):
            failure = failures.failure_of(state.token)
            if failure is not None:
                raise failure.error(self._source.label, self._source.login_command)
            raise LoginRequiredError(
                f"{self._source.label}: the token has expired and could not be refreshed",
                hint=f"run `{self._source.login_command}`",
            )
        return state.token

    # -- changing --------------------------------------------------------------------------
    def invalidate(self, seen: Token) -> None:
        """The broker rejected ``seen``: refresh once, unless another caller already did."""
        with self._locked():
            state = self._state
            if not isinstance(state, _State) or state.token.access_token != seen.access_token:
                return
            self._refresh(state, wait=True, force=True)

    def revoked(self, message: str, hint: str | None = None) -> bool:
        """The broker refused the current token for good (the user withdrew the grant).

        If the store holds another token by now (a login made elsewhere: ``brokerauth login``,
        a platform's ``complete``), it is adopted and ``True`` returned: the request may be
        sent again, and a running program recovers without a restart.  Otherwise the refusal
        is recorded with the token, as a refused refresh is, so ``status``, ``users`` and
        ``keepalive`` know a person must act, and the notifier is told once."""
        try:
            with self._locked():
                state = self._state
                if not isinstance(state, _State):
                    return False
                seen = state.token
                with self._source.lock(self._lock_timeout) as held:
                    stored = self._source.load()
                    if stored is not None and stored.access_token != seen.access_token:
                        self._set(stored)
                        return True
                    failure = failures.failure_of(stored) if stored is not None else None
                    if held and stored is not None and (failure is None
                                                        or failure.kind != failures.DEAD):
                        self._record_failure(stored, LoginRequiredError(message, hint=hint))
                return False
        finally:
            self._give_notices()

    def login(self, *, replace_elsewhere: bool = False) -> Token | None:
        """Obtain a token from the flow even if one is stored (``brokerauth login``).

        A stored token issued for another origin than the profile's now is replaced only
        with ``replace_elsewhere``: it stays valid where it was issued, and once replaced no
        copy is left to revoke it with.

        :raises ~brokerauth.contract.errors.IssuedElsewhereError: such a token is stored and
            ``replace_elsewhere`` is false; nothing was sent."""
        with self._locked():
            self._obtain(force=True, replace_elsewhere=replace_elsewhere)
        return self._current_or_raise()

    def refresh_now(self) -> Token | None:
        """Refresh at once, whatever the windows say (``brokerauth refresh``)."""
        with self._locked():
            state = self._state
            if not isinstance(state, _State):
                self._obtain(force=False)
                state = self._state
            if isinstance(state, _State):
                self._refresh(state, wait=True, force=True, explicit=True)
        return self._current_or_raise()

    def forget(self) -> None:
        """Drop the in-memory token (after a logout); the next use reads the store again."""
        with self._locked():
            self._state = None

    def _set(self, token: Token) -> None:
        if token.expires_at is None:
            self._state = _State(token, None, None)
            return
        start = token.issued_at or self._clock.now()
        lifetime = max(token.expires_at - start, timedelta(0))
        # Short-lived tokens get proportionally shorter windows, so a fresh token is never
        # born inside its own refresh window (which would refresh on every request).
        advisory = min(self._advisory, lifetime / 2)
        mandatory = min(self._mandatory, lifetime / 4)
        self._state = _State(token, token.expires_at - advisory, token.expires_at - mandatory)

    def _obtain(self, *, force: bool, replace_elsewhere: bool = False) -> None:
        """Load the stored token, or run the flow under the store lock (caller holds _lock)."""
        if not force:
            stored = self._source.load()
            if stored is not None:
                self._set(stored)
                return
        lock = self._source.lock(self._lock_timeout)
        adopted: list[Token] = []
        if isinstance(lock, StoppableLock):
            lock.stop_when(self._telling(
                (lambda: False) if force else self._served_check(adopted)))
        with lock as held:
            if not held:
                if adopted:  # another process's login stored it while we waited
                    self._set(adopted[0])
                    return
                raise RefreshError(
                    f"{self._source.label}: another process holds the token lock "
                    f"(waited {self._lock_timeout:.0f} s)",
                    hint="wait for the other login to finish, then try again",
                )
            try:
                stored = self._source.load()
            except IssuedElsewhereError as exc:
                if not (force and replace_elsewhere):
                    raise
                # A login for where the profile points now, the replacement confirmed by the
                # person: the flow never sees the token issued elsewhere.
                self._say(f"{exc.message}; this login replaces it (it is not revoked there)")
                stored = None
            if stored is not None and not force:
                self._set(stored)
                return
            token = self._source.acquire(stored)
            if token is None:
                self._state = _TOKENLESS
                return
            token = failures.cleared(validate_token(token, self._source.label))
            self._source.save(token)
            self._set(token)

    def _refresh(
        self, state: _State, *, wait: bool, force: bool, explicit: bool = False
    ) -> None:
        """Refresh ``state``'s token (caller holds _lock); raise only when ``wait``.

        A failure recorded with the stored token by another caller is that caller's outcome
        for everyone: it is adopted, not tried again, until its back-off has passed (never, for
        a dead refresh token) — unless ``explicit``, a person asking for a refresh now."""
        seen = state.token
        try:
            lock = self._source.lock(self._lock_timeout if wait else 0)
            adopted: list[Token] = []
            if wait and isinstance(lock, StoppableLock):
                lock.stop_when(self._telling(self._served_check(adopted, seen, force)))
            with lock as held:
                if not held:
                    if adopted:
                        # Another process refreshed while we waited: its token, without
                        # taking the lock only to read it.
                        self._set(adopted[0])
                        return
                    if wait:
                        raise RefreshError(
                            f"{self._source.label}: another process has held the refresh lock "
                            f"for {self._lock_timeout:.0f} s",
                            hint="check for a stuck process using the same token store",
                        )
                    return
                stored = self._source.load()
                if (
                    stored is not None
                    and stored.access_token != seen.access_token
                    and not stored.expired(self._clock.now(), self._window(stored, force))
                ):
                    # Another process refreshed while we waited for the lock.
                    self._set(stored)
                    return
                if stored is None:
                    # Logged out (by another process, or another session here) since this
                    # token was read: the store is the record, and the copy held here must
                    # not bring the grant back through a refresh.
                    self._state = None
                    raise self._logged_out()
                base = stored
                failure = failures.failure_of(base)
                if (
                    failure is not None and not explicit
                    and not failure.allows_retry(self._clock.now())
                ):
                    self._set_failed(base)
                    if wait:
                        raise failure.error(self._source.label, self._source.login_command)
                    logger(LOGGER).debug("%s: the last refresh failed; not trying again yet",
                                         self._source.label)
                    return
                try:
                    token, refreshed = self._refresh_with_reread(base)
                except BrokerAuthError as exc:
                    self._record_failure(base, exc)
                    raise
                if refreshed:
                    try:
                        self._source.save(token)
                    except StaleTokenError:
                        # Our lease lapsed mid-refresh and a newer holder stored its token:
                        # that one wins, and is the one to use.
                        newer = self._source.load()
                        if newer is None:
                            raise
                        token = newer
                    else:
                        self._notices.append(("refreshed", token, ""))
                    self.refreshes += 1
                self._set(token)
        except BrokerAuthError as exc:
            if wait or self._state is None:  # logged out: no token left to go on with
                if isinstance(exc, TokenError):
                    raise
                raise RefreshError(
                    f"{self._source.label}: refreshing the token failed: {exc.message}",
                    hint=exc.hint,
                ) from exc
            # Advisory window: the current token is still valid, so the failure is only news.
            logger(LOGGER).warning("%s: early refresh failed, using the current token: %s",
                        self._source.label, exc.message)
        finally:
            self._land()
            self._give_notices()

    def _served_check(
        self, adopted: list[Token], seen: Token | None = None, force: bool = False
    ) -> Callable[[], bool]:
        """For a lock's ``stop_when``: whether the store holds the token the wait is for (kept
        in ``adopted``), as the read under the lock would find it: a usable one other than
        ``seen`` for a refresh, any for a first token (no ``seen``)."""

        def check() -> bool:
            try:
                stored = self._source.load()
            except BrokerAuthError:
                return False  # the attempts at the lock tell whether the store is there
            if stored is None or (seen is not None and (
                stored.access_token == seen.access_token
                or stored.expired(self._clock.now(), self._window(stored, force))
            )):
                return False
            adopted.append(stored)
            return True

        return check

    def _telling(self, check: Callable[[], bool]) -> Callable[[], bool]:
        """``check``, which also tells the person, once, when the wait for the lock has gone
        on for :data:`LOCK_NOTICE_AFTER` with the wait not over."""
        if self._tell is None:
            return check
        since = self._clock.now()
        told = False

        def check_and_tell() -> bool:
            nonlocal told
            if check():
                return True
            waited = self._clock.now() - since
            if not told and waited >= LOCK_NOTICE_AFTER:
                told = True
                left = max(self._lock_timeout - waited.total_seconds(), 0.0)
                self._say(f"{self._source.label}: the token lock is held elsewhere (a refresh "
                          "or a login under way in another process or session, or a stuck "
                          f"process); waiting up to {left:.0f} s more for it")
            return False

        return check_and_tell

    def _say(self, message: str) -> None:
        """Tell the person ``message``, if someone is told anything (``tell``); a notice
        that cannot be told (a closed terminal) fails nothing."""
        if self._tell is None:
            return
        try:
            self._tell(message)
        except Exception as exc:
            logger(LOGGER).debug("%s: telling the person failed: %s", self._source.label,
                                 type(exc).__name__)

    def _give_notices(self) -> None:
        """Tell the source what happened, now that no store lock is held: a notifier may take
        seconds, and no other process should wait for it."""
        notices, self._notices = self._notices, []
        notice = getattr(self._source, "notice", None)
        if notice is None:
            return
        for kind, token, message in notices:
            try:
                notice(kind, token, message)
            except Exception as exc:  # a notification never breaks a request
                logger(LOGGER).warning("%s: a %s notice failed: %s", self._source.label, kind,
                                       type(exc).__name__)

    def _record_failure(self, token: Token, exc: BrokerAuthError) -> None:
        """Keep ``exc`` with ``token`` in the store and here, for every caller to share."""
        before = failures.failure_of(token)
        failed = failures.record(token, exc, self._clock.now())
        # Recorded by the one caller that tried, everyone else adopting the record; and told
        # only when the outcome changes (the first failure in a row, or the grant found
        # dead), not on every retry after a back-off nor on a person's retry of a dead one:
        # one outage is one notice however many processes share the store.
        after = failures.failure_of(failed)
        if after is not None and (before is None or before.kind != after.kind):
            kind = "login_needed" if after.kind == failures.DEAD else "refresh_failed"
            self._notices.append((kind, failed, exc.message))
        try:
            self._source.save(failed)
        except BrokerAuthError as problem:
            # This process still shares the outcome among its threads.
            logger(LOGGER).warning("%s: could not record the failed refresh in the store: %s",
                                   self._source.label, problem.message)
        self._set_failed(failed)

    def _set_failed(self, token: Token) -> None:
        """Hold ``token``, which carries a failure record, keeping the refresh points of the
        token it is: a token without ``issued_at`` would otherwise get its windows measured
        from now, and look fresh again."""
        state = self._state
        if isinstance(state, _State) and state.token.access_token == token.access_token:
            self._state = _State(token, state.advisory_at, state.mandatory_at)
        else:
            self._set(token)

    def _window(self, token: Token, force: bool) -> timedelta:
        if force:
            return timedelta(0)
        if token.expires_at is None:
            return timedelta(0)
        start = token.issued_at or self._clock.now()
        return min(self._advisory, max(token.expires_at - start, timedelta(0)) / 2)

    def _refresh_with_reread(self, base: Token) -> tuple[Token, bool]:
        """The next token, and whether it is new (``False``: adopted from the store)."""
        try:
            token = self._source.refresh(base)
        except LoginRequiredError:
            # The refresh token was refused: a process outside our lock (another tool, another
            # store) may have rotated it. Re-read once; refresh again only with a new one.
            again = self._source.load()
            if again is None or again.refresh_token == base.refresh_token:
                raise
            if not again.expired(self._clock.now(), self._window(again, False)):
                return again, False
            token = self._source.refresh(again)
        if token is None:
            raise LoginRequiredError(
                f"{self._source.label}: the token cannot be refreshed without you",
                hint=f"run `{self._source.login_command}`",
            )
        return failures.cleared(validate_token(token, self._source.label)), True
