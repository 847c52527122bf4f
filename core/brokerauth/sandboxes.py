"""The shape of a broker sandbox as the core sees it (see ``brokerauth.sandbox`` for the
server toolkit plugins build theirs with)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Sandbox(Protocol):
    """A local emulator of a broker's server, listening on loopback once started."""

    #: ``http://127.0.0.1:PORT`` once started.
    base_url: str

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def profile_settings(self) -> dict[str, Any]:
        """Profile keys (broker settings) that point a profile at this sandbox. Secret keys are
        given as ``{ "value": ... }`` references that only code, never TOML, may use."""
        ...
