"""Acme's token flow: client credentials, then rotating refresh tokens.

Answers are read by the core's :func:`brokerauth.toolkit.oauth.parse_token_answer`, as every OAuth
plugin's should be: one strict reading of ``expires_in`` (whole seconds, 1 s to 10 years) and
of the JSON (no key given twice, at most 64 levels deep) for every broker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from brokerauth.contract.errors import BrokerError, LoginRequiredError, ResponseError
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Response
from brokerauth.toolkit.oauth import parse_token_answer, token_body

TOKEN_PATH = "/oauth/token"
#: Acme's tokens live 10 minutes; an answer without ``expires_in`` is taken to mean that,
#: never a token that does not expire.
DEFAULT_LIFETIME: Final = timedelta(minutes=10)


def acquire(context: FlowContext) -> Token:
    settings = context.settings
    response = context.http.request(
        "POST",
        TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": settings.client_id},
    )
    return _token(context, response, previous=None)


def refresh(context: FlowContext, token: Token) -> Token:
    if token.refresh_token is None:
        raise LoginRequiredError(f"{context.profile}: no refresh token is stored")
    response = context.http.request(
        "POST",
        TOKEN_PATH,
        data={
            "grant_type": "refresh_token",
            "client_id": context.settings.client_id,
            "refresh_token": token.refresh_token,
        },
    )
    return _token(context, response, previous=token)


def revoke(context: FlowContext, token: Token) -> bool:
    response = context.http.request(
        "POST", "/oauth/revoke", data={"token": token.refresh_token or token.access_token}
    )
    if not response.ok:
        body = _json_or_empty(response)
        raise BrokerError("Acme refused the revocation", status=response.status,
                          code=str(body["error"]) if "error" in body else None)
    return True


def _token(context: FlowContext, response: Response, previous: Token | None) -> Token:
    if response.status in (400, 401):
        body = _json_or_empty(response)
        if body.get("error") == "invalid_grant":
            raise LoginRequiredError(
                f"{context.profile}: Acme refused the refresh token",
                hint=f"run `{context.login_command}`",
            )
    if not response.ok:
        body = _json_or_empty(response)
        raise BrokerError(
            str(body.get("error_description") or "Acme refused the token request"),
            status=response.status,
            code=str(body["error"]) if "error" in body else None,
        )
    # A server that does not rotate sends no refresh token: parse_token_answer keeps ours.
    return parse_token_answer(
        token_body(response, what="Acme's token answer"),
        broker="acme",
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
