"""Webull's error answers and token statuses, in one place for the sandbox and the plugin.

Errors are ``{"error_code": ..., "message": ...}``.  Codes, messages and HTTP statuses follow
Webull's published error tables: the current one (developer.webull.hk "Error Codes": every
authentication failure is HTTP 401, a wrong signature and an unknown app key are both
``UNAUTHORIZED``) and the older one (developer.webull.com "Errors": ``INCORRECT_SIGN``,
``ILLEAGAL_TIMESTAMP`` [sic], ``CLOCK_SKEW_EXCEEDED``, ``TOO_MANY_REQUESTS``).  Neither names
a code for a reused nonce; ``DUPLICATE_NONCE`` is this project's choice.
"""

from __future__ import annotations

from typing import Final

import attrs


@attrs.frozen
class WebullError:
    status: int
    code: str
    message: str

    def body(self) -> dict[str, str]:
        return {"error_code": self.code, "message": self.message}


MISSING_APP_KEY: Final = WebullError(401, "MISSING_APP_KEY", "Header x-app-key is missing.")
MISSING_SIGNATURE: Final = WebullError(401, "MISSING_SIGNATURE", "Header x-signature is missing.")
MISSING_ALGORITHM: Final = WebullError(
    401, "MISSING_ALGORITHM", "Header x-signature-algorithm is missing."
)
MISSING_NONCE: Final = WebullError(401, "MISSING_NONCE", "Header x-signature-nonce is missing.")
MISSING_TIMESTAMP: Final = WebullError(401, "MISSING_TIMESTAMP", "Header x-timestamp is missing.")
MISSING_SIGNATURE_VERSION: Final = WebullError(
    401, "MISSING_SIGNATURE_VERSION", "Header x-signature-version is missing."
)
MISSING_VERSION: Final = WebullError(401, "MISSING_VERSION", "Header x-version is missing.")
ALGORITHM_NOT_SUPPORTED: Final = WebullError(
    401,
    "SIGNATURE_ALGORITHM_NOT_SUPPORTED",
    "The signature algorithm is not supported; use HMAC-SHA256 or HMAC-SHA1.",
)
VERSION_NOT_SUPPORTED: Final = WebullError(
    401, "VERSION_NOT_SUPPORTED", "The signature version is not supported; use 1.0."
)
ILLEGAL_TIMESTAMP: Final = WebullError(
    401, "ILLEAGAL_TIMESTAMP", "Header x-timestamp is not in the format yyyy-MM-ddTHH:mm:ssZ."
)
CLOCK_SKEW_EXCEEDED: Final = WebullError(
    401,
    "CLOCK_SKEW_EXCEEDED",
    "Request rejected, x-timestamp clock offset exceeds the maximum allowed.",
)
UNKNOWN_APP_KEY: Final = WebullError(
    401,
    "UNAUTHORIZED",
    "Invalid credentials. Please verify your credentials and ensure you are connecting to "
    "the correct environment.",
)
INCORRECT_SIGNATURE: Final = WebullError(401, "UNAUTHORIZED", "Header x-signature is invalid.")
DUPLICATE_NONCE: Final = WebullError(
    401, "DUPLICATE_NONCE", "Header x-signature-nonce has already been used."
)
INVALID_TOKEN: Final = WebullError(
    401, "INVALID_TOKEN", "Header x-access-token is missing or invalid."
)
TOO_MANY_REQUESTS: Final = WebullError(
    429,
    "TOO_MANY_REQUESTS",
    "A large number of requests in a short period of time trigger current limiting.",
)
ILLEGAL_PARAMETER: Final = WebullError(400, "ILLEGAL_PARAMETER", "Parameter error.")
NOT_FOUND: Final = WebullError(404, "NOT_FOUND", "The requested resource does not exist.")
#: Sandbox only (``/sandbox/2fa/verify``): there is no such token awaiting its SMS code.
NO_PENDING_TOKEN: Final = WebullError(
    404, "NO_PENDING_TOKEN", "No PENDING token to verify (unknown, already verified or expired)."
)

#: What to check when Webull refuses the app's credentials (its signature, its app key).
CREDENTIALS_HINT: Final = ("check app_key, app_secret and the profile's environment (the app "
                           "must belong to that environment)")

#: Codes that mean "the access token is unusable: get a new one".
TOKEN_INVALID_CODES: Final = frozenset({"INVALID_TOKEN", "TOKEN_EXPIRED", "TOKEN_INVALID"})
#: Codes that mean "your clock is off": learn the offset from ``Date`` and resend once.
CLOCK_SKEW_CODES: Final = frozenset({"CLOCK_SKEW_EXCEEDED", "TIMESTAMP_EXPIRED"})
#: Words in an ``UNAUTHORIZED`` message that mean the credential is gone for good.
REVOKED_WORDS: Final = ("revoked", "disabled")
#: Codes that mean "the app's credentials were refused": a wrong signature (app secret), an
#: unknown app key, or an app of another environment (current and older tables).
CREDENTIAL_CODES: Final = frozenset({"UNAUTHORIZED", "INCORRECT_SIGN", "MISSING_APP_KEY"})

# Token statuses (check and create answers).  SDK 2.x stored them as numbers, in this order.
PENDING: Final = "PENDING"
NORMAL: Final = "NORMAL"
INVALID: Final = "INVALID"
EXPIRED: Final = "EXPIRED"
TOKEN_STATUSES: Final = (PENDING, NORMAL, INVALID, EXPIRED)
#: ``Token.token_type`` of a Webull 2FA token (sent as ``x-access-token``, not as a Bearer).
TOKEN_TYPE: Final = "x-access-token"
