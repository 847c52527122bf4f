"""Turning a profile into what a session runs: its broker's settings structured with the
plugin's settings class, and each strategy bound to the plugin that declared it.

Everything here happens before any network call, so every profile mistake surfaces as one
:class:`~brokerauth.contract.errors.ProfileError` naming the file, profile, key and fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from brokerauth.contract.errors import PluginError, ProfileError
from brokerauth.contract.specs import (
    NOTIFIER,
    STRATEGY_KINDS,
    BrokerSpec,
    StrategyKind,
    StrategySpec,
)
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import (
    CORE_KEYS,
    NOTIFY_KEY,
    Profile,
    StrategyChoice,
)
from brokerauth.toolkit.converter import make_converter, structure_plain, unknown_key_problem

if TYPE_CHECKING:
    import cattrs


@attrs.frozen
class BoundStrategy:
    kind: StrategyKind
    name: str
    owner: str
    spec: StrategySpec
    options: Any = None


@attrs.frozen
class ResolvedProfile:
    profile: Profile
    broker: BrokerSpec
    broker_plugin: str
    settings: Any
    signer: BoundStrategy
    flow: BoundStrategy
    store: BoundStrategy
    #: The profile's notifier, if it names one.
    notifier: BoundStrategy | None = None

    @property
    def name(self) -> str:
        return self.profile.name

    def bound(self, kind: StrategyKind) -> BoundStrategy:
        strategy: BoundStrategy = getattr(self, kind)
        return strategy


def resolve_profile(
    profile: Profile, host: PluginHost, converter: cattrs.Converter | None = None
) -> ResolvedProfile:
    try:
        broker, broker_plugin = host.broker(profile.broker)
    except PluginError as exc:
        raise ProfileError(
            exc.message, profile=profile.name, key="broker", file=profile.source, hint=exc.hint
        ) from exc
    settings = structure_settings(
        converter, dict(profile.settings), broker.settings, profile, prefix=""
    )
    bound: dict[str, BoundStrategy] = {}
    for kind in STRATEGY_KINDS:
        choice = profile.strategy(kind)
        name = choice.name if choice is not None else getattr(broker, kind)
        bound[kind] = _bind(kind, kind, name, choice, profile, host, settings, converter)
    notifier = None
    if profile.notify is not None:
        notifier = _bind(NOTIFIER, NOTIFY_KEY, profile.notify.name, profile.notify, profile,
                         host, settings, converter)
    return ResolvedProfile(
        profile=profile,
        broker=broker,
        broker_plugin=broker_plugin,
        settings=settings,
        signer=bound["signer"],
        flow=bound["flow"],
        store=bound["store"],
        notifier=notifier,
    )


def _bind(kind: StrategyKind, key: str, name: str, choice: StrategyChoice | None,
          profile: Profile, host: PluginHost, settings: Any,
          converter: cattrs.Converter | None) -> BoundStrategy:
    """The strategy ``name`` of ``kind`` bound to its plugin, its options structured; ``key``
    is the profile key that chose it (for messages)."""
    try:
        spec, owner = host.strategy(kind, name)
    except PluginError as exc:
        raise ProfileError(
            exc.message, profile=profile.name, key=key, file=profile.source, hint=exc.hint
        ) from exc
    options = None
    raw_options = dict(choice.options) if choice is not None else {}
    if spec.options_from is not None:
        raw_options = {**_implied_options(spec, owner, settings), **raw_options}
    if spec.options is not None:
        options = structure_settings(
            converter, raw_options, spec.options, profile, prefix=f"{key}."
        )
    elif raw_options:
        raise ProfileError(
            f"{kind} strategy {name!r} takes no options (got {', '.join(sorted(raw_options))})",
            profile=profile.name,
            key=key,
            file=profile.source,
            hint=f'write {key} = "{name}"',
        )
    missing = [need for need in spec.needs if not hasattr(settings, need)]
    if missing:
        raise ProfileError(
            f"{kind} strategy {name!r} needs settings {', '.join(missing)}, which broker "
            f"{profile.broker!r} does not have",
            profile=profile.name,
            key=key,
            file=profile.source,
            hint=f"choose a {kind} made for {profile.broker!r}, or remove the override",
        )
    return BoundStrategy(kind, name, owner, spec, options)


def _implied_options(spec: StrategySpec, owner: str, settings: Any) -> dict[str, Any]:
    """The options ``spec.options_from`` derives from the profile's settings, ``None`` values
    left out.  A plugin's mistake there is the plugin's error, named as such: the profile
    wrote none of these keys."""
    derive, options = spec.options_from, spec.options
    if derive is None or options is None:  # no options to derive
        return {}
    try:
        implied = dict(derive(settings))
    except Exception as exc:
        raise PluginError(
            f"plugin {owner!r}: the {spec.kind} strategy {spec.name!r} failed to derive its "
            f"options from the profile's settings ({type(exc).__name__})",
            hint=f"report it to the plugin's authors; choose another {spec.kind} meanwhile",
        ) from exc
    fields = {field.name for field in attrs.fields(options)}
    unknown = sorted(str(k) for k in implied if k not in fields)
    if unknown:
        raise PluginError(
            f"plugin {owner!r}: the {spec.kind} strategy {spec.name!r} derives options it "
            f"does not have ({', '.join(unknown)})",
            hint="report it to the plugin's authors",
        )
    return {k: v for k, v in implied.items() if v is not None}


def structure_settings(
    converter: cattrs.Converter | None,
    raw: dict[str, Any],
    cls: type[Any],
    profile: Profile,
    *,
    prefix: str,
) -> Any:
    """Structure ``raw`` into ``cls``; the first problem becomes a :class:`ProfileError`.

    A converter is made only when ``raw`` is not plain (see :func:`structure_plain`), which is
    also the case whenever something is wrong with it."""
    plain = structure_plain(raw, cls)
    if plain is not None:
        return plain
    converter = converter or make_converter()
    try:
        return converter.structure(raw, cls)
    except Exception as exc:
        # A broker's settings sit beside the core's keys: a near miss may be of either.
        key, problem, hint = _first_problem(exc, cls, also=CORE_KEYS if not prefix else ())
        if key is None:
            key = _field_refusing(converter, raw, cls)
        raise ProfileError(
            problem,
            profile=profile.name,
            key=f"{prefix}{key}" if key else (prefix.rstrip(".") or None),
            file=profile.source,
            hint=hint,
        ) from None


def _field_refusing(converter: cattrs.Converter, raw: dict[str, Any], cls: type[Any]) -> str | None:
    """The key whose own validator refuses its value, when the class as a whole was refused
    (an attrs validator's error carries no field name)."""
    if not attrs.has(cls):
        return None
    try:
        fields = attrs.fields(attrs.resolve_types(cls))
    except Exception:  # unresolvable annotations: keep the message without a key
        return None
    for field in fields:
        key: str = field.alias or field.name
        if key not in raw or field.validator is None:
            continue
        try:
            value = converter.structure(raw[key], field.type)
            field.validator(None, field, value)
        except Exception:
            return key
    return None


def _field_names(cls: type[Any]) -> list[str]:
    return [f.alias or f.name for f in attrs.fields(cls)] if attrs.has(cls) else []


def _first_problem(exc: BaseException, cls: type[Any],
                   also: tuple[str, ...] = ()) -> tuple[str | None, str, str | None]:
    """``(key, problem, hint)`` for the first error cattrs found; ``also``: the keys valid
    beside ``cls``'s fields (for the nearest key to an unknown one)."""
    from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

    if isinstance(exc, ForbiddenExtraKeysError):
        extra = sorted(exc.extra_fields)[0]
        fields = _field_names(cls)
        known = ", ".join(fields)
        return (extra, unknown_key_problem(extra, [*fields, *also]),
                f"remove it, or use one of: {known}")
    if isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            name = str(note.name)
            if isinstance(inner, ClassValidationError | ForbiddenExtraKeysError):
                sub_key, problem, hint = _first_problem(inner, note.type or cls)
                return (f"{name}.{sub_key}" if sub_key else name), problem, hint
            return name, *_describe(inner, note.type)
        for inner in without:
            return _first_problem(inner, cls, also)
    if isinstance(exc, KeyError):
        return str(exc.args[0]), "is required", "add it to the profile"
    if isinstance(exc, TypeError | ValueError):
        return None, f"is invalid: {exc}", None
    return None, f"is invalid ({type(exc).__name__})", None


def _describe(exc: BaseException, expected: Any) -> tuple[str, str | None]:
    from typing import Literal, get_args, get_origin

    if get_origin(expected) is Literal:
        allowed = ", ".join(str(value) for value in get_args(expected))
        return f"must be one of: {allowed}", f"give it one of: {allowed}"
    type_name = getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
    if isinstance(exc, KeyError):
        return "is required", "add it to the profile"
    if type_name == "Secret" and str(exc).startswith("unknown key "):
        return (f"is not a secret reference: {exc}",
                'write { env = "NAME" } or { file = "path" }')
    if type_name == "Secret":
        return (
            "must be a secret reference",
            'use { env = "NAME" } or { file = "path" }: never the secret itself',
        )
    if isinstance(exc, ValueError) and str(exc).startswith("expected "):
        return f"has the wrong type: {exc}", f"give it a value of type {type_name}"
    if isinstance(exc, ValueError) and str(exc):
        return f"is invalid: {exc}", "see `brokerauth plugins` for the broker's settings"
    return f"must be of type {type_name}", f"give it a value of type {type_name}"
