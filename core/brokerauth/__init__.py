"""brokerauth: sign requests, obtain, refresh and safely store credentials for broker APIs."""

from brokerauth.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
