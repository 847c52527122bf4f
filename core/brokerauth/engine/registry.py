"""The grant registry's store side: which identities of a profile have a stored token.

A platform (one profile, a token per user) asks its store for every key of the profile
through the optional ``list_tokens`` hook, on the plugin that declared the profile's store,
with the store's own options: the same way a binding loads and saves a token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from brokerauth.contract.errors import BrokerAuthError, PluginError, StoreError
from brokerauth.contract.tokens import TokenKey

if TYPE_CHECKING:
    from brokerauth.engine.binding import ProfileBinding
    from brokerauth.engine.pluginhost import PluginHost
    from brokerauth.engine.resolve import ResolvedProfile

__all__ = ["UnlistableStoreError", "stored_keys"]


class UnlistableStoreError(StoreError):
    """The profile's store cannot list what it keeps (its plugin has no ``list_tokens``)."""

    def __init__(self, message: str, *, store: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.store = store


def stored_keys(
    source: ProfileBinding | ResolvedProfile, host: PluginHost | None = None
) -> Iterator[TokenKey]:
    """Every key with a stored token for the profile of ``source`` (a binding, or a resolved
    profile with the ``host`` it was resolved by), each once, in no particular order, lazily.

    Nothing is decoded: a key whose entry is unreadable is listed, and loading it says what
    is wrong.

    :raises UnlistableStoreError: the profile's store does not implement listing (raised at
        once, before the first key).
    :raises ~brokerauth.contract.errors.StoreError: the store could not be listed (possibly
        while the keys are being gone through).
    :raises ~brokerauth.contract.errors.PluginError: the store's plugin failed, or gave
        something that is not a key of this profile.
    """
    from brokerauth.engine.resolve import ResolvedProfile

    if isinstance(source, ResolvedProfile):
        if host is None:
            raise TypeError("stored_keys(resolved_profile) needs the host it was resolved by")
        resolved = source
    else:
        resolved, host = source.resolved, source.host
    store = resolved.store
    keys = host.list_tokens(store.name, resolved.name, store.options, owner=store.owner)
    if keys is None:
        raise _unlistable(host, resolved.name, store.name, store.owner)
    return _checked(keys, resolved.name, store.name, store.owner)


def _checked(
    keys: Iterable[TokenKey], profile: str, store: str, owner: str
) -> Iterator[TokenKey]:
    """The keys as the plugin gives them, lazily, with its failures named as the host names
    them: a lazy listing fails after the host's call has returned."""
    seen: set[TokenKey] = set()
    try:
        for key in keys:
            if not isinstance(key, TokenKey) or key.profile != profile:
                raise PluginError(
                    f"plugin {owner!r} listed {_shown(key)} for profile {profile!r} of its "
                    f"store {store!r}: a store lists the keys of the profile asked for, and "
                    "only those",
                    hint="this is a bug in the plugin; report it",
                )
            if key not in seen:
                seen.add(key)
                yield key
    except BrokerAuthError:
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin {owner!r} failed in list_tokens: {type(exc).__name__}",
            hint="this is a bug in the plugin; report it with the traceback above",
        ) from exc


def _shown(key: object) -> str:
    if isinstance(key, TokenKey):
        return f"a key of profile {key.profile!r}"
    return f"a {type(key).__name__}, not a TokenKey,"


def _unlistable(host: PluginHost, profile: str, store: str, owner: str) -> UnlistableStoreError:
    from brokerauth.engine.pluginhost import BUILTIN, KNOWN_DISTRIBUTIONS

    listing = [name for name in sorted(_listing_stores(host)) if name != store] or ["file"]
    steps = []
    loaded = host.loaded.get(owner)
    distribution = loaded.distribution if loaded is not None else KNOWN_DISTRIBUTIONS.get(owner)
    if distribution and owner != BUILTIN:
        steps.append(f"a newer {distribution} may list it: pip install --upgrade {distribution}")
    steps.append(f"keep the profile's tokens in a store that lists "
                 f"({', '.join(repr(name) for name in listing)}): "
                 f'store = "{listing[0]}" in profile {profile!r}')
    steps.append("install a store plugin that can (`brokerauth plugins` shows what each "
                 "installed one provides)")
    return UnlistableStoreError(
        f"profile {profile!r}: its store {store!r} (plugin {owner!r}) cannot list the tokens "
        "it keeps, so its users cannot be listed",
        store=store,
        hint="; or ".join(steps),
    )


def _listing_stores(host: PluginHost) -> set[str]:
    """The names of the known stores whose plugin implements ``list_tokens``."""
    from brokerauth.contract.hookspecs import PROJECT

    marker = f"{PROJECT}_impl"  # where pluggy's HookimplMarker leaves its mark
    found = set()
    for (kind, name), (_spec, owner) in host.strategies.items():
        loaded = host.loaded.get(owner)
        if kind != "store" or loaded is None:
            continue
        implementation = getattr(loaded.plugin, "list_tokens", None)
        if implementation is not None and hasattr(implementation, marker):
            found.add(name)
    return found
