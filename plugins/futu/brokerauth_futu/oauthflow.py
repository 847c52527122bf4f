"""The ``futu-oauth`` flow: Futu's OAuth 2.0 public client.

A login:

1. reuses a login the Futu SDK already saved for the configured client id, if any;
2. listens on the loopback redirect (127.0.0.1 and ::1; a port in use fails at once);
3. finds the endpoints: explicit profile paths, else RFC 8414 metadata when the server
   publishes it (and names the expected issuer), else the environment's defaults;
4. uses the configured client id, or a saved registration, or registers one (RFC 7591);
5. sends the browser to the authorization endpoint with PKCE S256 and a 256-bit ``state``,
   and waits for the redirect;
6. exchanges the code with its verifier.

Refresh sends the refresh token with the client id the token was issued to, and keeps the old
refresh token when the server does not rotate it.  Revocation (RFC 7009) revokes the refresh
token (which ends the grant) and then the access token.

No value that is a secret (codes, verifier, tokens, the registration answer) ever reaches a
message or a log line here; endpoint URLs and client ids are public and may.
"""

from __future__ import annotations

import functools
import logging
import sys
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
from brokerauth.contract.errors import (
    BrokerError,
    ConfigError,
    LoginRequiredError,
    ResponseError,
    TransportError,
)
from brokerauth.contract.flowcontext import FlowContext, HttpClient
from brokerauth.contract.interaction import require_person
from brokerauth.contract.tokens import DEFAULT_IDENTITY, Token, TokenKey
from brokerauth.contract.verdicts import error_fields
from brokerauth.contract.wire import Response
from brokerauth.toolkit.loopback import LoopbackListener
from brokerauth.toolkit.oauth import (
    Pkce,
    authorization_url,
    new_state,
    parse_token_answer,
    token_body,
    token_error,
)

from brokerauth_futu import account, registration, sdkformat, tokenfile
from brokerauth_futu import metadata as kept_metadata
from brokerauth_futu.settings import FutuSettings

log = logging.getLogger("brokerauth.futu.oauth")

WELL_KNOWN: Final = "/.well-known/oauth-authorization-server"
#: Futu's access tokens live about two hours (7200 s seen); assumed when an answer gives no
#: ``expires_in`` (RFC 6749 makes it only RECOMMENDED), so such a token is still refreshed
#: before it dies, and the SDK's file, which must hold an expiry, gets one.
DEFAULT_LIFETIME: Final = timedelta(seconds=7200)
_LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")


class _Listener(LoopbackListener):
    """The core's loopback listener, able to listen again on a port it just used.

    The core binds without ``SO_REUSEADDR``; the listener closes each callback connection
    first, which leaves that connection in TIME_WAIT for a minute, and on Linux and macOS a
    new bind to the port then fails as "in use" — so a second login within a minute of the
    first (log out, log in) would fail.  With ``SO_REUSEADDR`` a POSIX system still refuses
    a port another socket *listens* on, so "port in use" keeps its meaning.  Windows is left
    alone: there the option would let two programs share a listening port.  To be dropped once
    the core sets it (see the plugin's report).
    """

    def _bind(self, cls: Any, address: str, port: int) -> Any:
        if sys.platform != "win32" and not cls.allow_reuse_address:
            cls = _reusing(cls)
        return super()._bind(cls, address, port)


@functools.cache
def _reusing(cls: type[Any]) -> type[Any]:
    return type(cls.__name__, (cls,), {"allow_reuse_address": True})


@attrs.frozen
class Endpoints:
    """The four OAuth endpoints a login, refresh or logout uses."""

    issuer: str
    authorize: str
    token: str
    revoke: str
    register: str


# --- endpoints -------------------------------------------------------------------------------


def endpoints(
    settings: FutuSettings,
    http: HttpClient,
    *,
    now: datetime | None = None,
    key: TokenKey | None = None,
    fresh: bool = False,
) -> Endpoints:
    """Explicit profile paths first, then RFC 8414 metadata, then the environment's table.

    With ``now`` and ``key`` the metadata is the kept copy (:mod:`brokerauth_futu.metadata`),
    read from the server at most daily, or now and kept when ``fresh``; without (a
    revocation), it is read now."""
    base = settings.oauth_base
    metadata: dict[str, Any] = {}
    if settings.discovery and now is not None and key is not None:
        metadata = kept_metadata.cached(base, lambda: discover(http, base), now=now,
                                        top=settings.token_folder, key=key, fresh=fresh)
    elif settings.discovery:
        metadata = discover(http, base)
    defaults = settings.oauth_defaults

    def pick(explicit: str | None, field: str, default_path: str) -> str:
        if explicit is not None:
            return base + explicit
        found = metadata.get(field)
        if isinstance(found, str) and _acceptable_endpoint(found):
            return found
        return base + default_path

    return Endpoints(
        issuer=base,
        authorize=pick(settings.authorize_path, "authorization_endpoint",
                       defaults.authorize_path),
        token=pick(settings.token_path, "token_endpoint", defaults.token_path),
        revoke=pick(settings.revoke_path, "revocation_endpoint", defaults.revoke_path),
        register=pick(settings.register_path, "registration_endpoint", defaults.register_path),
    )


def discover(http: HttpClient, issuer: str) -> dict[str, Any]:
    """The server's RFC 8414 metadata, or ``{}`` when it publishes none (or none we trust).

    Tried at the RFC's location for an issuer with a path (``/.well-known/...`` inserted
    before the path), then at the host's root, where many servers publish it.
    """
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    candidates = [origin + WELL_KNOWN + parts.path] if parts.path not in ("", "/") else []
    candidates.append(origin + WELL_KNOWN)
    for url in candidates:
        try:
            response = http.request("GET", url, sign=False)
        except TransportError:
            log.debug("no OAuth metadata at %s (unreachable); using the configured endpoints", url)
            return {}
        if response.status != 200:
            continue
        try:
            document = response.json_object()
        except ResponseError:
            continue  # an HTML page or other non-metadata answer
        if document.get("issuer") != issuer:
            # RFC 8414 §3.3: metadata naming another issuer must not be used (mix-up attacks).
            log.warning("OAuth metadata at %s names another issuer; ignoring it", url)
            return {}
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise BrokerError(
                "the Futu authorization server does not offer PKCE S256, which this client "
                "requires",
                hint="check oauth_base_url; this client never uses PKCE 'plain'",
            )
        return document
    return {}


def _acceptable_endpoint(url: str) -> bool:
    # Endpoints from a server's metadata must be absolute, and https unless on loopback.
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)


# --- login -----------------------------------------------------------------------------------


def acquire(context: FlowContext) -> Token:
    settings: FutuSettings = context.settings
    key = TokenKey(context.profile, context.identity)
    adopted = _adopt_sdk_login(context, settings, key)
    if adopted is not None:
        return adopted
    require_person(context.interaction)  # the user must log in in a browser
    state = new_state()
    # Bound before any network call: a port in use fails at once, not after a registration.
    listener = _listen(settings, state)
    try:
        # Read afresh: a person is about to wait in a browser, and the browser's failure
        # (the 404 of an endpoint moved since the metadata was kept) never reaches us.
        ends = endpoints(settings, context.http, now=context.clock.now(), key=key, fresh=True)
        redirect_uri = listener.redirect_uri
        client_id, registered = _client_id(context, settings, ends, redirect_uri, key)
        pkce = Pkce.create()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
            "state": state,
        }
        scope = settings.requested_scope
        if scope:
            params["scope"] = scope
        url = authorization_url(ends.authorize, params)
        deadline = context.clock.now() + timedelta(seconds=settings.login_timeout)
        with context.interaction.waiting("waiting for the Futu login in your browser",
                                         deadline=deadline):
            context.interaction.open_url(url)
            code = listener.wait()
    finally:
        listener.close()
    response = context.http.request(
        "POST",
        ends.token,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": pkce.verifier,
        },
        sign=False,
    )
    if not response.ok:
        _forget_dead_registration(response, registered, settings, ends, redirect_uri)
        raise token_error(response, what="exchanging the Futu authorization code",
                          login_url=ends.authorize, login_command=context.login_command)
    return _token_from(context, response, client_id=client_id, previous=None)


def _listen(settings: FutuSettings, state: str) -> _Listener:
    """Listening on the first of the profile's redirects whose port is free (futu-cli's
    18888, 18889, 18890 for ``webapi``); every one taken is a :class:`ConfigError` naming
    them all."""
    uris = settings.redirect_uris
    for uri in uris:
        listener = _Listener(uri, expected_state=state, timeout=settings.login_timeout)
        try:
            listener.start()
        except ConfigError as exc:
            if len(uris) == 1:
                raise
            log.info("%s; trying the next redirect", exc.message)
            continue
        return listener
    ports = ", ".join(str(urlsplit(uri).port) for uri in uris)
    raise ConfigError(
        f"ports {ports} on the loopback address are all in use, so the login callback "
        "cannot be received",
        hint="free one of them, or set redirect_uri to another loopback port (a client "
        "registered for another redirect is registered again)",
    )


def _adopt_sdk_login(context: FlowContext, settings: FutuSettings, key: TokenKey) -> Token | None:
    """A login the SDK saved for the configured client, unless this is a forced re-login."""
    if not settings.client_id or context.stored is not None or key.identity != DEFAULT_IDENTITY:
        return None
    found = tokenfile.load_sdk_file(settings.token_folder, settings.client_id, key)
    if found is None:
        return None
    if found.refresh_token is None and found.expired(context.clock.now()):
        return None
    log.info("%s: reusing the Futu SDK's saved login for client %s", key, settings.client_id)
    return found


def _client_id(
    context: FlowContext, settings: FutuSettings, ends: Endpoints, redirect_uri: str,
    key: TokenKey,
) -> tuple[str, bool]:
    """The client id to log in with, and whether it came from a registration."""
    if settings.client_id:
        return settings.client_id, False
    path = registration.record_path(
        settings.token_folder, ends.register, redirect_uri, settings.client_name
    )
    saved = registration.load(path, key, redirect_uri)
    if saved is not None:
        return saved, True
    answer = registration.register(context.http, ends.register, redirect_uri, settings.client_name,
                                   settings.requested_scope)
    registration.save(path, key, answer)
    return str(answer["client_id"]), True


def _forget_dead_registration(
    response: Response, registered: bool, settings: FutuSettings, ends: Endpoints,
    redirect_uri: str,
) -> None:
    # A server that forgot a registered client answers invalid_client; the saved
    # registration is then useless, and the next login should register anew.
    code, _ = error_fields(response)
    if registered and code == "invalid_client":
        registration.forget(registration.record_path(
            settings.token_folder, ends.register, redirect_uri, settings.client_name
        ))


# --- refresh ---------------------------------------------------------------------------------


def refresh(context: FlowContext, token: Token) -> Token:
    settings: FutuSettings = context.settings
    if token.extra.get(sdkformat.EXTRA_MODE, "oauth") != "oauth":
        raise LoginRequiredError(
            f"{context.profile}: the stored token is an API-key token, not an OAuth login",
            hint=f"run `{context.login_command}`",
        )
    if not token.refresh_token:
        raise LoginRequiredError(
            f"{context.profile}: the Futu login has no refresh token; log in again",
            hint=f"run `{context.login_command}`",
        )
    client_id = _token_client_id(token, settings)
    key = TokenKey(context.profile, context.identity)
    ends = endpoints(settings, context.http, now=context.clock.now(), key=key)
    try:
        response = context.http.request(
            "POST",
            ends.token,
            data={
                "grant_type": "refresh_token",
                "refresh_token": token.refresh_token,
                "client_id": client_id,
            },
            sign=False,
        )
    except TransportError:
        _endpoint_failed(settings, key)
        raise
    if response.status in (404, 405, 410):
        _endpoint_failed(settings, key)
    if not response.ok:
        raise token_error(response, what="refreshing the Futu token", login_url=ends.authorize,
                          login_command=context.login_command)
    return _token_from(context, response, client_id=client_id, previous=token)


def _endpoint_failed(settings: FutuSettings, key: TokenKey) -> None:
    # The endpoint may have moved: read the metadata again on the next try.
    if settings.discovery:
        kept_metadata.forget(settings.oauth_base, top=settings.token_folder, key=key)


def _token_client_id(token: Token, settings: FutuSettings) -> str:
    # The client a refresh token was issued to is the one that must present it.
    client_id = token.extra.get(sdkformat.EXTRA_CLIENT_ID) or settings.client_id
    if not client_id:
        raise LoginRequiredError(
            "the stored Futu login does not say which OAuth client it belongs to",
            hint="log in again",
        )
    return client_id


def _token_from(
    context: FlowContext, response: Response, *, client_id: str, previous: Token | None
) -> Token:
    """The token of a successful token answer: ``expires_in`` is whole seconds from 1 s to
    10 years (:func:`brokerauth.toolkit.numbers.lifetime`), :data:`DEFAULT_LIFETIME` (7200 s) when
    absent; the answer is parsed strictly (a key given twice, or nesting past 64 levels, is
    a :class:`~brokerauth.contract.errors.ResponseError`)."""
    now = context.clock.now()
    body = token_body(response, what="the Futu token answer")
    parsed = parse_token_answer(
        body,
        broker=sdkformat.BROKER,
        now=now,
        status=response.status,
        previous=previous,
        identity=context.identity,
        default_lifetime=DEFAULT_LIFETIME,
    )
    return sdkformat.oauth_token(
        access_token=parsed.access_token,
        refresh_token=parsed.refresh_token,
        # Always set by parse_token_answer (from DEFAULT_LIFETIME when absent); the fallback
        # only satisfies the type, which allows a token without expiry.
        expires_at=parsed.expires_at or now + DEFAULT_LIFETIME,
        client_id=client_id,
        identity=context.identity,
        # A refresh answer without them keeps the login's.
        facts={**(account.of_token(previous.extra) if previous else {}),
               **account.from_answer(body)},
    )


# --- revocation ------------------------------------------------------------------------------


def revoke_token(settings: FutuSettings, http: HttpClient, token: Token) -> bool:
    """Revoke ``token`` at the revocation endpoint (RFC 7009).

    The refresh token goes first: revoking it ends the grant, and RFC 7009 asks servers to
    end its access tokens too; the access token is revoked next for servers that do not.

    :return: ``True`` when the server accepted; ``False`` for a token that is not an OAuth
        login (legacy API-key tokens are revoked in Futu's developer portal only).
    :raises ~brokerauth.contract.errors.BrokerError: the server refused.
    :raises ~brokerauth.contract.errors.TransportError: it could not be reached.
    """
    if token.extra.get(sdkformat.EXTRA_MODE, "oauth") != "oauth":
        return False
    client_id = _token_client_id(token, settings)
    ends = endpoints(settings, http)
    for value, hint in ((token.refresh_token, "refresh_token"), (token.access_token,
                                                                  "access_token")):
        if not value:
            continue
        response = http.request(
            "POST",
            ends.revoke,
            data={"token": value, "token_type_hint": hint, "client_id": client_id},
            sign=False,
        )
        if response.status == 200:
            continue
        code, message = error_fields(response)
        if code == "unsupported_token_type":
            continue  # this server cannot revoke that kind; the other one still counts
        raise BrokerError(
            message or "the Futu server refused to revoke the token",
            status=response.status,
            code=code,
            hint="revoke the app's access in your Futu account settings",
        )
    return True


def require_oauth(settings: Any) -> FutuSettings:
    if not isinstance(settings, FutuSettings):
        raise ConfigError(
            "the futu-oauth flow needs Futu settings (broker = \"futu\")",
            hint="use it with a futu profile",
        )
    return settings
