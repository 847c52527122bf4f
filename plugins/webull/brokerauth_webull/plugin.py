"""The hooks of the Webull OpenAPI plugin (entry point ``brokerauth: webull``).

Provides the broker ``webull``, the signer ``webull-hmac`` (usable by any broker whose
settings carry ``app_key``, ``app_secret`` and ``signature_algorithm``, e.g. Webull Connect)
and the flow ``webull-2fa`` (:mod:`~brokerauth_webull.twofactor`).  Only what signing needs
is imported eagerly: the flow is imported when a token is needed, and the sandbox (an HTTP
server) when one is made, so ``brokerauth sign`` starts fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from brokerauth.contract.hookspecs import hookimpl
from brokerauth.contract.specs import BrokerSpec, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request, Response

from brokerauth_webull.endpoints import TOKEN_BUDGET
from brokerauth_webull.environments import ENVIRONMENTS
from brokerauth_webull.hmac_headers import NEEDS as SIGNER_NEEDS
from brokerauth_webull.hmac_headers import hmac_headers
from brokerauth_webull.settings import WebullSettings

if TYPE_CHECKING:
    from brokerauth.contract.flowcontext import FlowContext
    from brokerauth.contract.verdicts import Verdict

BROKER: Final = "webull"
SIGNER: Final = "webull-hmac"
FLOW: Final = "webull-2fa"

_INFO: Final = PluginInfo(
    brokers=(
        BrokerSpec(
            id=BROKER,
            settings=WebullSettings,
            signer=SIGNER,
            flow=FLOW,
            store="file",
            description="Webull OpenAPI (HMAC-signed requests, optional 2FA access token)",
            environments=ENVIRONMENTS,
            token_budgets=(TOKEN_BUDGET,),
        ),
    ),
    strategies=(
        StrategySpec(
            kind="signer",
            name=SIGNER,
            description="Webull OpenAPI HMAC signature headers (SDK 3.x compatible)",
            needs=SIGNER_NEEDS,
        ),
        StrategySpec(
            kind="flow",
            name=FLOW,
            description="Webull 2FA access token: create, wait for the SMS code, reuse",
            needs=(
                "app_key",
                "app_secret",
                "environment",
                "token_api",
                "two_factor",
                "poll_interval",
                "verification_timeout",
                "import_sdk_token",
                "sdk_token_dir",
            ),
        ),
    ),
    description="Webull OpenAPI: request signing, 2FA token, local sandbox",
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
    access_token = None if token is None else token.access_token
    return hmac_headers(request, settings, now, nonce, access_token=access_token,
                        strategy=SIGNER)


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
    hmac_headers(request, settings, now, nonce,
                 access_token=None if token is None else token.access_token,
                 strategy=SIGNER, steps=steps)
    return steps


@hookimpl
def acquire_token(flow: str, context: FlowContext) -> Token | None:
    from brokerauth_webull import twofactor

    return twofactor.acquire(context)


@hookimpl
def refresh_token(flow: str, context: FlowContext, token: Token) -> Token | None:
    from brokerauth_webull import twofactor

    return twofactor.refresh(context, token)


@hookimpl
def interpret_response(broker: str, response: Response) -> Verdict | None:
    if 200 <= response.status < 300:
        return None
    # Only an error answer needs these: they stay out of the start of `brokerauth sign`.
    from brokerauth.contract.verdicts import Outcome, Verdict, error_fields

    from brokerauth_webull import codes

    code, message = error_fields(response)
    if code in codes.TOKEN_INVALID_CODES:
        return Verdict(Outcome.TOKEN_INVALID, code, message)
    if code in codes.CLOCK_SKEW_CODES:
        return Verdict(Outcome.CLOCK_SKEW, code, message)
    if code == "UNAUTHORIZED" and message:
        lowered = message.lower()
        if any(word in lowered for word in codes.REVOKED_WORDS):
            return Verdict(Outcome.REVOKED, code, message)
    if code in codes.CREDENTIAL_CODES:
        return Verdict(Outcome.ERROR, code, message, hint=codes.CREDENTIALS_HINT)
    return Verdict(Outcome.ERROR, code, message)
