"""The shape of a broker sandbox as the core sees it (see ``brokerauth.sandbox`` for the
server toolkit plugins build theirs with)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Sandbox(Protocol):
    """A local emulator of a broker's server, listening on loopback once started."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def profile_settings(self) -> dict[str, Any]:
        """Broker settings that point a profile here; secrets as
        :meth:`~brokerauth.secrets.Secret.from_value` objects, which only code may use."""
        ...
