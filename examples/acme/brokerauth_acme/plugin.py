"""Acme's hook implementations: one broker, one signer, one flow, one sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from brokerauth import hookimpl
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.specs import BrokerSpec, CallBudget, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token
from brokerauth.contract.verdicts import Outcome, Verdict, error_fields
from brokerauth.contract.wire import Request, Response
from brokerauth.toolkit.headers import bearer_authorization

from brokerauth_acme.settings import AcmeSettings
from brokerauth_acme.signing import signature, string_to_sign

BROKER = "acme"
SIGNER = "acme-hmac"
FLOW = "acme-client-credentials"


@hookimpl
def describe_plugin() -> PluginInfo:
    return PluginInfo(
        description="Acme, a fictional broker (example plugin)",
        brokers=(BrokerSpec(
            BROKER, AcmeSettings, signer=SIGNER, flow=FLOW,
            # Acme's documented limit on its token endpoint; the core never exceeds it.
            token_budgets=(CallBudget("token", 600, 60.0, "app"),),
        ),),
        strategies=(
            StrategySpec("signer", SIGNER, "HMAC-SHA256 over the request, Bearer token",
                         needs=("client_id", "client_secret")),
            StrategySpec("flow", FLOW, "client credentials with rotating refresh tokens"),
        ),
    )


@hookimpl
def sign_request(
    signer: str, request: Request, settings: Any, token: Token | None, now: datetime, nonce: str
) -> Mapping[str, str] | None:
    timestamp = str(int(now.timestamp()))
    authorization = bearer_authorization(token) if token is not None else ""
    message = string_to_sign(
        request.method, request.host, request.path, request.query_string, timestamp, nonce,
        request.body, authorization,
    )
    headers = {
        "X-Acme-Client": settings.client_id,
        "X-Acme-Timestamp": timestamp,
        "X-Acme-Nonce": nonce,
        "X-Acme-Signature": signature(settings.client_secret.reveal(), message),
    }
    if authorization:
        headers["Authorization"] = authorization
    return headers


@hookimpl
def acquire_token(flow: str, context: FlowContext) -> Token | None:
    from brokerauth_acme import flow as acme_flow

    return acme_flow.acquire(context)


@hookimpl
def refresh_token(flow: str, context: FlowContext, token: Token) -> Token | None:
    from brokerauth_acme import flow as acme_flow

    return acme_flow.refresh(context, token)


@hookimpl
def revoke_token(flow: str, context: FlowContext, token: Token) -> bool | None:
    from brokerauth_acme import flow as acme_flow

    return acme_flow.revoke(context, token)


@hookimpl
def interpret_response(broker: str, response: Response) -> Verdict | None:
    if response.ok:
        return None
    code, message = error_fields(response)
    if code == "stale_request":
        return Verdict(Outcome.CLOCK_SKEW, code, message)
    if code == "revoked":
        return Verdict(Outcome.REVOKED, code, message)
    return None
