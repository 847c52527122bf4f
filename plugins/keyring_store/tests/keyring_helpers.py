"""Small helpers of the keyring store's tests."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from brokerauth.contract.tokens import Token


def make_token(label: str = "t", **changes: Any) -> Token:
    """A fresh, valid-looking token with random secrets."""
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "access_token": f"{label}-{secrets.token_urlsafe(16)}",
        "refresh_token": f"{label}-refresh-{secrets.token_urlsafe(16)}",
        "broker": "bearer_double",
        "issued_at": now,
        "expires_at": now + timedelta(hours=1),
        "extra": {"client": "c-1"},
    }
    fields.update(changes)
    return Token(**fields)


def keyring_store(**options: Any) -> dict[str, Any]:
    """A profile's ``store`` value for the keyring store."""
    return {"name": "keyring", **options}
