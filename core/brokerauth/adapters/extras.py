"""What an adapter raises when its library (its extra's) is not installed."""

from __future__ import annotations

from brokerauth.contract.errors import ConfigError


class MissingExtraError(ConfigError, ModuleNotFoundError):
    """An adapter's library is not installed: the extra to install is named.  Also a
    ``ModuleNotFoundError``, so code that tries the import and falls back still does."""

    def __init__(self, module: str, extra: str) -> None:
        ConfigError.__init__(
            self,
            f"brokerauth's {extra} adapter needs the {module!r} package, which is not installed",
            hint=f"pip install 'brokerauth[{extra}]'",
        )
        self.name = module


def missing_extra(exc: ModuleNotFoundError, extra: str, modules: tuple[str, ...]) -> Exception:
    """What an adapter module raises when importing ``modules`` (its extra's) failed with
    ``exc``: :class:`MissingExtraError` if one of them is the missing module, else ``exc``."""
    missing = (exc.name or "").partition(".")[0]
    return MissingExtraError(missing, extra) if missing in modules else exc
