"""Entry points whose object is given directly, as code embedding the plugin host may pass."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class FakeDistribution:
    name: str
    version: str = "1.0"


@attrs.frozen
class FakeEntryPoint:
    name: str
    obj: Any
    dist: FakeDistribution | None = None
    value: str = "somewhere:plugin"

    def load(self) -> Any:
        return self.obj
