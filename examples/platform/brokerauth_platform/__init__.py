"""An example platform's web app on Webull Connect: users connect their Webull accounts, the
app lists each user's accounts and every user's grant (see :func:`create_app`)."""

from __future__ import annotations

from brokerauth_platform.app import create_app

__all__ = ["create_app"]
