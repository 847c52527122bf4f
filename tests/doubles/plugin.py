"""The double's hooks: one broker, one signer, one flow (and the settings, signature and token
answers they share with the emulator)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs
from brokerauth import hookimpl
from brokerauth.contract.errors import BrokerError, LoginRequiredError, ResponseError
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.specs import BrokerSpec, CallBudget, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token
from brokerauth.contract.verdicts import Outcome, Verdict, error_fields
from brokerauth.contract.wire import Request, Response
from brokerauth.toolkit.headers import bearer_authorization
from brokerauth.toolkit.oauth import parse_token_answer, token_body
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import http_url

BROKER = "double"
SIGNER = "double-hmac"
FLOW = "double-client-credentials"
TOKEN_PATH = "/oauth/token"
#: The lifetime of a token whose answer has no ``expires_in``.
DEFAULT_LIFETIME: Final = timedelta(minutes=10)
#: The regions a profile may name: a setting checked by the plugin's own validator.
REGIONS = ("us", "hk")


@attrs.frozen
class DoubleSettings:
    client_id: str = attrs.field(metadata={"help": "the client id the double issued"})
    client_secret: Secret = attrs.field(metadata={"help": "the client secret (a reference)"})
    base_url: str = attrs.field(
        default="https://api.double.example",
        validator=http_url(example="https://api.double.example"),
        metadata={"help": "the API root (http:// only for a local sandbox)"},
    )
    region: str = attrs.field(default="us", validator=attrs.validators.in_(REGIONS),
                              metadata={"help": f"one of {', '.join(REGIONS)}"})

    @property
    def api_base_url(self) -> str:
        return self.base_url


def string_to_sign(method: str, host: str, path: str, query: str, timestamp: str, nonce: str,
                   body: bytes | None, authorization: str = "") -> bytes:
    """The token a request carries is signed too: a signature and a token of two generations
    never pass together."""
    digest = hashlib.sha256(body or b"").hexdigest()
    return "\n".join(
        (method, host, path, query, timestamp, nonce, digest, authorization)
    ).encode()


def signature(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@hookimpl
def describe_plugin() -> PluginInfo:
    return PluginInfo(
        description="the core tests' broker",
        brokers=(BrokerSpec(
            BROKER, DoubleSettings, signer=SIGNER, flow=FLOW,
            token_budgets=(CallBudget("token", 600, 60.0, "app"),),
        ),),
        strategies=(
            StrategySpec("signer", SIGNER, "HMAC-SHA256 over the request, Bearer token",
                         needs=("client_id", "client_secret")),
            StrategySpec("flow", FLOW, "client credentials with rotating refresh tokens"),
        ),
    )


def _message(request: Request, token: Token | None, now: datetime, nonce: str
             ) -> tuple[str, str, bytes]:
    timestamp = str(int(now.timestamp()))
    authorization = bearer_authorization(token) if token is not None else ""
    message = string_to_sign(
        request.method, request.host, request.path, request.query_string, timestamp, nonce,
        request.body, authorization,
    )
    return timestamp, authorization, message


@hookimpl
def explain_signature(
    signer: str, request: Request, settings: Any, token: Token | None, now: datetime, nonce: str
) -> Mapping[str, str] | None:
    _, authorization, message = _message(request, token, now, nonce)
    text = message.decode("utf-8", "replace")
    # The string to sign holds the Authorization header: shown with the token masked.
    return {"string to sign": text.replace(authorization, "Bearer ****")
            if authorization else text}


@hookimpl
def sign_request(
    signer: str, request: Request, settings: Any, token: Token | None, now: datetime, nonce: str
) -> Mapping[str, str] | None:
    timestamp, authorization, message = _message(request, token, now, nonce)
    headers = {
        "X-Double-Client": settings.client_id,
        "X-Double-Timestamp": timestamp,
        "X-Double-Nonce": nonce,
        "X-Double-Signature": signature(settings.client_secret.reveal(), message),
    }
    if authorization:
        headers["Authorization"] = authorization
    return headers


@hookimpl
def acquire_token(flow: str, context: FlowContext) -> Token | None:
    response = context.http.request(
        "POST", TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": context.settings.client_id},
    )
    return token_from_answer(context, response, previous=None)


@hookimpl
def refresh_token(flow: str, context: FlowContext, token: Token) -> Token | None:
    if token.refresh_token is None:
        raise LoginRequiredError(f"{context.profile}: no refresh token is stored")
    response = context.http.request(
        "POST", TOKEN_PATH,
        data={"grant_type": "refresh_token", "client_id": context.settings.client_id,
              "refresh_token": token.refresh_token},
    )
    return token_from_answer(context, response, previous=token)


@hookimpl
def revoke_token(flow: str, context: FlowContext, token: Token) -> bool | None:
    response = context.http.request(
        "POST", "/oauth/revoke", data={"token": token.refresh_token or token.access_token}
    )
    if not response.ok:
        body = _json_or_empty(response)
        raise BrokerError("the double refused the revocation", status=response.status,
                          code=str(body["error"]) if "error" in body else None)
    return True


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


def token_from_answer(context: FlowContext, response: Response, previous: Token | None) -> Token:
    """The token of an answer of the token endpoint, or the typed error it amounts to."""
    if response.status in (400, 401):
        body = _json_or_empty(response)
        if body.get("error") == "invalid_grant":
            raise LoginRequiredError(
                f"{context.profile}: the double refused the refresh token",
                hint=f"run `{context.login_command}`",
            )
    if not response.ok:
        body = _json_or_empty(response)
        raise BrokerError(
            str(body.get("error_description") or "the double refused the token request"),
            status=response.status,
            code=str(body["error"]) if "error" in body else None,
        )
    return parse_token_answer(
        token_body(response, what="the double's token answer"),
        broker=BROKER,
        now=context.clock.now(),
        status=response.status,
        previous=previous,
        identity=context.identity,
        default_lifetime=DEFAULT_LIFETIME,
    )


def _json_or_empty(response: Response) -> dict[str, object]:
    try:
        return response.json_object()
    except ResponseError:
        return {}
