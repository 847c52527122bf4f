"""The bench's emulator of the bearer double, under its old name (see ``__init__.py``)."""

from brokerauth_sandbox.bearer.sandbox import BearerDoubleSandbox

__all__ = ["BearerDoubleSandbox"]
