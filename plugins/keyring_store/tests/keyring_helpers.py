"""Small helpers of the keyring store's tests (tokens of the bearer double's broker come from
the test bench: :mod:`brokerauth_sandbox.bearer.helpers`)."""

from __future__ import annotations

from typing import Any

from brokerauth_sandbox.bearer.helpers import make_token

__all__ = ["keyring_store", "make_token"]


def keyring_store(**options: Any) -> dict[str, Any]:
    """A profile's ``store`` value for the keyring store."""
    return {"name": "keyring", **options}
