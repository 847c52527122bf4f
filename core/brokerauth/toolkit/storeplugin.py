"""The hooks every store plugin answers the same way: each hands the call to the store made
for the profile's store options (one store per distinct options value, made on first use and
kept for the life of the plugin host's instance).

A store plugin subclasses :class:`StorePlugin`, names its strategy, its options class and a
profile example for the error hint, and says how a store is made (importing its heavy
modules there, so listing plugins costs nothing)::

    class RedisPlugin(StorePlugin[RedisStoreOptions, "RedisStore"]):
        store_name = "redis"
        options_type = RedisStoreOptions
        example = 'store = { name = "redis", url = "redis://host:6379/0" }'

        def make_store(self, options: RedisStoreOptions) -> RedisStore:
            from brokerauth_redis.store import RedisStore
            return RedisStore(options)

Its ``describe_plugin`` hook stays its own.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from brokerauth.contract.errors import BrokerAuthError, ConfigError
from brokerauth.contract.hookspecs import hookimpl
from brokerauth.contract.specs import CallBudget
from brokerauth.contract.tokens import Token, TokenKey

__all__ = ["StorePlugin", "TokenStore"]


class TokenStore(Protocol):
    """What a store made by a :class:`StorePlugin` does."""

    def load(self, key: TokenKey) -> Token | None: ...
    def save(self, key: TokenKey, token: Token) -> None: ...
    def delete(self, key: TokenKey) -> bool: ...
    def list_keys(self, profile: str) -> Iterable[TokenKey]: ...
    def take_call(self, key: TokenKey, budget: CallBudget, now: float) -> float: ...
    def lock(self, key: TokenKey, timeout: float) -> AbstractContextManager[bool]: ...


OptionsT = TypeVar("OptionsT")
StoreT = TypeVar("StoreT", bound=TokenStore)


class StorePlugin(ABC, Generic[OptionsT, StoreT]):
    """The store hooks, delegating to :meth:`store_for`."""

    #: The strategy's name in profiles (``store = { name = ... }``).
    store_name: ClassVar[str]
    #: The options class the profile's store table is structured into.
    options_type: ClassVar[type[Any]]
    #: A profile line for the hint of a wrong-options error.
    example: ClassVar[str]
    #: What a profile must give when the store has no usable defaults ("a url"); ``None``:
    #: a profile may name the store alone, and the options' defaults are used.
    needs: ClassVar[str | None] = None

    def __init__(self) -> None:
        self._stores: dict[OptionsT, StoreT] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._stores)} stores)"

    @abstractmethod
    def make_store(self, options: OptionsT) -> StoreT:
        """A new store for ``options`` (called once per distinct options value)."""

    @hookimpl
    def load_token(self, store: str, key: TokenKey, options: Any) -> Token | None:
        return self.store_for(options).load(key)

    @hookimpl
    def load_tokens(
        self, store: str, keys: Sequence[TokenKey], options: Any
    ) -> Mapping[TokenKey, Token | BrokerAuthError] | None:
        # A store that can read many at once says so with a load_many; others are read
        # one key at a time by the core.
        load_many = getattr(self.store_for(options), "load_many", None)
        return None if load_many is None else load_many(keys)

    @hookimpl
    def store_token(self, store: str, key: TokenKey, token: Token, options: Any) -> None:
        self.store_for(options).save(key, token)

    @hookimpl
    def delete_token(self, store: str, key: TokenKey, options: Any) -> bool | None:
        return self.store_for(options).delete(key)

    @hookimpl
    def list_tokens(self, store: str, profile: str, options: Any) -> Iterable[TokenKey] | None:
        return self.store_for(options).list_keys(profile)

    @hookimpl
    def take_call(
        self, store: str, key: TokenKey, options: Any, budget: CallBudget, now: float
    ) -> float | None:
        return self.store_for(options).take_call(key, budget, now)

    @hookimpl
    def lock_token(
        self, store: str, key: TokenKey, options: Any, timeout: float
    ) -> AbstractContextManager[bool] | None:
        return self.store_for(options).lock(key, timeout)

    def store_for(self, options: Any) -> StoreT:
        """The store for ``options``, made on first use."""
        if options is None and self.needs is None:
            options = self.options_type()
        if not isinstance(options, self.options_type):
            wanted = self.options_type.__name__
            raise ConfigError(
                f"the {self.store_name} store needs {self.needs}"
                if options is None else
                f"the {self.store_name} store's options must be {wanted}, not "
                f"{type(options).__name__}",
                hint=f"in a profile: {self.example}",
            )
        found = self._stores.get(options)
        if found is not None:
            return found
        with self._guard:
            found = self._stores.get(options)
            if found is None:
                found = self._stores[options] = self.make_store(options)
            return found

    def close(self) -> None:
        """Let go of every store's connections (they reconnect if used again)."""
        with self._guard:
            stores = list(self._stores.values())
        for store in stores:
            close = getattr(store, "close", None)
            if close is not None:
                close()
