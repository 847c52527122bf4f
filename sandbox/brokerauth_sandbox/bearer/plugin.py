"""One broker, one flow: the client credentials go in the token request's body (so the
built-in ``bearer`` signer is all a request needs), refresh tokens rotate."""

from __future__ import annotations

from datetime import timedelta

import attrs
from brokerauth import hookimpl
from brokerauth.contract.errors import BrokerError, LoginRequiredError
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.specs import BrokerSpec, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Response
from brokerauth.toolkit.oauth import parse_token_answer, token_body
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import http_url

from brokerauth_sandbox.bearer import BROKER

FLOW = "bearer-double-credentials"


@attrs.frozen
class BearerDoubleSettings:
    client_id: str
    client_secret: Secret
    base_url: str = attrs.field(default="https://api.bearer-double.example",
                                validator=http_url())

    @property
    def api_base_url(self) -> str:
        return self.base_url


@hookimpl
def describe_plugin() -> PluginInfo:
    return PluginInfo(
        brokers=(BrokerSpec(BROKER, BearerDoubleSettings, signer="bearer", flow=FLOW),),
        strategies=(StrategySpec("flow", FLOW, "client credentials, rotating refresh tokens"),),
    )


@hookimpl
def acquire_token(flow: str, context: FlowContext) -> Token | None:
    return _token(context, {"grant_type": "client_credentials"}, previous=None)


@hookimpl
def refresh_token(flow: str, context: FlowContext, token: Token) -> Token | None:
    if token.refresh_token is None:
        raise LoginRequiredError(f"{context.profile}: no refresh token is stored")
    return _token(context, {"grant_type": "refresh_token", "refresh_token": token.refresh_token},
                  previous=token)


def _token(context: FlowContext, form: dict[str, str], previous: Token | None) -> Token:
    settings = context.settings
    response: Response = context.http.request("POST", "/oauth/token", data={
        **form, "client_id": settings.client_id, "client_secret": settings.client_secret.reveal(),
    })
    if response.status == 400 and b"invalid_grant" in response.content:
        raise LoginRequiredError(f"{context.profile}: the refresh token was refused",
                                 hint=f"run `{context.login_command}`")
    if not response.ok:
        raise BrokerError("the token request was refused", status=response.status)
    return parse_token_answer(token_body(response, what="the token answer"), broker=BROKER,
                              now=context.clock.now(), status=response.status, previous=previous,
                              identity=context.identity, default_lifetime=timedelta(minutes=10))
