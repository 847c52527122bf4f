"""The one error hierarchy of brokerauth.

Every error a user can see derives from :class:`BrokerAuthError`.  Messages never contain a
secret: constructors take only what is safe to show (names, codes, the broker's own message).
"""

from __future__ import annotations

from collections.abc import Sequence


class BrokerAuthError(Exception):
    """Base class of every brokerauth error."""

    #: A short hint telling the user what to do next; shown by the command line.
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text}\n  fix: {self.hint}"
        return text


class ConfigError(BrokerAuthError):
    """A profile or a setting is wrong; raised before any network call."""


class ProfileError(ConfigError):
    """A mistake in one profile, naming the file, the profile and the key."""

    def __init__(
        self,
        problem: str,
        *,
        profile: str | None = None,
        key: str | None = None,
        file: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = []
        if file:
            where.append(f"file {file}")
        if profile:
            where.append(f"profile {profile!r}")
        if key:
            where.append(f"key {key!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + problem, hint=hint)
        self.profile = profile
        self.key = key
        self.file = file
        self.problem = problem


class UnknownProfileError(ProfileError):
    """No profile of that name in the profiles file."""

    def __init__(self, problem: str, *, name: str, file: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(problem, file=file, hint=hint)
        #: The name asked for.
        self.name = name


class SecretUnavailableError(ConfigError):
    """A secret reference cannot be resolved (unset variable, unreadable file)."""


class PluginError(BrokerAuthError):
    """A plugin cannot be loaded, or does not provide what a profile asks of it."""


class PluginLoadError(PluginError):
    """A plugin failed to import or register; ``__cause__`` keeps the original traceback."""

    def __init__(self, name: str, distribution: str, cause: BaseException, *,
                 hint: str | None = None) -> None:
        super().__init__(
            f"plugin {name!r} from distribution {distribution!r} failed to load: "
            f"{type(cause).__name__}: {cause}",
            hint=hint or f"reinstall or upgrade {distribution!r}, or uninstall it "
            f"(pip uninstall {distribution})",
        )
        self.name = name
        self.distribution = distribution


class UnknownStrategyError(PluginError):
    """No installed plugin provides a strategy of that kind and name."""

    def __init__(self, kind: str, name: str, available: Sequence[str], note: str = "") -> None:
        known = ", ".join(sorted(available)) or "none"
        super().__init__(
            f"no installed plugin provides a {kind} strategy named {name!r} "
            f"(available: {known}){note}",
            hint="check the spelling, or install the plugin that provides it",
        )
        self.kind = kind
        self.name = name


class StoreError(BrokerAuthError):
    """The token store cannot be read or written safely."""


class StaleTokenError(StoreError):
    """A store refused a write because a newer token was stored meanwhile (a lock holder whose
    lease lapsed); the newer token is kept, and callers adopt it."""


class CorruptStoreError(StoreError):
    """A stored token cannot be parsed; the file is left untouched for inspection."""


class TokenError(BrokerAuthError):
    """Obtaining or refreshing a token failed."""


class LoginRequiredError(TokenError):
    """No usable token and none can be obtained without the user: log in (again)."""

    def __init__(
        self, message: str, *, login_url: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        #: Where the user can authorize again, when the flow knows it.
        self.login_url = login_url


class IssuedElsewhereError(LoginRequiredError):
    """The stored token was issued by another broker, or for another origin than the one the
    profile points at now (the profile was changed, or a planted profile borrowed its name):
    it is never sent, refreshed or revoked there.  A login for the profile replaces it."""

    def __init__(self, message: str, *, issued_for: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        #: Where the token was issued: an origin, or ``broker 'ID'``.
        self.issued_for = issued_for


class RateLimitError(TokenError):
    """A token-endpoint call would exceed the broker's limit (its budget, counted across
    every process sharing the token store); nothing was sent."""

    def __init__(self, message: str, *, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        #: Seconds until the next call is allowed.
        self.retry_after = retry_after


class RefreshError(TokenError):
    """A refresh was needed and failed; the current token can no longer be used safely."""


class VerificationTimeoutError(TokenError):
    """A pending token was not verified by the user in time."""


class RequestError(BrokerAuthError):
    """The request cannot be sent as given; nothing was sent."""


class OriginError(RequestError):
    """A request, or a redirect, would take the profile's credentials to an origin outside the
    profile's origins; nothing was sent there."""

    def __init__(self, message: str, *, origin: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        #: The refused origin, ``scheme://host[:port]``.
        self.origin = origin


class TransportError(BrokerAuthError):
    """The request could not be sent or no answer arrived (connection, timeout)."""


class DeadlineError(TransportError):
    """No complete answer arrived within the request's ``timeout`` (the whole exchange); the
    connection was dropped.  Never resent automatically: a slow server would only cost the
    same wait again."""


class ResponseError(BrokerAuthError):
    """The server's answer is malformed: not JSON, missing fields, wrong types, too large."""

    def __init__(
        self, message: str, *, status: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class BrokerError(BrokerAuthError):
    """The broker answered with an error, carrying its own code and message."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        detail = message
        if code:
            detail = f"{message} (broker code {code!r}"
            detail += f", HTTP {status})" if status is not None else ")"
        elif status is not None:
            detail = f"{message} (HTTP {status})"
        super().__init__(detail, hint=hint)
        self.status = status
        self.code = code
        self.broker_message = message


class AuthenticationError(BrokerError):
    """The broker rejected the credentials even after the one refresh allowed."""


class ClockSkewError(BrokerError):
    """The broker rejected the request's timestamp even after correcting the clock."""


class SealedTokenError(ConfigError):
    """A sealed credential (``brokerauth export``) cannot be made or opened as asked: the key
    is not the one it was sealed with, the file is damaged or truncated, of another format
    version, another broker's or another identity's.  Nothing was stored.  ``reason`` says
    which, for programs: ``key``, ``damaged``, ``version``, ``broker``, ``identity``,
    ``origin`` or ``package`` (the ``cryptography`` package is missing)."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
