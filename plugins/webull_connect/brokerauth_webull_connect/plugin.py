"""The hooks of the Webull Connect plugin (entry point ``brokerauth: webull_connect``).

Provides the broker ``webull_connect``, the signer ``webull-connect`` (Bearer on API calls,
the ``webull`` plugin's HMAC on the token endpoint) and the flow ``webull-connect-oauth``.
Only what signing needs is imported eagerly; the flow (the loopback listener) and the
sandbox (an HTTP server) are imported when first used.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from brokerauth.contract.hookspecs import hookimpl
from brokerauth.contract.specs import BrokerSpec, CallBudget, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token
from brokerauth.contract.verdicts import Outcome, Verdict, bearer_error, error_fields
from brokerauth.contract.wire import Request, Response

from brokerauth_webull_connect import codes, signing
from brokerauth_webull_connect.environments import ENVIRONMENTS
from brokerauth_webull_connect.settings import ConnectSettings

if TYPE_CHECKING:
    from brokerauth.contract.flowcontext import FlowContext

BROKER: Final = "webull_connect"
SIGNER: Final = signing.NAME
FLOW: Final = "webull-connect-oauth"

# The flow's needs are spelled here too (not imported from the flow module) so describing
# the plugin does not import the loopback listener.
_FLOW_NEEDS: Final = (
    "client_id", "client_secret", "scope", "redirect_uri", "authorize_url", "token_url",
    "token_body", "token_auth_method", "login_timeout", "send_redirect_uri", "pkce",
)

_INFO: Final = PluginInfo(
    brokers=(
        BrokerSpec(
            id=BROKER,
            settings=ConnectSettings,
            signer=SIGNER,
            flow=FLOW,
            store="file",
            description="Webull Connect (OAuth 2.0 for third-party platforms, many users)",
            environments=ENVIRONMENTS,
            # Webull Connect: fewer than 90 requests a minute per user.
            token_budgets=(CallBudget("token", 89, 60.0, "identity",
                                      description="fewer than 90 requests a minute per user"),),
        ),
    ),
    strategies=(
        StrategySpec(
            kind="signer",
            name=SIGNER,
            description="Bearer access token on API calls; Webull HMAC signature (app key) "
            "on the token endpoint",
            needs=signing.NEEDS,
        ),
        StrategySpec(
            kind="flow",
            name=FLOW,
            description="authorization code (loopback listener or your platform's server), "
            "rotating refresh tokens, tokens per Webull user",
            needs=_FLOW_NEEDS,
        ),
    ),
    description="Webull Connect: OAuth 2.0 login, rotating refresh, local sandbox",
)


@hookimpl
def describe_plugin() -> PluginInfo:
    return _INFO


@hookimpl
def sign_request(
    signer: str,
    request: Request,
    settings: Any,
    token: Token | None,
    now: datetime,
    nonce: str,
) -> Mapping[str, str] | None:
    return signing.sign(request, settings, token, now, nonce)


# ``optionalhook``: a core older than this hook's spec still loads the plugin.
@hookimpl(optionalhook=True)
def explain_signature(
    signer: str,
    request: Request,
    settings: Any,
    token: Token | None,
    now: datetime,
    nonce: str,
) -> Mapping[str, str] | None:
    steps: dict[str, str] = {}
    signing.sign(request, settings, token, now, nonce, steps)
    return steps


@hookimpl
def acquire_token(flow: str, context: FlowContext) -> Token | None:
    from brokerauth_webull_connect import flow as connect_flow

    return connect_flow.acquire(context)


@hookimpl
def refresh_token(flow: str, context: FlowContext, token: Token) -> Token | None:
    from brokerauth_webull_connect import flow as connect_flow

    return connect_flow.refresh(context, token)


@hookimpl
def revoke_token(flow: str) -> bool | None:
    # Webull documents no revocation endpoint: a logout forgets the token, which expires.
    return False


@hookimpl
def interpret_response(broker: str, response: Response) -> Verdict | None:
    if 200 <= response.status < 300:
        return None
    return judge(response)


def judge(response: Response) -> Verdict:
    """Webull's ``{error_code, message}`` and RFC 6750 answers: refresh once on an invalid
    token, stop at once on a revoked grant, learn the clock on a refused timestamp."""
    code, message = error_fields(response)
    if code in codes.CLOCK_SKEW_CODES:
        return Verdict(Outcome.CLOCK_SKEW, code, message)
    if response.status in (401, 403):
        if code in codes.REVOKED_CODES:
            return Verdict(Outcome.REVOKED, code, message)
        # RFC 6750's error code, in the challenge or the body, is meant for programs; the
        # description beside it is prose, and the standard one lists "revoked" among the
        # possible reasons.  So the code is read before any word of the message.
        challenge = bearer_error(response.headers.get("WWW-Authenticate") or "")
        if challenge == "invalid_token" or code == "invalid_token":
            return Verdict(Outcome.TOKEN_INVALID, code or "invalid_token", message)
        lowered = (message or "").lower()
        if any(word in lowered for word in codes.REVOKED_WORDS):
            return Verdict(Outcome.REVOKED, code, message)
        if code in codes.TOKEN_INVALID_CODES:
            return Verdict(Outcome.TOKEN_INVALID, code, message)
    return Verdict(Outcome.ERROR, code, message)
