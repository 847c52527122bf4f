"""Finding, loading and calling plugins: the one typed facade over pluggy.

Plugins are entry points in the group ``brokerauth``; the entry-point name is the plugin's id
(for a broker plugin, its broker id).  Nothing is imported until needed: a profile loads the
built-in plugin and its broker's plugin, and only a strategy found nowhere else makes the host
load the rest.  A plugin that fails to load is recorded with its traceback and does not stop
the others.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from brokerauth.contract import hookspecs
from brokerauth.contract.errors import (
    BrokerAuthError,
    PluginError,
    PluginLoadError,
    UnknownStrategyError,
)
from brokerauth.contract.specs import (
    NOTIFIER,
    BrokerSpec,
    CallBudget,
    PluginInfo,
    StrategyKind,
    StrategySpec,
)
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.engine import entrypoints

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from datetime import datetime

    from brokerauth.contract.events import CredentialEvent
    from brokerauth.contract.flowcontext import FlowContext
    from brokerauth.contract.verdicts import Verdict
    from brokerauth.contract.wire import Request, Response
    from brokerauth.engine.entrypoints import EntryPointLike

ENTRY_POINT_GROUP = "brokerauth"
SignFunction = Callable[["Request", Any, "Token | None", "datetime", str], Mapping[str, str]]
#: The id of the core's own strategies, registered in code before any entry point.
BUILTIN = "builtin"
#: The webhook notifier built into the core: a plugin of its own, loaded only when a profile
#: names a notifier (or everything is listed), so a command without one never imports it.
BUILTIN_WEBHOOK = "builtin.webhook"
#: Plugin ids no distribution may take.
BUILTINS = (BUILTIN, BUILTIN_WEBHOOK)
#: Distributions published with brokerauth, by the id of the plugin they install: the only
#: names an error advises to ``pip install`` (never one made from what a user typed).
KNOWN_DISTRIBUTIONS: Mapping[str, str] = {
    "webull": "brokerauth-webull",
    "webull_connect": "brokerauth-webull-connect",
    "futu": "brokerauth-futu",
    "redis": "brokerauth-redis",
    "sql": "brokerauth-sql",
    "keyring": "brokerauth-keyring",
}

_HOOKS_BY_KIND: dict[StrategyKind, tuple[str, ...]] = {
    "signer": ("sign_request",),
    "flow": ("acquire_token", "refresh_token"),
    "store": ("load_token", "store_token", "delete_token", "lock_token"),
    "notifier": ("notify",),
}


@attrs.frozen
class LoadedPlugin:
    name: str
    distribution: str
    version: str
    info: PluginInfo
    plugin: Any = attrs.field(repr=False, eq=False)


@attrs.frozen
class PluginFailure:
    name: str
    distribution: str
    version: str
    error: PluginLoadError


def _direct(pm: pluggy.PluginManager, impl: Any, spec_names: tuple[str, ...],
            through_pluggy: Callable[..., Any]) -> Callable[..., Any]:
    """A caller of a ``firstresult`` hook's one plain implementation that skips pluggy's hook
    executor while nothing watches it, calling it as ``_multicall`` would (its declared
    arguments, in order): the executor's frames and lists cost as much as signing a request.
    With a monitor or tracer installed, every call goes through pluggy, so they still see
    each one.  Arguments come by name, or all of them positionally in the spec's order (the
    signing path): an implementation that declares them all, in that order, is then called
    with them as they are."""
    from pluggy._callers import _multicall

    function, names = impl.function, tuple(impl.argnames)
    in_spec_order = names == spec_names

    def caller(*args: Any, **kwargs: Any) -> Any:
        if args:
            if pm._inner_hookexec is _multicall and in_spec_order:
                return function(*args)
            kwargs = dict(zip(spec_names, args, strict=True))
        if pm._inner_hookexec is not _multicall:
            return through_pluggy(**kwargs)
        try:
            arguments = [kwargs[name] for name in names]
        except KeyError:
            return through_pluggy(**kwargs)  # pluggy's own error names the argument
        return function(*arguments)

    return caller


def _plugin_bug(hook: str, owner: str, exc: Exception) -> PluginError:
    return PluginError(
        f"plugin {owner!r} failed in {hook}: {type(exc).__name__}",
        hint="this is a bug in the plugin; report it with the traceback above",
    )


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _install_hint(name: str) -> str:
    distribution = KNOWN_DISTRIBUTIONS.get(name)
    if distribution is not None:
        return f"pip install {distribution}"
    return "install the plugin that provides it; `brokerauth plugins` lists what is installed"


def _core_version() -> str:
    from brokerauth._version import __version__

    return __version__


def _dist_of(entry_point: EntryPointLike) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return entry_point.value.split(":")[0].split(".")[0], "?"
    return dist.name, dist.version


class PluginHost:
    """Owns one pluggy manager; made by :meth:`create`, never a module global."""

    def __init__(
        self,
        entry_points: Mapping[str, EntryPointLike],
        clashes: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._entry_points = dict(entry_points)
        self.loaded: dict[str, LoadedPlugin] = {}
        self.failures: dict[str, PluginFailure] = {}
        self._strategies: dict[tuple[StrategyKind, str], tuple[StrategySpec, str]] = {}
        self._brokers: dict[str, tuple[BrokerSpec, str]] = {}
        #: (hook, plugin) -> that hook restricted to that plugin, for :meth:`_call`.
        self._callers: dict[tuple[str, str], Callable[..., Any]] = {}
        for name, distributions in (clashes or {}).items():
            if name in BUILTINS:
                # The built-ins still load; what is refused is the distribution posing as them.
                for distribution in distributions:
                    self._fail(f"{name} (from {distribution})", distribution, "?", PluginError(
                        f"the plugin name {name!r} is brokerauth's own; the distribution "
                        f"{distribution!r} registers a plugin under it"),
                        hint=f"uninstall it (pip uninstall {distribution}) or report it to its "
                             "authors")
                continue
            self._fail(name, distributions[0], "?", PluginError(
                f"two installed distributions register the plugin {name!r}: "
                f"{' and '.join(distributions)}"),
                hint="uninstall the one you do not want; neither is loaded until then")

    @classmethod
    def create(cls, entry_points: Iterable[EntryPointLike] | None = None) -> PluginHost:
        """A host over the installed entry points (or the given ones, for embedding); the
        built-in strategies need none.  An id registered by two distributions is loaded from
        neither (see :attr:`failures`)."""
        if entry_points is None:
            entry_points = entrypoints.entry_points(ENTRY_POINT_GROUP)
        found: dict[str, EntryPointLike] = {}
        clashes: dict[str, list[str]] = {}
        for ep in entry_points:
            if ep.name in BUILTINS:
                clashes.setdefault(ep.name, []).append(_dist_of(ep)[0])
                continue
            if ep.name in found:
                first = _dist_of(found[ep.name])[0]
                if _dist_of(ep)[0] != first or ep.value != found[ep.name].value:
                    clashes.setdefault(ep.name, [first]).append(_dist_of(ep)[0])
                continue
            found[ep.name] = ep
        for name in clashes:
            found.pop(name, None)
        return cls(found, {name: tuple(d) for name, d in clashes.items()})

    # -- discovery -------------------------------------------------------------------------
    @property
    def available(self) -> list[str]:
        """Ids of every installed plugin, loaded or not (the built-in ones included)."""
        return sorted({*BUILTINS, *self._entry_points})

    def load(self, name: str) -> LoadedPlugin:
        """Import and register one plugin by id; raises :class:`PluginLoadError` on failure."""
        if name in self.loaded:
            return self.loaded[name]
        if name in self.failures:
            raise self.failures[name].error
        if name == BUILTIN:
            from brokerauth.builtin.plugin import BuiltinPlugin

            loaded = self._register(BuiltinPlugin(), BUILTIN, "brokerauth", _core_version())
            self.loaded[name] = loaded
            return loaded
        if name == BUILTIN_WEBHOOK:
            from brokerauth.builtin.webhook import WebhookPlugin

            loaded = self._register(WebhookPlugin(), name, "brokerauth", _core_version())
            self.loaded[name] = loaded
            return loaded
        ep = self._entry_points.get(name)
        if ep is None:
            raise PluginError(
                f"no plugin named {name!r} is installed "
                f"(installed: {', '.join(self.available) or 'none'})" + _did_you_mean(
                    name, self.available),
                hint=_install_hint(name),
            )
        distribution, version = _dist_of(ep)
        try:
            obj = ep.load()
            loaded = self._register(obj() if inspect.isclass(obj) else obj, name,
                                    distribution, version)
        except Exception as exc:
            self._fail(name, distribution, version, exc)
            raise self.failures[name].error from exc
        self.loaded[name] = loaded
        return loaded

    def _fail(self, name: str, distribution: str, version: str, exc: Exception, *,
              hint: str | None = None) -> None:
        error = PluginLoadError(name, distribution, exc, hint=hint)
        error.__cause__ = exc
        self.failures[name] = PluginFailure(name, distribution, version, error)

    def load_all(self) -> None:
        """Load every installed plugin; failures are recorded in :attr:`failures`."""
        for name in (BUILTIN, *self.available):
            if name not in self.loaded and name not in self.failures:
                with contextlib.suppress(PluginLoadError):
                    self.load(name)

    def _register(self, obj: Any, name: str, distribution: str, version: str) -> LoadedPlugin:
        self._pm.register(obj, name=name)
        self._callers.clear()
        try:
            # A misspelled hook or argument fails here, loudly, naming the plugin.
            self._pm.check_pending()
            info = self._describe(obj, name)
            self._index(info, name, obj)
        except BaseException:
            self._pm.unregister(obj)
            self._callers.clear()
            raise
        return LoadedPlugin(name, distribution, version, info, obj)

    def _describe(self, obj: Any, name: str) -> PluginInfo:
        others = [p for p in self._pm.get_plugins() if p is not obj]
        results = self._pm.subset_hook_caller("describe_plugin", remove_plugins=others)()
        if not results:
            return PluginInfo()
        info = results[0]
        if not isinstance(info, PluginInfo):
            raise PluginError(f"plugin {name!r}: describe_plugin() must return a PluginInfo")
        return info

    def monitor(self, before: Callable[[str, Mapping[str, Any]], None]) -> Callable[[], None]:
        """Call ``before(hook_name, kwargs)`` ahead of every hook call (for debugging and
        tracing); returns a function that stops it."""

        def on_call(hook_name: str, _impls: Any, kwargs: Mapping[str, Any]) -> None:
            before(hook_name, kwargs)

        return self._pm.add_hookcall_monitoring(on_call, lambda *args: None)

    def _index(self, info: PluginInfo, owner: str, obj: Any) -> None:
        for strategy in info.strategies:
            key = (strategy.kind, strategy.name)
            if key in self._strategies and self._strategies[key][1] != owner:
                raise PluginError(
                    f"{strategy.kind} strategy {strategy.name!r} is declared by both "
                    f"{self._strategies[key][1]!r} and {owner!r}"
                )
            for hook in _HOOKS_BY_KIND[strategy.kind]:
                caller = getattr(self._pm.hook, hook)
                if not any(impl.plugin is obj for impl in caller.get_hookimpls()):
                    raise PluginError(
                        f"plugin {owner!r} declares {strategy.kind} strategy "
                        f"{strategy.name!r} but does not implement the {hook} hook"
                    )
        for strategy in info.strategies:
            self._strategies[(strategy.kind, strategy.name)] = (strategy, owner)
        for broker in info.brokers:
            if broker.id in self._brokers and self._brokers[broker.id][1] != owner:
                raise PluginError(
                    f"broker {broker.id!r} is declared by both "
                    f"{self._brokers[broker.id][1]!r} and {owner!r}"
                )
            self._brokers[broker.id] = (broker, owner)

    # -- lookup ----------------------------------------------------------------------------
    def broker(self, broker_id: str) -> tuple[BrokerSpec, str]:
        """The broker's spec and the id of the plugin declaring it, loading as little as can be."""
        self.load(BUILTIN)
        if broker_id not in self._brokers and (broker_id in self._entry_points
                                               or broker_id in self.failures):
            self.load(broker_id)
        if broker_id not in self._brokers:
            self.load_all()
        if broker_id not in self._brokers:
            raise PluginError(
                f"no installed plugin provides broker {broker_id!r} "
                f"(brokers: {', '.join(sorted(self._brokers)) or 'none'})"
                + _did_you_mean(broker_id, self._brokers) + self._failure_note(),
                hint=_install_hint(broker_id),
            )
        return self._brokers[broker_id]

    def strategy(self, kind: StrategyKind, name: str) -> tuple[StrategySpec, str]:
        """The strategy's spec and owner; loads every plugin only if it is not already known."""
        self.load(BUILTIN)
        if (kind, name) not in self._strategies and kind == NOTIFIER:
            self.load(BUILTIN_WEBHOOK)
        if (kind, name) not in self._strategies:
            self.load_all()
        found = self._strategies.get((kind, name))
        if found is None:
            available = [n for (k, n) in self._strategies if k == kind]
            raise UnknownStrategyError(kind, name, available, note=self._failure_note())
        return found

    def _failure_note(self) -> str:
        if not self.failures:
            return ""
        names = ", ".join(f"{f.name} ({f.distribution})" for f in self.failures.values())
        return f"; plugins that failed to load: {names} (see `brokerauth plugins`)"

    @property
    def brokers(self) -> dict[str, tuple[BrokerSpec, str]]:
        return dict(self._brokers)

    @property
    def strategies(self) -> dict[tuple[StrategyKind, str], tuple[StrategySpec, str]]:
        return dict(self._strategies)

    # -- typed hook calls ------------------------------------------------------------------
    def _caller(self, hook: str, owner: str) -> Callable[..., Any]:
        """``hook`` as pluggy calls it, restricted to ``owner``: the plugin that declared the
        strategy (or broker) the call names, and no other.

        The owner's implementations, listed once per (hook, owner) and forgotten whenever a
        plugin is registered or unregistered, handed to the manager's hook executor on each
        call: pluggy's ``_multicall`` runs them, and monitors (which wrap that executor) see
        every call; an implementation may declare only the arguments it uses.
        """
        try:
            return self._callers[(hook, owner)]
        except KeyError:
            owner_plugin = self._pm.get_plugin(owner)
            hook_caller = getattr(self._pm.hook, hook)
            impls = [impl for impl in hook_caller.get_hookimpls()
                     if impl.plugin is owner_plugin]
            firstresult = bool(hook_caller.spec and hook_caller.spec.opts.get("firstresult"))
            # Bound to the manager: it reads the current (monitored or not) executor per call.
            execute = self._pm._hookexec

            spec_names = tuple(hook_caller.spec.argnames) if hook_caller.spec else ()

            def caller(*args: Any, **kwargs: Any) -> Any:
                if args:  # every argument, in the spec's order
                    kwargs = dict(zip(spec_names, args, strict=True))
                return execute(hook, impls, kwargs, firstresult)

            if firstresult and len(impls) == 1 and not (impls[0].hookwrapper
                                                        or impls[0].wrapper):
                caller = _direct(self._pm, impls[0], spec_names, caller)
            self._callers[(hook, owner)] = caller
            return caller

    def _call(self, hook: str, owner: str, **kwargs: Any) -> Any:
        try:
            return self._caller(hook, owner)(**kwargs)
        except BrokerAuthError:
            raise
        except Exception as exc:
            raise _plugin_bug(hook, owner, exc) from exc

    def sign_request(
        self,
        signer: str,
        request: Request,
        settings: Any,
        token: Token | None,
        now: datetime,
        nonce: str,
        *,
        owner: str,
    ) -> Mapping[str, str]:
        return self.signer(signer, owner=owner)(request, settings, token, now, nonce)

    def signer(self, signer: str, *, owner: str) -> SignFunction:
        """``sign_request`` of ``signer`` as a plain function of ``(request, settings, token,
        now, nonce)``: a session resolves it once and signs every request through it."""
        declared = self._strategies.get(("signer", signer))
        if declared is not None and declared[1] != owner:
            raise PluginError(f"signer {signer!r} is not declared by plugin {owner!r}")
        callers, key = self._callers, ("sign_request", owner)

        def sign(request: Request, settings: Any, token: Token | None, now: datetime,
                 nonce: str) -> Mapping[str, str]:
            # Looked up on each call: registering a plugin makes the host forget its callers.
            caller = callers.get(key) or self._caller(*key)
            try:
                # Positionally, in the spec's order: the plugin's function is then called
                # as it is, with no argument dict made per request.
                headers: Mapping[str, str] | None = caller(signer, request, settings, token,
                                                           now, nonce)
            except BrokerAuthError:
                raise
            except Exception as exc:
                raise _plugin_bug("sign_request", owner, exc) from exc
            if headers is None:
                raise PluginError(f"plugin {owner!r} did not sign with its signer {signer!r}")
            return headers

        return sign

    def acquire_token(self, flow: str, context: FlowContext, *, owner: str) -> Token | None:
        result = self._call("acquire_token", owner, flow=flow, context=context)
        return self._checked_token(result, owner)

    def refresh_token(
        self, flow: str, context: FlowContext, token: Token, *, owner: str
    ) -> Token | None:
        result = self._call("refresh_token", owner, flow=flow, context=context, token=token)
        return self._checked_token(result, owner)

    def revoke_token(
        self, flow: str, context: FlowContext, token: Token, *, owner: str
    ) -> bool:
        """``False`` also when the owner does not implement the (optional) hook."""
        result = self._call("revoke_token", owner, flow=flow, context=context, token=token)
        return bool(result)

    def load_token(self, store: str, key: TokenKey, options: Any, *, owner: str) -> Token | None:
        return self._checked_token(
            self._call("load_token", owner, store=store, key=key, options=options), owner
        )

    def store_token(
        self, store: str, key: TokenKey, token: Token, options: Any, *, owner: str
    ) -> None:
        self._call("store_token", owner, store=store, key=key, token=token, options=options)

    def delete_token(self, store: str, key: TokenKey, options: Any, *, owner: str) -> bool:
        return bool(self._call("delete_token", owner, store=store, key=key, options=options))

    def lock_token(
        self, store: str, key: TokenKey, options: Any, timeout: float, *, owner: str
    ) -> AbstractContextManager[bool]:
        lock = self._call(
            "lock_token", owner, store=store, key=key, options=options, timeout=timeout
        )
        if lock is None:
            raise PluginError(f"plugin {owner!r} returned no lock for store {store!r}")
        return lock  # type: ignore[no-any-return]

    def take_call(
        self, store: str, key: TokenKey, options: Any, budget: CallBudget, now: float, *,
        owner: str,
    ) -> float | None:
        """``None`` when the owner does not implement the (optional) hook."""
        wait = self._call("take_call", owner, store=store, key=key, options=options,
                          budget=budget, now=now)
        return None if wait is None else float(wait)

    def explain_signature(
        self, signer: str, request: Request, settings: Any, token: Token | None,
        now: datetime, nonce: str, *, owner: str,
    ) -> Mapping[str, str] | None:
        """``None`` when the owner does not implement the (optional) hook."""
        steps = self._call("explain_signature", owner, signer=signer, request=request,
                           settings=settings, token=token, now=now, nonce=nonce)
        if steps is not None and not isinstance(steps, Mapping):
            raise PluginError(f"plugin {owner!r} explained a signature with "
                              f"{type(steps).__name__}, not a mapping of names to texts")
        return steps

    def load_tokens(
        self, store: str, keys: Sequence[TokenKey], options: Any, *, owner: str
    ) -> dict[TokenKey, Token | BrokerAuthError] | None:
        """``None`` when the owner does not implement the (optional) hook; otherwise each
        asked key with a token or the error reading it, never a key that was not asked."""
        found = self._call("load_tokens", owner, store=store, keys=keys, options=options)
        if found is None:
            return None
        if not isinstance(found, Mapping):
            raise PluginError(f"plugin {owner!r} answered load_tokens with "
                              f"{type(found).__name__}, not a mapping of keys to tokens")
        asked = set(keys)
        result: dict[TokenKey, Token | BrokerAuthError] = {}
        for key, value in found.items():
            if key not in asked:
                raise PluginError(f"plugin {owner!r} answered load_tokens with a key it was "
                                  "not asked for")
            checked = value if isinstance(value, BrokerAuthError) else self._checked_token(
                value, owner)
            if checked is not None:
                result[key] = checked
        return result

    def list_tokens(
        self, store: str, profile: str, options: Any, *, owner: str
    ) -> Iterable[TokenKey] | None:
        """``None`` when the owner does not implement the (optional) hook."""
        keys = self._call("list_tokens", owner, store=store, profile=profile, options=options)
        return keys  # type: ignore[no-any-return]

    def notify(self, notifier: str, event: CredentialEvent, options: Any, *,
               owner: str) -> bool:
        return bool(self._call("notify", owner, notifier=notifier, event=event,
                               options=options))

    def interpret_response(
        self, broker: str, settings: Any, request: Request, response: Response
    ) -> Verdict | None:
        """The verdict of the plugin declaring ``broker``; ``None`` (the core's RFC rules)
        when that plugin has no opinion or no plugin declares it."""
        declared = self._brokers.get(broker)
        if declared is None:
            return None
        verdict = self._call("interpret_response", declared[1], broker=broker,
                             settings=settings, request=request, response=response)
        return verdict  # type: ignore[no-any-return]

    @staticmethod
    def _checked_token(result: Any, owner: str) -> Token | None:
        if result is not None and not isinstance(result, Token):
            raise PluginError(
                f"plugin {owner!r} returned {type(result).__name__} where a Token was expected"
            )
        return result
