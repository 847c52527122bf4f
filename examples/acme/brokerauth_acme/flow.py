"""Acme's token flow: client credentials, then rotating refresh tokens."""

from __future__ import annotations

from datetime import timedelta

from brokerauth.errors import BrokerError, LoginRequiredError, ResponseError
from brokerauth.flowcontext import FlowContext
from brokerauth.tokens import Token
from brokerauth.wire import Response

TOKEN_PATH = "/oauth/token"


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
                hint=f"run `brokerauth login {context.profile}`",
            )
    if not response.ok:
        body = _json_or_empty(response)
        raise BrokerError(
            str(body.get("error_description") or "Acme refused the token request"),
            status=response.status,
            code=str(body["error"]) if "error" in body else None,
        )
    body = response.json_object()
    access = body.get("access_token")
    lifetime = body.get("expires_in")
    if not isinstance(access, str) or not isinstance(lifetime, int) or lifetime <= 0:
        raise ResponseError("Acme's token answer lacks access_token or expires_in",
                            status=response.status)
    refresh_token = body.get("refresh_token")
    if refresh_token is not None and not isinstance(refresh_token, str):
        raise ResponseError("Acme's refresh_token is not a string", status=response.status)
    now = context.clock.now()
    return Token(
        access_token=access,
        broker="acme",
        expires_at=now + timedelta(seconds=lifetime),
        # A server that does not rotate sends no refresh token: keep the one we have.
        refresh_token=refresh_token or (previous.refresh_token if previous else None),
        identity=context.identity,
        issued_at=now,
    )


def _json_or_empty(response: Response) -> dict[str, object]:
    try:
        return response.json_object()
    except ResponseError:
        return {}
