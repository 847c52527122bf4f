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
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs
import pluggy

from brokerauth import entrypoints, hookspecs
from brokerauth.descriptions import (
    BrokerSpec,
    CallBudget,
    PluginInfo,
    StrategyKind,
    StrategySpec,
)
from brokerauth.errors import BrokerAuthError, PluginError, PluginLoadError, UnknownStrategyError
from brokerauth.tokens import Token, TokenKey

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from datetime import datetime

    from brokerauth.clock import Clock
    from brokerauth.demo import DemoScenario
    from brokerauth.entrypoints import EntryPointLike
    from brokerauth.flowcontext import FlowContext
    from brokerauth.sandboxes import Sandbox
    from brokerauth.verdicts import Verdict
    from brokerauth.wire import Request, Response

ENTRY_POINT_GROUP = "brokerauth"
#: The arguments of ``sign_request`` in the hookspec's order.
_SIGN_ARGS = ("signer", "request", "settings", "token", "now", "nonce")
SignFunction = Callable[["Request", Any, "Token | None", "datetime", str], Mapping[str, str]]
BUILTIN = "builtin"

_HOOKS_BY_KIND: dict[StrategyKind, tuple[str, ...]] = {
    "signer": ("sign_request",),
    "flow": ("acquire_token", "refresh_token"),
    "store": ("load_token", "store_token", "delete_token", "lock_token"),
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


def _plugin_bug(hook: str, owner: str, exc: Exception) -> PluginError:
    return PluginError(
        f"plugin {owner!r} failed in {hook}: {type(exc).__name__}",
        hint="this is a bug in the plugin; report it with the traceback above",
    )


def _dist_of(entry_point: EntryPointLike) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return entry_point.value.split(":")[0].split(".")[0], "?"
    return dist.name, dist.version


class PluginHost:
    """Owns one pluggy manager; made by :meth:`create`, never a module global."""

    def __init__(self, entry_points: Mapping[str, EntryPointLike]) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._entry_points = dict(entry_points)
        self.loaded: dict[str, LoadedPlugin] = {}
        self.failures: dict[str, PluginFailure] = {}
        self._strategies: dict[tuple[StrategyKind, str], tuple[StrategySpec, str]] = {}
        self._brokers: dict[str, tuple[BrokerSpec, str]] = {}
        #: (hook, plugin) -> that plugin's implementation, for :meth:`_call_owner`.
        self._owned: dict[tuple[str, str], pluggy.HookImpl | None] = {}
        self._monitors = 0

    @classmethod
    def create(cls, entry_points: Iterable[EntryPointLike] | None = None) -> PluginHost:
        """A host over the installed entry points (or the given ones, for embedding)."""
        if entry_points is None:
            entry_points = entrypoints.entry_points(ENTRY_POINT_GROUP)
        found: dict[str, EntryPointLike] = {}
        for ep in entry_points:
            found.setdefault(ep.name, ep)
        return cls(found)

    # -- discovery -------------------------------------------------------------------------
    @property
    def available(self) -> list[str]:
        """Ids of every installed plugin, loaded or not."""
        return sorted(self._entry_points)

    def load(self, name: str) -> LoadedPlugin:
        """Import and register one plugin by id; raises :class:`PluginLoadError` on failure."""
        if name in self.loaded:
            return self.loaded[name]
        if name in self.failures:
            raise self.failures[name].error
        ep = self._entry_points.get(name)
        if ep is None:
            raise PluginError(
                f"no plugin named {name!r} is installed "
                f"(installed: {', '.join(self.available) or 'none'})",
                hint=f"pip install brokerauth-{name.replace('_', '-')}",
            )
        distribution, version = _dist_of(ep)
        try:
            loaded = self._register(ep, distribution, version)
        except Exception as exc:
            error = PluginLoadError(name, distribution, exc)
            error.__cause__ = exc
            self.failures[name] = PluginFailure(name, distribution, version, error)
            raise error from exc
        self.loaded[name] = loaded
        return loaded

    def load_all(self) -> None:
        """Load every installed plugin; failures are recorded in :attr:`failures`."""
        for name in self.available:
            if name not in self.loaded and name not in self.failures:
                with contextlib.suppress(PluginLoadError):
                    self.load(name)

    def _register(self, ep: EntryPointLike, distribution: str, version: str) -> LoadedPlugin:
        obj = ep.load()
        if inspect.isclass(obj):
            obj = obj()
        self._pm.register(obj, name=ep.name)
        try:
            # A misspelled hook or argument fails here, loudly, naming the plugin.
            self._pm.check_pending()
            info = self._describe(obj, ep.name)
            self._index(info, ep.name, obj)
        except BaseException:
            self._pm.unregister(obj)
            raise
        return LoadedPlugin(ep.name, distribution, version, info, obj)

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

        undo = self._pm.add_hookcall_monitoring(on_call, lambda *args: None)
        self._monitors += 1

        def stop() -> None:
            self._monitors -= 1
            undo()

        return stop

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
        if broker_id not in self._brokers and broker_id in self._entry_points:
            self.load(broker_id)
        if broker_id not in self._brokers:
            self.load_all()
        if broker_id not in self._brokers:
            raise PluginError(
                f"no installed plugin provides broker {broker_id!r} "
                f"(brokers: {', '.join(sorted(self._brokers)) or 'none'})"
                + self._failure_note(),
                hint=f"pip install brokerauth-{broker_id.replace('_', '-')}",
            )
        return self._brokers[broker_id]

    def strategy(self, kind: StrategyKind, name: str) -> tuple[StrategySpec, str]:
        """The strategy's spec and owner; loads every plugin only if it is not already known."""
        self.load(BUILTIN)
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
    def _call(self, hook: str, owner: str, **kwargs: Any) -> Any:
        caller = getattr(self._pm.hook, hook)
        try:
            return caller(**kwargs)
        except BrokerAuthError:
            raise
        except Exception as exc:
            raise _plugin_bug(hook, owner, exc) from exc

    def _owned_impl(self, hook: str, owner: str) -> pluggy.HookImpl | None:
        try:
            return self._owned[(hook, owner)]
        except KeyError:
            impl = next((i for i in getattr(self._pm.hook, hook).get_hookimpls()
                         if i.plugin_name == owner), None)
            self._owned[(hook, owner)] = impl
            return impl

    def _call_owner(self, hook: str, owner: str, **kwargs: Any) -> Any:
        """Call ``hook`` on ``owner`` alone: the plugin that declared the strategy (or broker)
        the call names.

        Every other implementation answers ``None`` for a strategy or broker it did not declare,
        so the owner's answer is the one pluggy's broadcast would return; calling it directly
        skips pluggy's per-call machinery, about a tenth of the cost of signing a request.
        While a :meth:`monitor` is attached, calls go through pluggy, so the monitor sees them.
        """
        if self._monitors:
            return self._call(hook, owner, **kwargs)
        impl = self._owned_impl(hook, owner)
        if impl is None:
            return None  # the owner does not implement the hook: nobody answers
        try:
            # As pluggy calls it: an implementation may declare only the arguments it uses.
            return impl.function(*[kwargs[name] for name in impl.argnames])
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
        headers = self._call_owner(
            "sign_request", owner, signer=signer, request=request, settings=settings,
            token=token, now=now, nonce=nonce,
        )
        if headers is None:
            raise PluginError(f"plugin {owner!r} did not sign with its signer {signer!r}")
        return headers  # type: ignore[no-any-return]

    def signer(self, signer: str, *, owner: str) -> SignFunction:
        """``sign_request`` of ``signer`` as a plain function of ``(request, settings, token,
        now, nonce)``, resolved once: a session signs every request through it, so the
        per-call dispatch is paid here instead (while a :meth:`monitor` is attached, calls go
        through pluggy as always)."""
        impl = self._owned_impl("sign_request", owner)
        direct: Callable[..., Any] | None = None
        if impl is not None and tuple(impl.argnames) == _SIGN_ARGS:
            direct = impl.function

        def sign(request: Request, settings: Any, token: Token | None, now: datetime,
                 nonce: str) -> Mapping[str, str]:
            if direct is None or self._monitors:
                return self.sign_request(signer, request, settings, token, now, nonce,
                                         owner=owner)
            try:
                headers = direct(signer, request, settings, token, now, nonce)
            except BrokerAuthError:
                raise
            except Exception as exc:
                raise _plugin_bug("sign_request", owner, exc) from exc
            if headers is None:
                raise PluginError(f"plugin {owner!r} did not sign with its signer {signer!r}")
            return cast("Mapping[str, str]", headers)

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
        wait = self._call("take_call", owner, store=store, key=key, options=options,
                          budget=budget, now=now)
        return None if wait is None else float(wait)

    def interpret_response(
        self, broker: str, settings: Any, request: Request, response: Response
    ) -> Verdict | None:
        declared = self._brokers.get(broker)
        call = self._call if declared is None else self._call_owner
        verdict = call(
            "interpret_response", broker if declared is None else declared[1], broker=broker,
            settings=settings, request=request, response=response,
        )
        return verdict  # type: ignore[no-any-return]

    def make_sandbox(self, broker: str, clock: Clock) -> Sandbox | None:
        sandbox: Sandbox | None = self._call("make_sandbox", broker, broker=broker, clock=clock)
        return sandbox

    def demo_scenario(self, broker: str) -> DemoScenario | None:
        scenario: DemoScenario | None = self._call("demo_scenario", broker, broker=broker)
        return scenario

    @staticmethod
    def _checked_token(result: Any, owner: str) -> Token | None:
        if result is not None and not isinstance(result, Token):
            raise PluginError(
                f"plugin {owner!r} returned {type(result).__name__} where a Token was expected"
            )
        return result
