"""Dynamic client registration (RFC 7591) and where its answer is kept.

A profile without ``client_id`` registers a public client on its first login, exactly as
Futu's docs do with curl::

    {"redirect_uris": [...], "token_endpoint_auth_method": "none",
     "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
     "client_name": "..."}

The answer is saved, so later logins reuse the client rather than registering a new one each
time, in ``T/.brokerauth/@registrations/<hash>.json`` beside the token files (``T`` being the
profile's ``token_dir``).  The hash covers the registration endpoint, the redirect URI and
the client name, the three things a registration is for; a change to any of them registers
anew.  The file is written 0600 and atomically like a token, because the answer carries a
``registration_access_token`` (a bearer credential for managing the client, RFC 7592); for
the same reason no message or log line here ever includes the answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Final

from brokerauth.contract.errors import BrokerError, ResponseError, StoreError
from brokerauth.contract.flowcontext import HttpClient
from brokerauth.contract.tokens import TokenKey
from brokerauth.contract.verdicts import error_fields
from brokerauth.toolkit import privatefiles as files

from brokerauth_futu import sdkformat
from brokerauth_futu.tokenfile import records_folder

log = logging.getLogger("brokerauth.futu.registration")

FOLDER: Final = "@registrations"
_LIMIT: Final = 64 * 1024


def request_body(redirect_uri: str, client_name: str,
                 scope: str | None = None) -> dict[str, Any]:
    """The registration request, field for field as in Futu's documentation, with the scope
    the logins will ask for, as futu-cli sends it."""
    body: dict[str, Any] = {
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": client_name,
    }
    if scope:
        body["scope"] = scope
    return body


def record_path(top: Path, endpoint: str, redirect_uri: str, client_name: str) -> Path:
    digest = hashlib.sha256(
        "\n".join((endpoint, redirect_uri, client_name)).encode("utf-8")
    ).hexdigest()[:32]
    return records_folder(top) / FOLDER / f"{digest}.json"


def load(path: Path, key: TokenKey, redirect_uri: str) -> str | None:
    """The client id of a saved registration at ``path`` that still fits, else ``None``."""
    top = path.parent.parent.parent
    if not files.ensure_folders(top, path.parent, key, create=False):
        return None
    data = files.read_private(path, key, "client registration", limit=_LIMIT)
    if data is None:
        return None
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    client_id = answer.get("client_id") if isinstance(answer, dict) else None
    uris = answer.get("redirect_uris") if isinstance(answer, dict) else None
    if not isinstance(client_id, str) or not sdkformat.valid_client_id(client_id):
        raise StoreError(
            f"client registration {path} is damaged",
            hint=f"delete {path}; the next login registers a new client",
        )
    if isinstance(uris, list) and redirect_uri not in uris:
        return None
    return client_id


def register(
    http: HttpClient, endpoint: str, redirect_uri: str, client_name: str,
    scope: str | None = None,
) -> dict[str, Any]:
    """POST the registration and return the server's answer (checked, not logged)."""
    response = http.request(
        "POST", endpoint, json=request_body(redirect_uri, client_name, scope), sign=False
    )
    if not response.ok:
        code, message = error_fields(response)
        raise BrokerError(
            message or "the OAuth client registration was refused",
            status=response.status,
            code=code,
            hint="check oauth_base_url and register_path, or give a client_id from Futu",
        )
    answer = response.json_object()
    client_id = answer.get("client_id")
    if not isinstance(client_id, str) or not sdkformat.valid_client_id(client_id):
        raise ResponseError(
            "the registration answer has no usable client_id", status=response.status
        )
    uris = answer.get("redirect_uris")
    if isinstance(uris, list) and redirect_uri not in uris:
        raise ResponseError(
            "the registration answer does not list our redirect URI", status=response.status
        )
    return answer


def save(path: Path, key: TokenKey, answer: dict[str, Any]) -> None:
    top = path.parent.parent.parent
    files.ensure_folders(top, path.parent, key, create=True)
    files.write_private(
        path, json.dumps(answer, ensure_ascii=True).encode("ascii"), key, "client registration"
    )
    log.info("registered OAuth client %s; saved in %s", answer["client_id"], path)


def forget(path: Path) -> bool:
    """Delete a saved registration (the server no longer knows the client)."""
    return files.remove(path, "client registration") if path.exists() else False
