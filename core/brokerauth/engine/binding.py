"""One resolved profile bound to its plugins: builds, signs and sends requests, and gives the
token manager its flow and store.

This is where strategy names become calls; the session and the token manager never touch
pluggy or a plugin directly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

from brokerauth.contract.clock import Clock
from brokerauth.contract.commands import command, user_option
from brokerauth.contract.errors import (
    BrokerAuthError,
    ConfigError,
    ProfileError,
    SecretUnavailableError,
)
from brokerauth.contract.interaction import Interaction, logger
from brokerauth.contract.tokens import ISSUED_FOR, Token, TokenKey
from brokerauth.contract.wire import Request, Response, netloc, normalize_params
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.resolve import ResolvedProfile
from brokerauth.engine.transport import TOKEN_RESPONSE_LIMIT, Transport
from brokerauth.toolkit.secrets import Secret

if TYPE_CHECKING:
    from brokerauth.contract.flowcontext import FlowContext
    from brokerauth.contract.verdicts import Verdict
    from brokerauth.engine.origins import Origins

LOGGER = "brokerauth.engine.binding"


def new_nonce() -> str:
    """128 random bits from the OS: safe across forks, unlike a seeded generator.

    ``os.urandom(16).hex()`` is what ``secrets.token_hex(16)`` returns, without importing
    ``secrets`` (and ``random``) at start-up."""
    return os.urandom(16).hex()


def encode_body(
    json: Any, data: Mapping[str, Any] | bytes | str | None
) -> tuple[bytes | None, str | None]:
    """The exact bytes to send and their content type. JSON is compact and keeps non-ASCII
    characters, as broker SDKs serialise it, so a signature over it matches theirs."""
    if json is not None and data is not None:
        raise ValueError("give json= or data=, not both")
    if json is not None:
        return _json_encoder()(json), "application/json"
    if data is None:
        return None, None
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, str):
        return data.encode("utf-8"), None
    return urlencode(list(normalize_params(data))).encode("ascii"), (
        "application/x-www-form-urlencoded"
    )


#: The largest clock offset a server's ``Date`` is believed for: a machine whose clock is
#: further off is told to set it.
MAX_SKEW = timedelta(minutes=10)


@lru_cache(maxsize=1)
def _json_encoder() -> Callable[[Any], bytes]:
    """The encoder of JSON bodies, made once (json.dumps with options makes an encoder per
    call), and not at start-up: a command without a JSON body never needs json.

    With orjson installed (the ``orjson`` extra), it encodes, at a tenth of json's time, every
    body it writes as json would mean it (numbers may be written another way: ``0.00001``
    for json's ``1e-05``); json itself writes the rest, so a body means the same with or
    without the extra.  Two types json refuses, orjson writes: a UUID (as its text) and an
    enum member (as its value).

    * a value orjson refuses (an integer past 64 bits, a key that is not text, a datetime,
      a dataclass, a subclass of a built-in type, nesting deeper than 254) goes to json,
      which encodes it or raises the error it raises without orjson;
    * a body in which orjson wrote ``null`` goes to json too, since orjson writes NaN and
      the infinities as ``null`` too: ``NaN`` in a price must not be sent as "no price".
    """
    import json as jsonlib

    plain = jsonlib.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def with_json(value: Any) -> bytes:
        return plain(value).encode("utf-8")

    try:
        import orjson
    except ImportError:
        return with_json
    dumps = orjson.dumps
    options = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
               | orjson.OPT_PASSTHROUGH_SUBCLASS)

    def with_orjson(value: Any) -> bytes:
        try:
            encoded = dumps(value, option=options)
        except TypeError:  # orjson.JSONEncodeError: json decides
            return with_json(value)
        if b"null" in encoded:
            return with_json(value)
        return encoded

    return with_orjson


_PLAIN_PATH_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,=@%/]*").fullmatch


def _is_plain_path(relative: str) -> bool:
    """Whether ``relative`` joins onto the base URL as it is: no scheme, query, fragment,
    empty or dot segment, nor a character urlsplit would strip or that needs quoting."""
    plain = _PLAIN_PATHS.get(relative)
    if plain is None:
        plain = _PLAIN_PATH_CHARACTERS(relative) is not None and "//" not in relative and (
            "." not in relative or all(s not in (".", "..") for s in relative.split("/")))
        if type(relative) is str and len(relative) <= 256:
            # A session's paths repeat: each is judged once (bounded, cleared when full).
            if len(_PLAIN_PATHS) >= 1024:
                _PLAIN_PATHS.clear()
            _PLAIN_PATHS[relative] = plain
    return plain


_PLAIN_PATHS: dict[str, bool] = {}


def check_secrets(resolved: ResolvedProfile) -> None:
    """Resolve every secret the profile references now — in the broker's settings and in each
    strategy's options (a store's URL or encryption key) — so a missing one is reported with
    its profile and key before any request."""
    places: list[tuple[Any, str]] = [(resolved.settings, "")]
    for kind in ("signer", "flow", "store"):
        options = resolved.bound(kind).options
        if options is not None:
            places.append((options, f"{kind}."))
    if resolved.notifier is not None and resolved.notifier.options is not None:
        places.append((resolved.notifier.options, "notify."))
    missing: list[tuple[str, SecretUnavailableError]] = []
    for holder, prefix in places:
        for field in getattr(type(holder), "__attrs_attrs__", ()):
            value = getattr(holder, field.name)
            if not isinstance(value, Secret):
                continue
            try:
                value.reveal()
            except SecretUnavailableError as exc:
                missing.append((prefix + (field.alias or field.name), exc))
    if not missing:
        return
    # Every missing secret at once: fixing one only to be told of the next wastes a run.
    (key, first), others = missing[0], missing[1:]
    message = first.message + "".join(f"; key {k!r}: {e.message}" for k, e in others)
    hints = list(dict.fromkeys(e.hint for _, e in missing if e.hint))
    raise ProfileError(message, profile=resolved.name, key=key, file=resolved.profile.source,
                       hint="; ".join(hints) or None)


class ProfileBinding:
    """A resolved profile for one identity, with its clock, transport and interaction."""

    def __init__(
        self,
        resolved: ResolvedProfile,
        host: PluginHost,
        *,
        clock: Clock,
        transport: Transport,
        interaction: Interaction,
        identity: str,
    ) -> None:
        self.resolved = resolved
        self.host = host
        self.clock = clock
        self.transport = transport
        # Every request made for this profile, token requests and those of a binding opened
        # without a session (keepalive, users, a platform's login) too, names the broker's
        # plugin in its User-Agent (the transport's docstring says how a caller chooses another).
        plugin = host.loaded.get(resolved.broker_plugin)
        if plugin is not None:
            transport.name_plugin(plugin.distribution, plugin.version)
        self.interaction = interaction
        self.identity = identity
        self.key = TokenKey(resolved.name, identity)
        self._sign = host.signer(resolved.signer.name, owner=resolved.signer.owner)
        self.label = str(self.key)
        #: Server time minus ours, learned from a ``Date`` header after a timestamp rejection.
        self.skew = timedelta(0)
        base = getattr(resolved.settings, "api_base_url", None)
        if not isinstance(base, str) or not base.startswith(("http://", "https://")):
            raise ConfigError(
                f"broker {resolved.broker.id!r} gave no api_base_url for profile "
                f"{resolved.name!r}",
                hint="set base_url or environment in the profile",
            )
        self.base_url = base.rstrip("/") + "/"
        self.origins = profile_origins(resolved, self.base_url)
        parts = urlsplit(self.base_url)
        #: scheme, host and path of ``base_url``, for :meth:`build`'s plain paths.
        self._base = (parts.scheme, netloc(parts.scheme, parts.hostname or "", parts.port),
                      parts.path)
        self._plain_paths = bool(parts.hostname) and not (parts.query or parts.fragment)

    @property
    def settings(self) -> Any:
        return self.resolved.settings

    @property
    def user_option(self) -> str:
        """`` --user ID`` (shell-quoted) for a command about this identity, ``""`` for the
        profile's own."""
        return user_option(self.named_user)

    @property
    def login_command(self) -> str:
        """The command a person runs to log this profile and identity in again."""
        return self.command("login")

    def command(self, verb: str) -> str:
        """``brokerauth VERB`` for this profile and identity (``--user`` for an identity other
        than the profile's own), names shell-quoted."""
        return command(verb, self.resolved.name, self.named_user)

    @property
    def named_user(self) -> str | None:
        """This identity, unless it is the profile's own (which commands need not name)."""
        return None if self.identity == self.resolved.profile.options.identity else self.identity

    def locked(self, then: str) -> AbstractContextManager[None]:
        """The store's lock on this profile and identity, waited for up to the profile's
        ``lock_timeout``; a :class:`~brokerauth.contract.errors.StoreError` if another process
        holds it that long (``then``: what to do after, e.g. ``"export again"``)."""
        import contextlib

        @contextlib.contextmanager
        def held() -> Iterator[None]:
            timeout = self.resolved.profile.options.lock_timeout
            with self.lock(timeout) as taken:
                if not taken:
                    from brokerauth.contract.errors import StoreError

                    raise StoreError(
                        f"{self.label}: another process holds the token lock "
                        f"(waited {timeout:g} s)",
                        hint=f"wait for the other login or refresh to finish, then {then}",
                    )
                yield

        return held()

    def for_identity(self, identity: str) -> ProfileBinding:
        """This binding for another identity of the same profile, sharing everything else
        (resolving a profile is what costs: a platform lists thousands of identities)."""
        import copy

        other = copy.copy(self)
        other.identity = identity
        other.key = TokenKey(self.resolved.name, identity)
        other.label = str(other.key)
        other.skew = timedelta(0)
        return other

    # -- requests --------------------------------------------------------------------------
    def build(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        merged = {"Accept": "application/json"}
        if json is None and data is None:  # a GET: nothing to encode
            body = None
        else:
            body, content_type = encode_body(json, data)
            if content_type:
                merged["Content-Type"] = content_type
        if headers:
            merged.update(headers)
        relative = url.lstrip("/")
        if self._plain_paths and _is_plain_path(relative):
            # What urljoin and Request.from_url give for a plain path, at a third of their
            # cost: this runs for every request a session sends.  ``merged`` is this call's
            # own dict: made read-only as it is, rather than copied first.
            scheme, host, base_path = self._base
            return Request(method, scheme, host, base_path + relative,
                           normalize_params(params), MappingProxyType(merged), body)
        absolute = url if url.startswith(("http://", "https://")) else urljoin(
            self.base_url, relative
        )
        return Request.from_url(method, absolute, params=params, headers=merged, body=body)

    @property
    def signer_name(self) -> str:
        return self.resolved.signer.name

    def check_origin(self, request: Request) -> None:
        """Refuse ``request`` unless it goes to one of the profile's origins."""
        if self.origins.allows(request.scheme, request.host):
            return
        from brokerauth.contract.errors import OriginError
        from brokerauth.engine.origins import cleartext_refused, origin_text

        origin = origin_text((request.scheme, request.host))
        where = f" in {self.resolved.profile.source}" if self.resolved.profile.source else ""
        if cleartext_refused((request.scheme, request.host)):
            raise OriginError(
                f"{self.label}: refused to send credentials over plain http to {origin}",
                origin=origin, hint="use https://; plain http is only for a sandbox on loopback",
            )
        allowed = ", ".join(origin_text(o) for o in self.origins.ordered)
        raise OriginError(
            f"{self.label}: {request.method} {origin}{request.path} is outside the profile's "
            f"origins ({allowed}); nothing was sent",
            origin=origin,
            hint=f'if {origin} should receive this profile\'s credentials, add it to '
            f'allowed_origins = ["{origin}"] in profile {self.resolved.name!r}{where}; '
            "otherwise give a path on the broker's API instead of a full URL",
        )

    def signature_headers(
        self,
        request: Request,
        token: Token | None,
        *,
        now: datetime | None = None,
        nonce: str | None = None,
    ) -> Mapping[str, str]:
        """The headers the profile's signer adds to ``request`` (attaching ``token``), signed
        now with a fresh nonce; ``now`` and ``nonce`` are fixed only to reproduce a signature
        (``brokerauth sign --timestamp --nonce``)."""
        if now is None:
            now = self.clock.now()
            if self.skew:  # almost always zero: skip the datetime arithmetic then
                now += self.skew
        return self._sign(request, self.resolved.settings, token, now,
                          nonce if nonce is not None else new_nonce())

    def sign(
        self,
        request: Request,
        token: Token | None,
        *,
        now: datetime | None = None,
        nonce: str | None = None,
    ) -> Request:
        """``request`` with :meth:`signature_headers` added, as one immutable request."""
        return request.with_headers(self.signature_headers(request, token, now=now, nonce=nonce))

    def learn_skew(self, response: Response) -> bool:
        """Adopt the server's clock offset from its ``Date`` header; False if it has none."""
        date = response.headers.get("Date")
        if not date:
            return False
        import email.utils  # rarely needed: kept out of start-up

        try:
            server = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return False
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        offset = (server - self.clock.now()).total_seconds()
        if abs(offset) > MAX_SKEW.total_seconds():
            # A server (or whatever answers in its place) would otherwise pick the time of
            # every later signature, HTTP and streaming alike: signatures it could keep for
            # that time, or a clock past datetime's range that fails every request.
            logger(LOGGER).warning(
                "%s: the server's clock differs from ours by %+.0f s, more than the %d "
                "minutes brokerauth corrects for; not adopted: set this machine's clock "
                "(NTP)", self.label, offset, MAX_SKEW.total_seconds() // 60)
            return False
        # ``Date`` has whole seconds, so the learned offset is good to about one second.
        self.skew = timedelta(seconds=round(offset))
        logger(LOGGER).warning("%s: the server's clock differs from ours by %+.0f s; correcting",
                    self.label, offset)
        return True

    def interpret(self, response: Response) -> Verdict:
        verdict = self.host.interpret_response(
            self.resolved.broker.id, self.settings, response.request, response
        )
        if verdict is not None:
            return verdict
        from brokerauth.contract.verdicts import default_verdict  # offline work reads no answer

        return default_verdict(response)

    # -- the token manager's source --------------------------------------------------------
    def _store_call(self) -> tuple[str, Any, str]:
        store = self.resolved.store
        return store.name, store.options, store.owner

    def load(self, *, wherever_issued: bool = False) -> Token | None:
        """The stored token, if it was issued where this profile now points (or, with
        ``wherever_issued``, whatever it was issued for: for tools that move tokens).

        :raises ~brokerauth.contract.errors.LoginRequiredError: it was issued by another broker or
            for another origin (the profile was changed, or a planted profile borrowed the
            name): it is never sent, or revoked, there."""
        name, options, owner = self._store_call()
        token = self.host.load_token(name, self.key, options, owner=owner)
        if token is not None and not wherever_issued:
            self._check_issued_here(token)
        return token

    def load_many(self, identities: Sequence[str]) -> dict[str, Token | BrokerAuthError]:
        """The stored tokens of ``identities`` of this profile, as :meth:`load` would give each
        (an identity with nothing stored is absent; one that cannot be read, or was issued
        elsewhere, maps to the error): in one call to the store when it can load many
        (the optional ``load_tokens`` hook), else one call each."""
        name, options, owner = self._store_call()
        keys = [TokenKey(self.resolved.name, identity) for identity in identities]
        found = self.host.load_tokens(name, keys, options, owner=owner)
        result: dict[str, Token | BrokerAuthError] = {}
        if found is None:
            for identity in identities:
                try:
                    token = self.for_identity(identity).load()
                except BrokerAuthError as exc:
                    result[identity] = exc
                    continue
                if token is not None:
                    result[identity] = token
            return result
        for key, value in found.items():
            if isinstance(value, Token):
                try:
                    self.for_identity(key.identity)._check_issued_here(value)
                except BrokerAuthError as exc:
                    value = exc
            result[key.identity] = value
        return result

    def save(self, token: Token) -> None:
        """Store ``token``, recording the origin it was issued for."""
        name, options, owner = self._store_call()
        if token.extra.get(ISSUED_FOR) != self.home_origin:
            token = token.replace(extra={**token.extra, ISSUED_FOR: self.home_origin})
        self.host.store_token(name, self.key, token, options, owner=owner)

    @property
    def home_origin(self) -> str:
        """The origin tokens of this profile are issued for: its API base's."""
        scheme, host = self.origins.ordered[0]
        return f"{scheme}://{host}"

    def _check_issued_here(self, token: Token) -> None:
        issued_for = token.extra.get(ISSUED_FOR)
        # A token stored before origins were recorded has none: it is taken, and stamped when
        # it is next stored.
        if token.broker == self.resolved.broker.id and issued_for in (None, self.home_origin):
            return
        from brokerauth.contract.errors import IssuedElsewhereError

        where = issued_for if token.broker == self.resolved.broker.id else (
            f"broker {token.broker!r}")
        raise IssuedElsewhereError(
            f"{self.label}: the stored token was issued for {where}, but the profile now "
            f"points at {self.home_origin}; it was not sent there",
            issued_for=str(where),
            hint=f"if the new address is right, run `{self.login_command}` and confirm that "
            "its token replaces this one (which stays valid where it was issued); if you did "
            "not change the profile, check which profiles file is used (`brokerauth profiles`)",
        )

    def delete(self) -> bool:
        name, options, owner = self._store_call()
        return self.host.delete_token(name, self.key, options, owner=owner)

    def lock(self, timeout: float) -> AbstractContextManager[bool]:
        name, options, owner = self._store_call()
        return self.host.lock_token(name, self.key, options, timeout, owner=owner)

    def spend_call(self) -> None:
        """Count one token-endpoint call against each of the broker's budgets, in the store
        (so across processes), waiting for its turn within ``lock_timeout``.

        :raises ~brokerauth.contract.errors.RateLimitError: the next allowed call is further
            away."""
        budgets = self.resolved.broker.token_budgets
        if not budgets:
            return
        from brokerauth.contract.errors import RateLimitError
        from brokerauth.toolkit import budget as kept

        name, options, owner = self._store_call()
        bound = self.resolved.profile.options.lock_timeout
        waited = 0.0
        for budget in budgets:
            while True:
                now = self.clock.now().timestamp()
                key = kept.budget_key(self.key, budget)
                wait = self.host.take_call(name, key, options, budget, now, owner=owner)
                if wait is None:
                    wait = kept.PROCESS.take(key, budget, now)
                if wait <= 0:
                    break
                if waited + wait > bound:
                    per_user = " per user" if budget.scope == "identity" else ""
                    raise RateLimitError(
                        f"{self.label}: {self.resolved.broker.id} allows {budget.calls} token "
                        f"requests per {budget.per:g} s{per_user}, and they are used up; the "
                        f"next is allowed in {wait:.0f} s",
                        retry_after=wait,
                        hint="try again then; other programs using the same credentials and "
                        "token store count too",
                    )
                logger(LOGGER).info("%s: waiting %.1f s for the broker's token-request limit",
                                    self.label, wait)
                self.clock.sleep(wait)
                waited += wait

    def flow_context(self, stored: Token | None) -> FlowContext:
        from brokerauth.contract.flowcontext import FlowContext  # only flows need it, not signing

        return FlowContext(
            profile=self.resolved.name,
            broker=self.resolved.broker.id,
            identity=self.identity,
            settings=self.settings,
            options=self.resolved.flow.options,
            clock=self.clock,
            http=FlowHttpClient(self),
            interaction=self.interaction,
            stored=stored,
            login_command=self.login_command,
        )

    def acquire(self, stored: Token | None) -> Token | None:
        flow = self.resolved.flow
        return self.host.acquire_token(flow.name, self.flow_context(stored), owner=flow.owner)

    def revoke(self, token: Token) -> bool:
        flow = self.resolved.flow
        return self.host.revoke_token(flow.name, self.flow_context(token), token, owner=flow.owner)

    def refresh(self, token: Token) -> Token | None:
        flow = self.resolved.flow
        return self.host.refresh_token(
            flow.name, self.flow_context(token), token, owner=flow.owner
        )

    def notice(self, kind: str, token: Token, message: str) -> None:
        """The token manager's news, for the profile's notifier (if any)."""
        if self.resolved.notifier is None:
            return
        from brokerauth.engine import notices  # only profiles with a notifier need it

        notices.tell(self, kind, token, message)  # type: ignore[arg-type]


class FlowHttpClient:
    """The :class:`~brokerauth.contract.flowcontext.HttpClient` flows get: the one auth flow
    (:mod:`brokerauth.engine.authflow`) without the token manager — signed with the profile's signer
    and the token given, answers capped at 1 MiB (a token answer is never larger), re-sent only
    after a timestamp rejection it could correct (the server refused before acting)."""

    def __init__(self, binding: ProfileBinding) -> None:
        self._binding = binding

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        sign: bool = True,
        token: Token | None = None,
        timeout: float | None = None,
    ) -> Response:
        from brokerauth.engine import authflow  # as in interpret: not at start-up

        binding = self._binding
        request = binding.build(method, url, params=params, json=json, data=data, headers=headers)
        transport = binding.transport

        def send(attempt: authflow.Attempt) -> Response:
            binding.spend_call()
            return transport.send(attempt.request, signature=attempt.signature,
                                  timeout=timeout, max_bytes=TOKEN_RESPONSE_LIMIT)

        flow = authflow.auth_flow(binding, request, authflow.Policy(sign=sign, refresh=False),
                                  token=token)
        return authflow.run(flow, send).response


def profile_origins(resolved: ResolvedProfile, base_url: str) -> Origins:
    """The profile's origins: the API base, what the broker's plugin declares for the
    environment (``credential_origins`` on its settings), and ``allowed_origins``."""
    from brokerauth.engine.origins import Origins, cleartext_refused, origin_text

    declared = getattr(resolved.settings, "credential_origins", ())
    try:
        origins = Origins([base_url, *declared, *resolved.profile.options.allowed_origins])
    except ValueError as exc:
        raise ProfileError(
            f"broker {resolved.broker.id!r} gave an unusable origin: {exc}",
            profile=resolved.name, file=resolved.profile.source,
            hint="check base_url and the other URL settings of the profile",
        ) from None
    for origin in origins.ordered:
        if cleartext_refused(origin):
            raise ProfileError(
                f"credentials would go over plain http to {origin_text(origin)!r}, which is "
                "not a loopback host",
                profile=resolved.name, file=resolved.profile.source,
                hint="use https:// (http:// is only for a sandbox on 127.0.0.1, ::1 or "
                "localhost)",
            )
    return origins
