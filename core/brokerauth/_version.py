"""The version of the core distribution, and the ``User-Agent`` brokerauth sends, in one place.

Imported by ``import brokerauth``: nothing here imports anything.
"""

__version__ = "0.1.0"

# RFC 9110 token characters: what a product name or version may hold.
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _token(text: str) -> str:
    return "".join(c for c in text if c in _TCHARS)


def user_agent(distribution: str | None = None, version: str | None = None) -> str:
    """``brokerauth/VERSION``, then ``DISTRIBUTION/VERSION`` of the broker plugin when given.

    What every request brokerauth sends carries (API requests, token requests, webhooks)
    unless the caller's own headers name a ``User-Agent``.  The plugin's product is left out
    when it is brokerauth itself (a built-in strategy) or has no name; an unknown version
    (``"?"``, empty) leaves the name alone.  Characters a product token cannot hold are
    dropped, so the result is always a valid header value.
    """
    agent = f"brokerauth/{__version__}"
    name = _token(distribution or "")
    if not name or name == "brokerauth":
        return agent
    release = _token(version or "")
    return f"{agent} {name}/{release}" if release else f"{agent} {name}"
