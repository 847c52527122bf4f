"""The one cattrs converter brokerauth structures profiles and tokens with.

Made by :func:`make_converter`; unknown keys are rejected, secrets are structured from
``{ env = "NAME" }`` / ``{ file = "path" }`` references, datetimes from ISO 8601 strings.

:func:`structure_plain` (internal: the profile loader's, not an API) gives the converter's
result for the common, simple case without cattrs: a command that reads one valid profile
(``brokerauth sign``) starts without importing cattrs or generating its structuring code,
about 13 ms of a 75 ms start.  ``tests/test_converter_shadow.py`` holds the two side by side
on every installed plugin's settings classes.
"""

from __future__ import annotations

import types
from collections import abc
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

import attrs

from brokerauth.contract.clock import utc_text
from brokerauth.toolkit.secrets import Secret

if TYPE_CHECKING:
    import cattrs

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
        unknown = sorted(str(k) for k in keys - {"env", "file"})
        # A key is shown only if it could be a slip for env or file (short, a name): a
        # secret pasted as the key must not reach a message.
        if unknown and len(unknown[0]) <= 6 and unknown[0].isidentifier():
            raise ValueError(unknown_key_problem(unknown[0], ("env", "file")))
    if isinstance(value, str):
        raise ValueError(f"a literal secret is not allowed here; {_SECRET_HELP}")
    raise ValueError(_SECRET_HELP)


def unknown_key_problem(key: str, known: Iterable[str]) -> str:
    """What to say of an unknown key ``key`` of a profile: ``unknown key 'stroe'; did you mean
    'store'?`` when one of ``known`` (the core's keys and the broker's, a strategy's options,
    or a secret reference's) is close to it."""
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")


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


#: How each plain type is structured, by the converter and by :func:`structure_plain` alike.
_HOOKS: dict[type, Callable[[Any, type], Any]] = {
    str: _strict(str, (str,), "text"),
    int: _strict(int, (int,), "an integer"),
    float: _strict(float, (int, float), "a number"),
    bool: _strict(bool, (bool,), "true or false"),
    Secret: _structure_secret,
    datetime: _structure_datetime,
}


def make_converter() -> cattrs.Converter:
    """A converter that forbids unknown keys and reports every error with its path."""
    from cattrs.preconf.json import make_converter as make_json_converter

    converter = make_json_converter(forbid_extra_keys=True, detailed_validation=True)
    for kind, hook in _HOOKS.items():
        converter.register_structure_hook(kind, hook)
    converter.register_unstructure_hook(Secret, _unstructure_secret)
    converter.register_unstructure_hook(datetime, utc_text)
    return converter


class _NotPlain(Exception):
    """A value :func:`structure_plain` leaves to the converter."""


def structure_plain(raw: Mapping[str, Any], cls: type[Any]) -> Any | None:
    """What :func:`make_converter`'s converter makes of ``raw`` as a ``cls``, computed without
    cattrs when that is simple: ``cls`` is an attrs class, every key of ``raw`` one of its
    fields, every such field of a plain type (text, number, boolean, secret, date-time, a
    ``Literal`` of them, a mapping of them, or one of those or ``None``) and every value
    acceptable.  ``None``
    otherwise: the converter then structures the value, or reports what is wrong with it, in
    its own words.
    """
    if not attrs.has(cls):
        return None
    try:
        plan = _plan(cls)
        given: dict[str, Any] = {}
        for key, value in raw.items():
            structure = plan.get(key)
            if structure is None:
                return None
            given[key] = structure(value)
        return cls(**given)
    except Exception:
        return None


@cache
def _plan(cls: type[Any]) -> dict[str, Callable[[Any], Any]]:
    # Worked out once per class: every token a store reads goes through here, and reading
    # the field types again for each would cost more than structuring the values.
    return {field.name: _compiled(field.type) for field in attrs.fields(attrs.resolve_types(cls))
            if field.init and field.alias == field.name}


@cache
def _compiled(kind: Any) -> Callable[[Any], Any]:
    """How a value of ``kind`` is structured the plain way (raising :class:`_NotPlain` for
    what is left to the converter)."""
    hook = _HOOKS.get(kind)
    if hook is not None:
        return lambda value: hook(value, kind)
    origin = get_origin(kind)
    if origin is Literal:
        choices = get_args(kind)

        def literal(value: Any) -> Any:
            if value not in choices:
                raise _NotPlain
            return value

        return literal
    if origin is dict or origin is abc.Mapping:
        key_kind, value_kind = get_args(kind)
        structure_key, structure_value = _compiled(key_kind), _compiled(value_kind)

        def mapping(value: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _NotPlain
            return {structure_key(k): structure_value(v) for k, v in value.items()}

        return mapping
    if origin is Union or origin is types.UnionType:
        options = [option for option in get_args(kind) if option is not type(None)]
        if len(options) == 1:
            inner = _compiled(options[0])
            return lambda value: None if value is None else inner(value)
    return _not_plain


def _not_plain(value: Any) -> Any:
    raise _NotPlain
