"""The plugin contract: every hook a brokerauth plugin may implement.

A plugin is any object registered under the entry-point group ``brokerauth`` (a module, or a
class the core instantiates once), whose functions are marked with :data:`hookimpl`::

    from brokerauth import hookimpl

    @hookimpl
    def describe_plugin():
        return PluginInfo(brokers=(...,), strategies=(...,))

How strategies are called
-------------------------
Strategies are chosen by name.  A profile names a broker; the plugin that declares that broker
in :func:`describe_plugin` supplies its default signer, flow and store, and the profile may
override each with a strategy of any installed plugin.  The core calls a strategy's hook on
the plugin that declared the strategy and on no other (and ``interpret_response`` on the
plugin that declared the broker), always through pluggy, so hook monitors see every call.
The strategy's name is the first argument: a plugin declaring several strategies of one kind
tells them apart by it, and never sees another plugin's names.  Names are unique per kind
across installed plugins (the core refuses a duplicate).  An implementation may declare only
the arguments it uses.

Errors
------
Raise the classes of :mod:`brokerauth.contract.errors`; anything else escaping a hook is wrapped in
a :class:`~brokerauth.contract.errors.PluginError` naming the plugin, with the original as
``__cause__``. Never put a secret (app secret, access or refresh token, code) in a message or a log
line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    # Named in annotations only: a plugin importing ``hookimpl`` does not pay for these.
    from collections.abc import Iterable, Mapping, Sequence
    from contextlib import AbstractContextManager
    from datetime import datetime

    from brokerauth.contract.errors import BrokerAuthError
    from brokerauth.contract.events import CredentialEvent
    from brokerauth.contract.flowcontext import FlowContext
    from brokerauth.contract.specs import CallBudget, PluginInfo
    from brokerauth.contract.tokens import Token, TokenKey
    from brokerauth.contract.verdicts import Verdict
    from brokerauth.contract.wire import Request, Response

PROJECT = "brokerauth"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def describe_plugin() -> PluginInfo:  # type: ignore[empty-body]
    """Say which brokers and strategies this plugin provides.

    Called once per plugin when it is loaded; must be cheap and do no I/O.

    :return: a :class:`~brokerauth.contract.specs.PluginInfo`.  Every strategy named by one of its
        brokers' defaults must be declared here or by another plugin.  A strategy declared here
        obliges the plugin to implement that kind's hooks: ``sign_request`` for a signer;
        ``acquire_token`` and ``refresh_token`` for a flow; ``load_token``, ``store_token``,
        ``delete_token`` and ``lock_token`` for a store.  Never ``None``: a plugin with nothing
        to declare returns an empty ``PluginInfo()`` (or omits this hook).
    :raises Exception: anything raised here makes the plugin fail to load, with the traceback
        kept and shown by ``brokerauth plugins``; other plugins are unaffected.
    """


@hookspec(firstresult=True)
def sign_request(
    signer: str,
    request: Request,
    settings: Any,
    token: Token | None,
    now: datetime,
    nonce: str,
) -> Mapping[str, str] | None:
    """Compute the headers that authenticate ``request``.

    Must be pure: no I/O, no clock reads, no randomness of its own. Everything varying comes in.

    :param signer: the strategy name chosen by the profile.
    :param request: the request exactly as it will be sent: ``body`` holds the bytes on the
        wire, ``params`` the raw query values in order, ``host`` the configured host with a
        non-default port.
    :param settings: the profile's structured broker settings (read only the attributes the
        strategy declared in ``StrategySpec.needs``).
    :param token: the current token to attach, or ``None`` when the flow uses none.
    :param now: the time to sign with (aware UTC, already corrected for learned clock skew).
    :param nonce: a fresh value with at least 128 random bits, unique per call.
    :return: the headers to add (the core never removes one); never ``None``.
    :raises ~brokerauth.contract.errors.ConfigError: a setting the signer needs is missing or
        invalid.
    """


@hookspec(firstresult=True)
def explain_signature(
    signer: str,
    request: Request,
    settings: Any,
    token: Token | None,
    now: datetime,
    nonce: str,
) -> Mapping[str, str] | None:
    """The steps ``sign_request`` takes for the same arguments, for ``brokerauth sign
    --explain``: named intermediate values in the order they are computed (the canonical
    request, the string to sign, the body's digest, ...), so a user can diff them against a
    broker's example or error.

    Optional: a signer without it explains nothing.  Pure, like ``sign_request``.  Never a
    secret in a value: no key, no token, no signature key material (the app key a request
    carries in clear is not a secret; the app secret is).

    :return: the steps, names to one-line texts, in order; ``None`` when the signer has
        nothing to explain.
    """


@hookspec(firstresult=True)
def acquire_token(flow: str, context: FlowContext) -> Token | None:
    """Obtain a token from nothing (or from ``context.stored``, if the flow can reuse it).

    May talk to the user through ``context.interaction`` (show a URL, a countdown) and to the
    broker through ``context.http``; waits with ``context.clock.sleep`` so tests never sleep.

    :return: the new token.  Return ``None`` when the flow needs no token at all (requests are
        signed without one).
    :raises ~brokerauth.contract.errors.LoginRequiredError: the user must act and cannot here.
    :raises ~brokerauth.contract.errors.VerificationTimeoutError: the user did not act in time.
    :raises ~brokerauth.contract.errors.BrokerError: the broker refused, with its code and message.
    """


@hookspec(firstresult=True)
def refresh_token(flow: str, context: FlowContext, token: Token) -> Token | None:
    """Exchange ``token`` (expiring or rejected) for a new generation without the user.

    Called with the cross-process lock held and after the store was re-read, so at most one
    caller per expiry reaches this hook.  A rotating server's new refresh token must be in
    the returned token; when the server returns none, keep ``token.refresh_token``.

    :return: the new token, or ``None`` when this flow cannot refresh (the core then raises
        :class:`~brokerauth.contract.errors.LoginRequiredError`).
    :raises ~brokerauth.contract.errors.LoginRequiredError: the refresh token was refused
        (``invalid_grant``) or has expired; carry a ``login_url`` when one can be built.
    :raises ~brokerauth.contract.errors.BrokerError: any other refusal (the core keeps the old
        token).
    """


@hookspec(firstresult=True)
def revoke_token(flow: str, context: FlowContext, token: Token) -> bool | None:
    """Tell the broker to revoke ``token`` (logout), where the broker offers revocation.

    Called before the token is deleted from the store; a failure here does not stop the
    deletion (the user asked to log out), it is reported as a warning.

    :return: ``True`` if the broker confirmed the revocation, ``False`` if this flow's broker
        has no revocation (the token then simply expires; a plugin may also leave this
        optional hook out).  Never ``None``.
    :raises ~brokerauth.contract.errors.BrokerError: the broker refused the revocation.
    """


@hookspec(firstresult=True)
def load_token(store: str, key: TokenKey, options: Any) -> Token | None:
    """Read the token stored under ``key``.

    :return: the token, or ``None`` when nothing is stored under ``key``.
    :raises ~brokerauth.contract.errors.CorruptStoreError: something is stored but unreadable;
        say which file or entry and how to remove it.
    :raises ~brokerauth.contract.errors.StoreError: the store refuses to be read (unsafe
        permissions, a symlink, an unreachable server).
    """


@hookspec(firstresult=True)
def store_token(store: str, key: TokenKey, token: Token, options: Any) -> None:
    """Persist ``token`` under ``key``, replacing what was there, atomically.

    A reader must see either the old or the new token, never a mix, even if the process dies
    mid-write.  Anything written that holds a secret must be readable by the user only.

    :return: ``None``.
    :raises ~brokerauth.contract.errors.StoreError: the token could not be stored; the old one is
        intact.
    """


@hookspec(firstresult=True)
def load_tokens(
    store: str, keys: Sequence[TokenKey], options: Any
) -> Mapping[TokenKey, Token | BrokerAuthError] | None:
    """The stored tokens of many ``keys`` at once, for the grant registry over a platform's
    users (``brokerauth users``, :func:`brokerauth.users`), where one ``load_token`` per user
    would cost one round trip each.

    Optional: without it, each key is loaded with ``load_token``.  The core asks for a few
    hundred keys at a time.

    :return: a mapping with each key that has a token; a key with nothing stored is absent;
        a key whose entry cannot be read maps to the error ``load_token`` would raise for it
        (so one damaged entry does not hide the others).  ``None`` only from a plugin whose
        store cannot load many at once (the core then loads each key).
    :raises ~brokerauth.contract.errors.StoreError: the store could not be read at all.
    """


@hookspec(firstresult=True)
def delete_token(store: str, key: TokenKey, options: Any) -> bool | None:
    """Remove what is stored under ``key`` (logout, or a way out of a corrupt store).

    :return: ``True`` if something was removed, ``False`` if nothing was there; never ``None``.
    :raises ~brokerauth.contract.errors.StoreError: it could not be removed.
    """


@hookspec(firstresult=True)
def list_tokens(store: str, profile: str, options: Any) -> Iterable[TokenKey] | None:
    """Every key stored for ``profile`` (each identity with a token), for the grant registry
    (``brokerauth users``, :func:`brokerauth.users`).

    Optional: a store without it cannot be listed, and the core says so.  Cheap per key (no
    token is decoded here); order does not matter; a key whose entry is unreadable is still
    listed (loading it then says what is wrong).

    :return: the keys, lazily if the store is large.  Never ``None`` from a store that
        implements it.
    :raises ~brokerauth.contract.errors.StoreError: the store could not be listed.
    """


@hookspec(firstresult=True)
def lock_token(
    store: str, key: TokenKey, options: Any, timeout: float
) -> AbstractContextManager[bool] | None:
    """A lock on ``key`` shared by every process using this store: single-flight refresh.

    The core enters the returned context manager around "re-read, refresh if still needed,
    store".  Entering yields ``True`` once the lock is held, or ``False`` if ``timeout`` seconds
    (``0``: do not wait) passed first.  A lock whose holder dies must be free again within a
    second (file locks die with their process; a server lock needs a short TTL).

    :return: the context manager.  A store that cannot lock across processes returns one that
        only locks within the process, and says so in its description.  Never ``None``.
    """


@hookspec(firstresult=True)
def take_call(
    store: str, key: TokenKey, options: Any, budget: CallBudget, now: float
) -> float | None:
    """Count one token-endpoint call against ``budget``, shared by every process using this
    store (see :mod:`brokerauth.toolkit.budget`).

    ``key`` is the user's for a per-user budget, else the profile's with identity
    :data:`brokerauth.toolkit.budget.APP`; ``now`` is a Unix time.  Apply
    :func:`brokerauth.toolkit.budget.take` to the kept call times atomically (under a lock or in one
    server-side script) and keep what it returns.

    :return: ``0.0`` when the call is allowed (and counted), else the seconds until it would
        be (not counted); never ``None``.  A store that does not implement this optional hook
        gets a count kept within each process.
    """


@hookspec(firstresult=True)
def interpret_response(
    broker: str, settings: Any, request: Request, response: Response
) -> Verdict | None:
    """Judge an answer in the broker's own dialect: fine, token invalid, clock skew, revoked,
    or an error with the broker's code and message.

    Called on the plugin that declares ``broker``, for every answer that is not a 2xx (a 2xx
    is fine, by definition) and is not a redirect the flow follows itself, from sessions, the
    token flows' HTTP client and the adapters alike.  The answer's text is the server's: put
    its message in a verdict through :func:`brokerauth.contract.verdicts.error_fields`, which
    masks every secret the request carried.

    :return: a :class:`~brokerauth.contract.verdicts.Verdict`, or ``None`` to let the core judge by
        RFC 6750 / RFC 6749 rules (a 401 with ``error="invalid_token"`` means refresh once).
        Its ``hint`` says what the person should do when the broker's answer tells (a refused
        signature: which settings to check); ``brokerauth request`` shows it.
    """


@hookspec(firstresult=True)
def notify(notifier: str, event: CredentialEvent, options: Any) -> bool | None:
    """Deliver ``event`` through the profile's notifier (``notify = { name = ..., ... }``).

    Called once per event (the core has already made sure no other process delivers it);
    bounded in time (a notifier must not hang a session: a few seconds at most).

    :return: ``True`` when delivered, ``False`` when it could not be (the core logs that, with
        no secret, and carries on: a notification never breaks a request).  Never ``None``.
    """
