"""What a plugin says about itself: the brokers and strategies it provides.

Returned by the ``describe_plugin`` hook.  The core reads these to choose strategies by name,
to structure a profile's settings, and to list what is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

StrategyKind = Literal["signer", "flow", "store", "notifier"]
#: The kinds every profile has (its broker names a default for each).
STRATEGY_KINDS: tuple[StrategyKind, ...] = ("signer", "flow", "store")
#: A profile's optional notifier (``notify = { name = "webhook", url = ... }``): none unless
#: the profile names one; it delivers :class:`~brokerauth.contract.events.CredentialEvent`.
NOTIFIER: StrategyKind = "notifier"


@attrs.frozen
class StrategySpec:
    """A named strategy a plugin implements.

    ``needs`` lists the settings attributes the strategy reads (``app_key``...), so a profile
    that combines it with another broker's settings fails early and clearly.  ``options`` is an
    attrs class for the strategy's own settings, given in a profile as
    ``store = { name = "file", path = "..." }``.  ``options_from`` gives the options a profile
    leaves out, from the profile's broker settings, so that one setting can steer the strategy
    too (the Futu store's folder is the profile's ``token_dir`` unless the store names its own
    ``path``); it must accept any broker's settings, and ``None`` values in its answer are left
    out.
    """

    kind: StrategyKind
    name: str
    description: str = ""
    needs: tuple[str, ...] = ()
    options: type[Any] | None = None
    options_from: Callable[[Any], Mapping[str, Any]] | None = None


@attrs.frozen
class Environment:
    """A named environment of a broker (production region, sandbox, UAT)."""

    name: str
    description: str = ""
    hosts: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class CallBudget:
    """A limit a broker puts on its token endpoints: at most ``calls`` requests in any ``per``
    seconds (see :mod:`brokerauth.toolkit.budget`)."""

    #: A name for the record the count is kept in, unique within the broker.
    name: str
    calls: int
    per: float
    #: ``"app"``: one count for every user of the profile's app credentials; ``"identity"``:
    #: one per user (a platform acting for many users).
    scope: Literal["app", "identity"] = "app"
    description: str = ""


@attrs.frozen
class BrokerSpec:
    """A broker a plugin supports and the strategies a profile gets by default.

    ``settings`` is an attrs class; the profile's broker keys are structured into it with
    unknown keys rejected.  It must offer an ``api_base_url`` attribute (``https://host``) that
    sessions resolve paths against, and may offer ``credential_origins``: the URLs of the other
    origins the profile's credentials may be sent to (a quotes host, a token endpoint on a host
    of its own).  Requests to any origin outside these and the profile's ``allowed_origins``
    are refused before they are signed.
    """

    id: str
    settings: type[Any]
    signer: str
    flow: str
    store: str = "file"
    description: str = ""
    environments: tuple[Environment, ...] = ()
    #: The broker's limits on its token endpoints; every request a token flow sends counts.
    token_budgets: tuple[CallBudget, ...] = ()


@attrs.frozen
class PluginInfo:
    """Everything one plugin provides."""

    brokers: tuple[BrokerSpec, ...] = ()
    strategies: tuple[StrategySpec, ...] = ()
    description: str = ""
