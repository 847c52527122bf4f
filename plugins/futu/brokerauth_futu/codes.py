"""Futu's error answers to legacy API-key requests, and what each means to a session.

Futu publishes no list of these; the sandbox answers in the dialect its docs show elsewhere,
``{"code": <number>, "message": "...", "data": null}`` with HTTP 401, using the codes below.
:func:`brokerauth_futu.plugin.interpret_response` also recognises the meaning from the message
("timestamp", "revoked"), so a real server that words its refusals that way is understood
without knowing its numbers.
"""

from __future__ import annotations

from typing import Final

#: The signature does not match the request.
SIGNATURE_INVALID: Final = 401001
#: ``X-Api-Timestamp`` is outside the 60-second window (a replay, or a clock that is off).
TIMESTAMP_EXPIRED: Final = 401002
#: The access token is unknown or past its expiry.
TOKEN_INVALID: Final = 401003
#: The credential was revoked in the developer portal.
CREDENTIAL_REVOKED: Final = 401004
#: The app key is unknown.
APP_KEY_INVALID: Final = 401005
#: A malformed request (a missing header, a bad parameter).
BAD_REQUEST: Final = 400001

CLOCK_SKEW_CODES: Final = frozenset({str(TIMESTAMP_EXPIRED)})
TOKEN_INVALID_CODES: Final = frozenset({str(TOKEN_INVALID)})
REVOKED_CODES: Final = frozenset({str(CREDENTIAL_REVOKED)})

#: Words in a refusal's message that say the same, for servers with other numbers.
CLOCK_SKEW_WORDS: Final = ("timestamp",)
REVOKED_WORDS: Final = ("revoked",)
