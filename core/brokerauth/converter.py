"""The one cattrs converter brokerauth structures profiles and tokens with.

Made by :func:`make_converter`; unknown keys are rejected, secrets are structured from
``{ env = "NAME" }`` / ``{ file = "path" }`` references, datetimes from ISO 8601 strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cattrs
from cattrs.preconf.json import make_converter as make_json_converter

from brokerauth.secrets import Secret

_SECRET_HELP = 'secrets are references: use { env = "NAME" } or { file = "path" }'


def _structure_secret(value: Any, _: type) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"env"} and isinstance(value["env"], str) and value["env"]:
            return Secret(env=value["env"])
        if keys == {"file"} and isinstance(value["file"], str) and value["file"]:
            return Secret(file=value["file"])
    if isinstance(value, str):
        raise ValueError(f"a literal secret is not allowed here; {_SECRET_HELP}")
    raise ValueError(_SECRET_HELP)


def _unstructure_secret(value: Secret) -> dict[str, str]:
    if value.env is not None:
        return {"env": value.env}
    if value.file is not None:
        return {"file": value.file}
    raise ValueError("a secret given as a value cannot be written to a profile")


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise ValueError("expected an ISO 8601 date-time string")
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a time zone (UTC)")
    return parsed.astimezone(UTC)


def _strict(kind: type, accepted: tuple[type, ...], name: str) -> Any:
    def structure(value: Any, _: type) -> Any:
        # TOML already types its values: a number where text belongs is a mistake to report,
        # not something to coerce.
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepted):
            raise ValueError(f"expected {name}, got {type(value).__name__}")
        return kind(value)

    return structure


def make_converter() -> cattrs.Converter:
    """A converter that forbids unknown keys and reports every error with its path."""
    converter = make_json_converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _strict(str, (str,), "text"))
    converter.register_structure_hook(int, _strict(int, (int,), "an integer"))
    converter.register_structure_hook(float, _strict(float, (int, float), "a number"))
    converter.register_structure_hook(bool, _strict(bool, (bool,), "true or false"))
    converter.register_structure_hook(Secret, _structure_secret)
    converter.register_unstructure_hook(Secret, _unstructure_secret)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(datetime, lambda d: d.astimezone(UTC).isoformat())
    return converter
