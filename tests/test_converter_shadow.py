"""brokerauth.toolkit.converter.structure_plain gives what the profile loader's cattrs converter
gives, which it stands in for so that a command reading a valid profile starts without cattrs.

For every settings and options class of every installed plugin (each broker's ``settings``
and each strategy's ``options``), on valid and invalid profile tables:

* it never raises: on anything it does not take, it answers None and the converter speaks
  (so an invalid table always gets the converter's own error);
* what it makes is what the converter makes, field by field, of the same type;
* it takes every table its docstring promises to take (keys that are fields of plain types,
  values the converter accepts): otherwise it would cost time instead of saving it.
"""

from __future__ import annotations

import math
import types
from collections import abc
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Union, get_args, get_origin

import attrs
import cattrs
import pytest
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.toolkit.converter import make_converter, structure_plain
from brokerauth.toolkit.secrets import Secret
from hypothesis import given, settings
from hypothesis import strategies as st


def settings_classes() -> dict[str, type[Any]]:
    """Every broker's settings class and every strategy's options class, by where from."""
    host = PluginHost.create()
    host.load_all()
    assert not host.failures, host.failures
    found: dict[str, type[Any]] = {}
    for plugin in host.loaded.values():
        for broker in plugin.info.brokers:
            found[f"{plugin.name}: broker {broker.id}"] = broker.settings
        for strategy in plugin.info.strategies:
            if strategy.options is not None:
                found[f"{plugin.name}: {strategy.kind} {strategy.name}"] = strategy.options
    return found


@attrs.frozen
class EveryPlainType:
    """Each type structure_plain takes, without validators to hide a difference (no installed
    plugin has a date-time, a mapping or an unvalidated Literal among its settings)."""

    text: str
    number: int = 0
    ratio: float = 1.0
    flag: bool = False
    secret: Secret | None = None
    when: datetime | None = None
    choice: Literal["a", "b", 1] = "a"
    table: Mapping[str, str] = attrs.field(factory=dict)
    numbers: dict[str, float] = attrs.field(factory=dict)
    _private: str = "p"
    derived: str = attrs.field(init=False, default="d")


CLASSES = {**settings_classes(), "tests: every plain type": EveryPlainType}
CONVERTER = make_converter()


def environments() -> list[str]:
    host = PluginHost.create()
    host.load_all()
    return sorted({env.name for spec, _ in host.brokers.values() for env in spec.environments})


# -- values a profile could hold ----------------------------------------------------------
#: Text that some settings accept (URLs of each kind, paths, environment names) and some not.
TEXTS = [
    "", "x", " padded ", "é", "https://broker.example", "https://broker.example/api/",
    "http://127.0.0.1:8080", "http://127.0.0.1:8080/callback", "http://localhost:9/cb",
    "http://broker.example", "ftp://broker.example", "wss://broker.example/ws",
    "redis://127.0.0.1:6379/0", "rediss://cache.example:6380", "/oauth/token", "oauth/token",
    "read trade", "brokerauth:", "~/tokens", *environments(),
]
NUMBERS = [0, 1, -1, 3, 30, 600, 86_400, 0.5, 2.5, 1e9, math.inf, math.nan]
SECRETS = [{"env": "BROKERAUTH_X"}, {"file": "~/secret.txt"}, {"env": ""},
           {"env": "A", "file": "b"}, {"env": 1}, {"value": "v"}, "a-literal-secret"]
TIMES = ["2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05",
         "yesterday", datetime(2024, 1, 2, tzinfo=UTC)]
#: Values of no particular type, tried for every field.
JUNK = [None, True, False, 0, 1.5, "text", [], ["a"], {}, {"x": 1}, {"env": "E"}]


def candidates(kind: Any) -> list[Any]:
    """Values for a field of type ``kind``: most it accepts, some it does not."""
    origin = get_origin(kind)
    if kind is str:
        return TEXTS
    if kind is bool:
        return [True, False]
    if kind is int:
        return [n for n in NUMBERS if isinstance(n, int)]
    if kind is float:
        return NUMBERS
    if kind is Secret:
        return SECRETS
    if kind is datetime:
        return TIMES
    if origin is Literal:
        return [*get_args(kind), "not-one-of-them"]
    if origin is Union or origin is types.UnionType:
        return [option_value for option in get_args(kind)
                for option_value in ([None] if option is type(None) else candidates(option))]
    if origin is dict or origin is abc.Mapping:
        return [{}, {"a": "b"}, {"a": 1}, {"a": 1.5}, {"a": True}, {"a": {"env": "E"}},
                {1: "b"}, ["a"]]
    return []


def _fields(cls: type[Any]) -> tuple[attrs.Attribute[Any], ...]:
    return attrs.fields(attrs.resolve_types(cls))


def tables(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Profile tables for ``cls``: its required fields and any subset of the others, each with
    a value it accepts half the time and any candidate otherwise, and now and then a key that
    is not a field's (unknown, a private attribute's own name, an init=False field's)."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in _fields(cls):
        anything = [*candidates(field.type), *JUNK]
        accepted = [value for value in anything if _accepted(value, field)]
        values = st.one_of(st.sampled_from(accepted or anything), st.sampled_from(anything))
        if field.init:
            given = required if field.default is attrs.NOTHING else optional
            given[field.alias or field.name] = values
        if not field.init or (field.alias and field.alias != field.name):
            optional[field.name] = values
    optional["not_a_setting"] = st.sampled_from(JUNK)
    return st.fixed_dictionaries(required, optional=optional)  # type: ignore[arg-type]


# -- comparing the results ------------------------------------------------------------------
def shape(value: Any) -> Any:
    """``value`` as comparable data: a Secret compares by identity, so by its source here."""
    if isinstance(value, Secret):
        return ("secret", value.source)
    if attrs.has(type(value)):
        return (type(value), {f.name: shape(getattr(value, f.name))
                              for f in attrs.fields(type(value))})
    if isinstance(value, Mapping):
        return {shape(k): shape(v) for k, v in value.items()}
    return (type(value), value)


def plain_type(kind: Any) -> bool:
    """A type structure_plain's docstring says it structures by itself."""
    origin = get_origin(kind)
    if kind in (str, int, float, bool, Secret, datetime):
        return True
    if origin is Literal:
        return True
    if origin is dict or origin is abc.Mapping:
        return all(plain_type(arg) for arg in get_args(kind))
    if origin is Union or origin is types.UnionType:
        options = [option for option in get_args(kind) if option is not type(None)]
        return len(options) == 1 and plain_type(options[0])
    return False


def plain_table(raw: Mapping[str, Any], cls: type[Any]) -> bool:
    fields = {f.name: f for f in _fields(cls)}
    return all(key in fields and fields[key].init and (fields[key].alias or key) == key
               and plain_type(fields[key].type) for key in raw)


def check(raw: dict[str, Any], cls: type[Any]) -> str:
    """Compare the two on ``raw``; which way it went."""
    plain = structure_plain(raw, cls)  # never raises: an exception fails the test here
    try:
        expected = CONVERTER.structure(raw, cls)
    except (cattrs.BaseValidationError, cattrs.errors.StructureHandlerNotFoundError,
            TypeError, ValueError, KeyError):
        assert plain is None, f"structure_plain took what the converter refuses: {raw!r}"
        return "refused"
    if plain is None:
        assert not plain_table(raw, cls), f"structure_plain declined a plain table: {raw!r}"
        return "left to cattrs"
    assert type(plain) is type(expected)
    assert shape(plain) == shape(expected), raw
    return "same"


def test_every_installed_plugin_s_classes_are_here() -> None:
    assert {"builtin: store file", "tests: every plain type"} <= set(CLASSES)
    assert all(attrs.has(cls) for cls in CLASSES.values())


@pytest.mark.parametrize("where", sorted(CLASSES))
def test_defaults_and_each_valid_value_alone(where: str) -> None:
    """Each field given alone each value it could get (the others at their defaults, the
    required ones at a value found to pass): the success path of every plain field type."""
    cls = CLASSES[where]
    required = {}
    for field in _fields(cls):
        if field.init and field.default is attrs.NOTHING:
            required[field.alias or field.name] = next(
                (value for value in candidates(field.type)
                 if _accepted(value, field)), None)
    outcomes = []
    for field in _fields(cls):
        if not field.init:
            continue
        for value in [*candidates(field.type), *JUNK]:
            outcomes.append(check({**required, (field.alias or field.name): value}, cls))
    outcomes.append(check(required, cls))
    outcomes.append(check({}, cls))
    if all(plain_type(f.type) for f in _fields(cls) if f.alias in required):
        assert "same" in outcomes, f"{where}: no table was structured without cattrs"


def _accepted(value: Any, field: attrs.Attribute[Any]) -> bool:
    try:
        structured = CONVERTER.structure(value, field.type)
        if field.converter is not None:
            structured = field.converter(structured)  # type: ignore[operator]
        if field.validator is not None:
            field.validator(None, field, structured)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("where", sorted(CLASSES))
@settings(max_examples=150)
@given(data=st.data())
def test_any_table(where: str, data: st.DataObject) -> None:
    cls = CLASSES[where]
    check(data.draw(tables(cls)), cls)
