"""The hooks of the Futu OpenAPI plugin (entry point ``brokerauth: futu``).

Provides the broker ``futu`` and these strategies:

* signer ``futu`` (the broker's default): a Bearer token in ``oauth`` mode, the legacy API-key
  signature in ``api_key`` mode — a profile's ``mode`` picks, since a broker has one default;
* signer ``futu-api-key``: always the legacy signature (another broker may reuse it);
* flow ``futu`` (default), dispatching on ``mode`` to flow ``futu-oauth`` (public client,
  PKCE, dynamic registration) or flow ``futu-api-key`` (the portal's token, refreshable);
* store ``futu-file`` (default): OAuth logins in the Futu SDK's own token file.

Only what signing needs is imported eagerly; flows, the store and the sandbox (an HTTP
server) are imported when first used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from brokerauth.contract.errors import ConfigError
from brokerauth.contract.hookspecs import hookimpl
from brokerauth.contract.specs import BrokerSpec, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.contract.verdicts import Outcome, Verdict, bearer_error, error_fields
from brokerauth.contract.wire import Request, Response
from brokerauth.toolkit.headers import bearer_authorization, header_token
from brokerauth.toolkit.secrets import Secret

from brokerauth_futu import codes, signing
from brokerauth_futu.environments import ENVIRONMENTS
from brokerauth_futu.settings import FutuFileOptions, FutuSettings

if TYPE_CHECKING:
    from brokerauth.contract.flowcontext import FlowContext

BROKER: Final = "futu"
SIGNER: Final = "futu"
SIGNER_API_KEY: Final = "futu-api-key"
FLOW: Final = "futu"
FLOW_OAUTH: Final = "futu-oauth"
FLOW_API_KEY: Final = "futu-api-key"
STORE: Final = "futu-file"

_FLOWS: Final = frozenset({FLOW, FLOW_OAUTH, FLOW_API_KEY})


_INFO: Final = PluginInfo(
    brokers=(
        BrokerSpec(
            id=BROKER,
            settings=FutuSettings,
            signer=SIGNER,
            flow=FLOW,
            store=STORE,
            description="Futu OpenAPI (OAuth 2.0 public client, or legacy API-key signing)",
            environments=ENVIRONMENTS,
        ),
    ),
    strategies=(
        StrategySpec(
            kind="signer",
            name=SIGNER,
            description="Futu: Authorization: Bearer (mode oauth) or the legacy X-Api-* "
            "HMAC-SHA256 signature (mode api_key)",
            needs=("mode", "app_key", "app_secret", "signature_path"),
        ),
        StrategySpec(
            kind="signer",
            name=SIGNER_API_KEY,
            description="Futu legacy API key: X-Api-Key, X-Api-Timestamp, X-Api-Signature "
            "(hex HMAC-SHA256 of METHOD, PATH, TIMESTAMP, BODY), Authorization: Bearer",
            needs=("app_key", "app_secret", "signature_path"),
        ),
        StrategySpec(
            kind="flow",
            name=FLOW,
            description="Futu: futu-oauth or futu-api-key, as the profile's mode says",
            needs=("mode",),
        ),
        StrategySpec(
            kind="flow",
            name=FLOW_OAUTH,
            description="Futu OAuth 2.0 public client: RFC 7591 registration, PKCE S256 login "
            "through a loopback redirect, refresh (rotating or not), RFC 7009 revocation",
            needs=("client_id", "redirect_uri", "oauth_base", "token_folder", "discovery"),
        ),
        StrategySpec(
            kind="flow",
            name=FLOW_API_KEY,
            description="Futu legacy access token from the developer portal; refreshed with "
            "GET /v1/token/refresh before its expiry",
            needs=("access_token",),
        ),
        StrategySpec(
            kind="store",
            name=STORE,
            description="OAuth logins in the Futu SDK's token file (~/.futu/openapi/tokens/"
            "<client_id>, or under the profile's token_dir), shared with the SDK; 0600, "
            "atomic, locked across processes",
            options=FutuFileOptions,
            # The profile's token_dir is where its logins' files go, unless the store names
            # its own path: one setting, so tokens and registrations never part.
            options_from=lambda settings: {"path": getattr(settings, "token_dir", None)},
        ),
    ),
    description="Futu OpenAPI: OAuth public client, legacy API-key signing, SDK token file",
)


@hookimpl
def describe_plugin() -> PluginInfo:
    return _INFO


# --- signing ---------------------------------------------------------------------------------


@hookimpl
def sign_request(
    signer: str, request: Request, settings: Any, token: Token | None, now: datetime, *,
    steps: dict[str, str] | None = None,
) -> Mapping[str, str] | None:
    """With ``steps``, how the headers were made is added to it (nothing secret).  It is
    keyword-only, so pluggy never passes it: only :func:`explain_signature` does, and the
    explanation takes the very path a signature takes, at no cost to signing."""
    if signer == SIGNER:
        if getattr(settings, "mode", "oauth") == "api_key":
            return _api_key_headers(request, settings, token, now, steps)
        return _bearer(token, steps)
    if signer == SIGNER_API_KEY:
        return _api_key_headers(request, settings, token, now, steps)
    return None


# ``optionalhook``: a core older than this hook's spec still loads the plugin.
@hookimpl(optionalhook=True)
def explain_signature(
    signer: str, request: Request, settings: Any, token: Token | None, now: datetime
) -> Mapping[str, str] | None:
    steps: dict[str, str] = {}
    if sign_request(signer, request, settings, token, now, steps=steps) is None:
        return None
    return steps


def _api_key_headers(
    request: Request, settings: Any, token: Token | None, now: datetime,
    steps: dict[str, str] | None,
) -> dict[str, str]:
    app_key = _secret(settings, "app_key")
    app_secret = _secret(settings, "app_secret")
    mode = getattr(settings, "signature_path", "target")
    if mode not in ("target", "path"):
        raise ConfigError(f"signature_path must be 'target' or 'path', not {mode!r}")
    if steps is not None:
        steps["scheme"] = (f"Futu legacy API key: hex HMAC-SHA256 of METHOD \\n PATH \\n "
                           f"TIMESTAMP \\n BODY; PATH is signature_path = {mode!r}")
    path = signing.signed_path(request.path, request.query_string,
                               "target" if mode == "target" else "path")
    return signing.headers(
        method=request.method,
        path=path,
        body=request.body,
        timestamp=int(now.timestamp()),
        app_key=app_key,
        app_secret=app_secret,
        access_token=None if token is None else header_token(token),
        steps=steps,
    )


def _bearer(token: Token | None, steps: dict[str, str] | None) -> dict[str, str]:
    if steps is not None:
        steps["scheme"] = (
            "OAuth 2.0 Bearer (RFC 6750, mode = \"oauth\"): the access token in "
            "Authorization, nothing signed or hashed" if token is not None else
            "OAuth 2.0 Bearer (mode = \"oauth\"), but no token: nothing is added"
        )
    if token is None:
        return {}
    return {signing.HEADER_AUTHORIZATION: bearer_authorization(token)}


def _secret(settings: Any, name: str) -> str:
    value = getattr(settings, name, None)
    if isinstance(value, Secret):
        return value.reveal()
    raise ConfigError(
        f"the Futu API-key signature needs {name}",
        hint='set mode = "api_key" (app_key, app_secret and access_token then default to '
        "FUTU_APP_KEY, FUTU_APP_SECRET and FUTU_ACCESS_TOKEN)",
    )


# --- flows -----------------------------------------------------------------------------------


def _which(flow: str, settings: Any) -> str:
    if flow == FLOW:
        return FLOW_API_KEY if getattr(settings, "mode", "oauth") == "api_key" else FLOW_OAUTH
    return flow


@hookimpl
def acquire_token(flow: str, context: FlowContext) -> Token | None:
    if _which(flow, context.settings) == FLOW_API_KEY:
        from brokerauth_futu import apikey

        return apikey.acquire(context)
    from brokerauth_futu import oauthflow

    oauthflow.require_oauth(context.settings)
    return oauthflow.acquire(context)


@hookimpl
def refresh_token(flow: str, context: FlowContext, token: Token) -> Token | None:
    if _which(flow, context.settings) == FLOW_API_KEY:
        from brokerauth_futu import apikey

        return apikey.refresh(context, token)
    from brokerauth_futu import oauthflow

    oauthflow.require_oauth(context.settings)
    return oauthflow.refresh(context, token)


# ``optionalhook``: the core's logout calls this where its hookspec exists; an older core
# without the spec still loads the plugin (pluggy would otherwise refuse an unknown hook).
@hookimpl(optionalhook=True)
def revoke_token(flow: str, context: FlowContext, token: Token) -> bool | None:
    if _which(flow, context.settings) == FLOW_API_KEY:
        return False  # legacy credentials are revoked in the developer portal only
    from brokerauth_futu import oauthflow

    return oauthflow.revoke_token(oauthflow.require_oauth(context.settings), context.http, token)


# --- store -----------------------------------------------------------------------------------


@hookimpl
def load_token(store: str, key: TokenKey, options: Any) -> Token | None:
    from brokerauth_futu import tokenfile

    return tokenfile.load(key, options)


@hookimpl
def store_token(store: str, key: TokenKey, token: Token, options: Any) -> None:
    from brokerauth_futu import tokenfile

    tokenfile.save(key, token, options)
    return None


@hookimpl
def delete_token(store: str, key: TokenKey, options: Any) -> bool | None:
    from brokerauth_futu import tokenfile

    return tokenfile.delete(key, options)


@hookimpl
def lock_token(
    store: str, key: TokenKey, options: Any, timeout: float
) -> AbstractContextManager[bool] | None:
    from brokerauth_futu import tokenfile

    return tokenfile.lock(key, options, timeout)


# ``optionalhook``: a core older than this hook's spec still loads the plugin.
@hookimpl(optionalhook=True)
def list_tokens(store: str, profile: str, options: Any) -> Iterable[TokenKey] | None:
    from brokerauth_futu import tokenfile

    return tokenfile.list_keys(profile, options)


# --- answers ---------------------------------------------------------------------------------


@hookimpl
def interpret_response(broker: str, response: Response) -> Verdict | None:
    if 200 <= response.status < 300:
        return None
    if bearer_error(response.headers.get("WWW-Authenticate") or "") == "invalid_token":
        return None  # RFC 6750 (OAuth mode): the core refreshes once
    code, message = error_fields(response)
    text = (message or "").lower()
    if code in codes.CLOCK_SKEW_CODES or (
        response.status == 401 and any(word in text for word in codes.CLOCK_SKEW_WORDS)
    ):
        return Verdict(Outcome.CLOCK_SKEW, code, message)
    if code in codes.REVOKED_CODES or (
        response.status in (401, 403) and any(word in text for word in codes.REVOKED_WORDS)
    ):
        return Verdict(Outcome.REVOKED, code, message)
    if code in codes.TOKEN_INVALID_CODES:
        return Verdict(Outcome.TOKEN_INVALID, code, message)
    # RFC 6750 answers (OAuth mode) are the core's to judge.
    return None
