"""attrs validators and converters that broker plugins' settings classes share.

Each error names the setting (the attrs attribute) and shows what was given, so the core can
report it as a profile mistake on that key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def strip_slash(value: Any) -> Any:
    """A URL without its trailing slashes (paths are joined onto it); other values as they are."""
    return value.rstrip("/") if isinstance(value, str) else value


def positive_seconds(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, not {value!r}")


def not_empty(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


def http_url(*, query: bool = False, example: str = "https://api.example.com") -> Validator:
    """An absolute ``http(s)`` URL (or ``None``), without a fragment, and without a query
    unless ``query``."""

    def check(_: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
        if value is None:
            return
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.fragment
            or (parts.query and not query)
        ):
            raise ValueError(
                f"{attribute.name} must be an absolute http(s) URL"
                + ("" if query else " without a query")
                + f", like {example!r}, not {value!r}"
            )

    return check
