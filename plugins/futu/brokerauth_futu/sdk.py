"""The Futu SDK's authentication API, on brokerauth: port code by changing one import.

::

    from brokerauth_futu import Config, OAuthBuilder      # was: from futu.openapi import ...

    oauth = OAuthBuilder("your-client-id").build(lambda url: print("Please visit", url))
    config = Config.from_oauth(oauth)

    config = Config.from_env()                              # FUTU_APP_KEY, FUTU_APP_SECRET, ...
    config = Config.new(app_key, app_secret, access_token)
    new_token = config.refresh_access_token(expired_at=datetime.now() + timedelta(days=365))

Each :class:`Config` yields a brokerauth session (``config.session()``) that signs requests,
attaches the token, refreshes it before it expires and stores it safely.  Behind it is an
ordinary profile built in code with :meth:`brokerauth.engine.profiles.Profile.from_mapping`, so
everything a TOML profile can say, a builder option can say too.

OAuth logins are kept where the SDK keeps them (``~/.futu/openapi/tokens/<client_id>``, same
format), so this and the SDK share one login.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from brokerauth.contract.clock import Clock
from brokerauth.contract.errors import BrokerAuthError, ConfigError, RefreshError
from brokerauth.contract.interaction import Interaction, LogInteraction
from brokerauth.contract.tokens import Token
from brokerauth.engine.api import session as open_session
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.refresh import validate_token
from brokerauth.engine.sessions import Session
from brokerauth.toolkit.secrets import Secret

from brokerauth_futu import apikey, sdkformat, streaming
from brokerauth_futu import settings as futu_settings
from brokerauth_futu.plugin import BROKER, STORE

log = logging.getLogger("brokerauth.futu.sdk")

OpenUrl = Callable[[str], object]


class _CallbackInteraction:
    """An :class:`~brokerauth.contract.interaction.Interaction` that hands the authorization URL to
    the SDK-style ``open_url`` callback."""

    def __init__(self, open_url: OpenUrl) -> None:
        self._open_url = open_url

    def say(self, message: str) -> None:
        log.warning("%s", message)

    def open_url(self, url: str) -> None:
        self._open_url(url)

    def waiting(self, message: str, *, deadline: datetime | None = None) -> _Quiet:
        return _Quiet()


class _Quiet:
    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        return None

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:12]


class _Options:
    """What both the OAuth builder and ``Config.new``/``from_env`` pass through unchanged."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.clock: Clock | None = None
        self.host: PluginHost | None = None


class OAuth:
    """A completed (or reused) Futu OAuth login: what ``OAuthBuilder.build`` returns."""

    def __init__(self, session: Session, profile: Profile) -> None:
        self._session = session
        self.profile = profile
        configured = profile.settings.get("client_id")
        self._client_id: str | None = configured if isinstance(configured, str) else None

    @property
    def client_id(self) -> str:
        """The OAuth client id the login belongs to (configured or registered); still known
        after a logout."""
        token = self._session.tokens.peek()
        found = token.extra.get(sdkformat.EXTRA_CLIENT_ID) if token is not None else None
        if found is not None:
            self._client_id = found
        if self._client_id is None:
            raise ConfigError("this OAuth login has no client id yet", hint="log in again")
        return self._client_id

    @property
    def token_path(self) -> Path:
        """The SDK-format file holding this login."""
        folder = futu_settings.token_dir_of(self.profile.settings.get("token_dir"))
        return folder / self.client_id

    def session(self) -> Session:
        return self._session

    def access_token(self) -> str:
        """The current access token (refreshed first if it is about to expire)."""
        token = self._session.token
        assert token is not None
        return token.access_token

    def refresh(self) -> None:
        """Refresh now, whatever the expiry says."""
        self._session.refresh()

    def logout(self, *, revoke: bool = True) -> bool:
        """Revoke the login at Futu (RFC 7009) and delete it here and in the SDK's file."""
        return logout(self._session, revoke=revoke)

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        return f"<OAuth profile={self.profile.name!r}>"


class OAuthBuilder:
    """Builds an :class:`OAuth` login, like the SDK's ``OAuthBuilder``.

    Without a client id, a public client is registered on the first login (RFC 7591) and
    reused afterwards.  Options return the builder, so they chain::

        OAuthBuilder("id").callback_port(8765).build(print)
    """

    def __init__(self, client_id: str | None = None) -> None:
        self._client_id = client_id
        self._options = _Options()

    # -- options ----------------------------------------------------------------------------
    def _set(self, **values: Any) -> OAuthBuilder:
        self._options.settings.update(values)
        return self

    def environment(self, name: str) -> OAuthBuilder:
        """``openapi`` (default) or ``webapi``."""
        return self._set(environment=name)

    def http_url(self, url: str) -> OAuthBuilder:
        """The API root (the SDK's ``FUTU_HTTP_URL``)."""
        return self._set(base_url=url)

    base_url = http_url

    def oauth_base_url(self, url: str) -> OAuthBuilder:
        return self._set(oauth_base_url=url)

    def paths(
        self,
        *,
        authorize: str | None = None,
        token: str | None = None,
        revoke: str | None = None,
        register: str | None = None,
    ) -> OAuthBuilder:
        given = {"authorize_path": authorize, "token_path": token, "revoke_path": revoke,
                 "register_path": register}
        return self._set(**{k: v for k, v in given.items() if v is not None})

    def discovery(self, enabled: bool) -> OAuthBuilder:
        return self._set(discovery=enabled)

    def redirect_uri(self, uri: str) -> OAuthBuilder:
        return self._set(redirect_uri=uri)

    def callback_port(self, port: int) -> OAuthBuilder:
        """Receive the login on ``http://localhost:<port>/callback``."""
        return self._set(redirect_uri=f"http://localhost:{port}/callback")

    def client_name(self, name: str) -> OAuthBuilder:
        return self._set(client_name=name)

    def scope(self, scope: str) -> OAuthBuilder:
        return self._set(scope=scope)

    def login_timeout(self, seconds: float) -> OAuthBuilder:
        return self._set(login_timeout=float(seconds))

    def token_dir(self, path: str | os.PathLike[str]) -> OAuthBuilder:
        """Keep token files (and registrations) here instead of ~/.futu/openapi/tokens."""
        return self._set(token_dir=os.fspath(path))

    def clock(self, clock: Clock) -> OAuthBuilder:
        """The clock to read (tests share a manual clock with a sandbox)."""
        self._options.clock = clock
        return self

    def plugin_host(self, host: PluginHost) -> OAuthBuilder:
        self._options.host = host
        return self

    # -- build ------------------------------------------------------------------------------
    def profile(self) -> Profile:
        """The profile the login runs on, as built from the options."""
        table: dict[str, Any] = {"broker": BROKER, "mode": "oauth", **self._options.settings}
        if self._client_id:
            table["client_id"] = self._client_id
        table["store"] = STORE  # its folder follows token_dir
        suffix = self._client_id or _digest(
            str(table.get("oauth_base_url") or table.get("environment") or ""),
            str(table.get("redirect_uri") or ""),
            str(table.get("client_name") or ""),
        )
        return Profile.from_mapping(f"futu-oauth-{suffix}", table)

    def build(self, open_url: OpenUrl | None = None) -> OAuth:
        """Log in (or reuse the saved login) and return it.

        :param open_url: called with the authorization URL; by default the URL is logged and
            opened in the browser.
        :raises ~brokerauth.contract.errors.BrokerAuthError: the login failed (a port in use, a
            refusal, a timeout), with what to do next.
        """
        interaction: Interaction = (
            LogInteraction(open_browser=True) if open_url is None
            else _CallbackInteraction(open_url)
        )
        profile = self.profile()
        session = open_session(profile, clock=self._options.clock, interaction=interaction,
                               host=self._options.host)
        try:
            _ = session.token  # performs or reuses the login
            oauth = OAuth(session, profile)
            _ = oauth.client_id  # remembered, so it outlives a logout
        except BaseException:
            session.close()
            raise
        return oauth


class Config:
    """Connection settings, like the SDK's ``Config``; each yields a brokerauth session."""

    def __init__(
        self,
        profile: Profile,
        *,
        clock: Clock | None = None,
        host: PluginHost | None = None,
        session: Session | None = None,
    ) -> None:
        self.profile = profile
        self._clock = clock
        self._host = host
        self._session = session

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def from_oauth(cls, oauth: OAuth) -> Config:
        """A config on an OAuth login; tokens are refreshed and persisted automatically."""
        return cls(oauth.profile, session=oauth.session())

    @classmethod
    def new(
        cls,
        app_key: str,
        app_secret: str,
        access_token: str,
        *,
        http_url: str | None = None,
        quote_ws_url: str | None = None,
        trade_ws_url: str | None = None,
        language: str = "en",
        region: str | None = None,
        log_path: str | None = None,
        token_dir: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        host: PluginHost | None = None,
        **settings: Any,
    ) -> Config:
        """Legacy API-key credentials given in code (kept as in-memory secrets)."""
        values = {"app_key": app_key, "app_secret": app_secret, "access_token": access_token}
        for name, value in values.items():
            if not isinstance(value, str) or not value:
                raise ConfigError(f"Config.new: {name} must be a non-empty string")
        return cls._api_key(
            {name: Secret.from_value(value) for name, value in values.items()},
            suffix=_digest("futu-api-key", app_key),
            http_url=http_url, quote_ws_url=quote_ws_url, trade_ws_url=trade_ws_url,
            language=language, region=region, log_path=log_path, token_dir=token_dir,
            clock=clock, host=host, extra=settings,
        )

    @classmethod
    def from_env(
        cls,
        *,
        token_dir: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        host: PluginHost | None = None,
        **settings: Any,
    ) -> Config:
        """Legacy API-key credentials from ``FUTU_APP_KEY``, ``FUTU_APP_SECRET`` and
        ``FUTU_ACCESS_TOKEN`` (required), and ``FUTU_HTTP_URL``, ``FUTU_QUOTE_WS_URL``,
        ``FUTU_TRADE_WS_URL``, ``FUTU_LANGUAGE``, ``FUTU_REGION``, ``FUTU_LOG_PATH``.

        The secrets stay references to the variables, resolved when a session opens.

        :raises ~brokerauth.contract.errors.ConfigError: a required variable is unset, naming it.
        """
        names = (futu_settings.ENV_APP_KEY, futu_settings.ENV_APP_SECRET,
                 futu_settings.ENV_ACCESS_TOKEN)
        missing = [name for name in names if not os.environ.get(name)]
        if missing:
            raise ConfigError(
                f"Config.from_env: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                "not set",
                hint="export FUTU_APP_KEY, FUTU_APP_SECRET and FUTU_ACCESS_TOKEN (from the "
                "developer portal's User Center), or use Config.new(...)",
            )
        language = os.environ.get(futu_settings.ENV_LANGUAGE) or "en"
        if language not in futu_settings.LANGUAGES:
            raise ConfigError(
                f"{futu_settings.ENV_LANGUAGE}={language!r} is not one of "
                f"{', '.join(futu_settings.LANGUAGES)}",
                hint=f"unset {futu_settings.ENV_LANGUAGE} or set it to en, zh-CN or zh-HK",
            )
        secrets_ = {
            "app_key": Secret(env=futu_settings.ENV_APP_KEY),
            "app_secret": Secret(env=futu_settings.ENV_APP_SECRET),
            "access_token": Secret(env=futu_settings.ENV_ACCESS_TOKEN),
        }
        return cls._api_key(
            secrets_,
            suffix=_digest("futu-api-key", os.environ[futu_settings.ENV_APP_KEY]),
            http_url=os.environ.get(futu_settings.ENV_HTTP_URL) or None,
            quote_ws_url=os.environ.get(futu_settings.ENV_QUOTE_WS_URL) or None,
            trade_ws_url=os.environ.get(futu_settings.ENV_TRADE_WS_URL) or None,
            language=language,
            region=os.environ.get(futu_settings.ENV_REGION) or None,
            log_path=os.environ.get(futu_settings.ENV_LOG_PATH) or None,
            token_dir=token_dir, clock=clock, host=host, extra=settings,
        )

    @classmethod
    def _api_key(
        cls,
        secrets_: dict[str, Secret],
        *,
        suffix: str,
        http_url: str | None,
        quote_ws_url: str | None,
        trade_ws_url: str | None,
        language: str,
        region: str | None,
        log_path: str | None,
        token_dir: str | os.PathLike[str] | None,
        clock: Clock | None,
        host: PluginHost | None,
        extra: dict[str, Any],
    ) -> Config:
        folder = os.fspath(token_dir) if token_dir is not None else None
        optional = {
            "http_url": http_url, "quote_ws_url": quote_ws_url, "trade_ws_url": trade_ws_url,
            "region": region, "log_path": log_path, "token_dir": folder,
        }
        table: dict[str, Any] = {
            "broker": BROKER,
            "mode": "api_key",
            "language": language,
            **secrets_,
            **{k: v for k, v in optional.items() if v is not None},
            **extra,
            "store": STORE,
        }
        # One stored token per app key: the profile name carries a short hash of it (not the
        # key itself, which is a credential).
        return cls(Profile.from_mapping(f"futu-api-key-{suffix}", table), clock=clock,
                   host=host)

    # -- use --------------------------------------------------------------------------------
    def session(self) -> Session:
        """The brokerauth session of this config (opened once, then shared)."""
        if self._session is None:
            self._session = open_session(self.profile, clock=self._clock, host=self._host)
        return self._session

    @property
    def mode(self) -> str:
        return str(self.profile.settings.get("mode", "oauth"))

    def _setting(self, name: str) -> Any:
        return getattr(self.session().binding.settings, name)

    @property
    def http_url(self) -> str:
        return str(self._setting("api_base_url"))

    @property
    def quote_ws_url(self) -> str | None:
        value = self.profile.settings.get("quote_ws_url")
        return value if isinstance(value, str) else None

    @property
    def trade_ws_url(self) -> str | None:
        value = self.profile.settings.get("trade_ws_url")
        return value if isinstance(value, str) else None

    def websocket(self, kind: streaming.Kind) -> streaming.WebSocketHandshake:
        """What your WebSocket client needs for one authenticated ``quote`` or ``trade``
        connection: the configured URL (with the handshake query), the upgrade headers, and
        a fresh one-time password for the first (auth) message, fetched through this
        config's session.  See :mod:`brokerauth_futu.streaming` for what is documented.

        The handshake is Longbridge's, which Futu does not document: opt in with
        ``ws_handshake="longbridge-otp"`` (a profile setting, or a keyword of
        :meth:`new` / :meth:`from_env`).

        :raises ~brokerauth.contract.errors.ConfigError: no WebSocket URL of that kind is
            configured (Futu documents no default), or the profile has not opted into the
            handshake.
        """
        return streaming.handshake(self.session(), kind)

    @property
    def language(self) -> str:
        return str(self.profile.settings.get("language", "en"))

    @property
    def region(self) -> str | None:
        value = self.profile.settings.get("region")
        return value if isinstance(value, str) else None

    @property
    def log_path(self) -> str | None:
        value = self.profile.settings.get("log_path")
        return value if isinstance(value, str) else None

    def refresh_access_token(self, expired_at: datetime | None = None) -> str:
        """Exchange the legacy access token for a new one valid until ``expired_at`` (default:
        90 days from now); the new token replaces the stored one and is returned, as the
        SDK does, for you to update ``FUTU_ACCESS_TOKEN``.

        :raises ~brokerauth.contract.errors.AuthenticationError: the credential was revoked.
        :raises ~brokerauth.contract.errors.BrokerError: Futu refused; the stored token is
            unchanged.
        """
        if self.mode != "api_key":
            raise ConfigError(
                "refresh_access_token applies to legacy API-key credentials",
                hint="OAuth tokens are refreshed automatically",
            )
        session = self.session()
        binding = session.binding
        when = expired_at or binding.clock.now() + apikey.DEFAULT_VALIDITY
        # Taken before the lock: it may store the configured token, under the same lock.
        current = session.tokens.current()
        with binding.lock(session.options.lock_timeout) as held:
            if not held:
                raise RefreshError(
                    f"{binding.label}: another process holds the token lock",
                    hint="wait for it to finish, then try again",
                )
            base = binding.load() or current
            assert base is not None
            new = apikey.refresh_access_token(
                binding.flow_context(base).http, base, when, identity=binding.identity,
                path=binding.settings.access_token_refresh_path, now=binding.clock.now(),
                configured=getattr(binding.settings, "access_token", None),
            )
            validate_token(new, binding.label)
            binding.save(new)
        session.tokens.forget()
        return new.access_token

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> Config:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Config mode={self.mode!r} profile={self.profile.name!r}>"


def logout(target: Session | OAuth | Config, *, revoke: bool = True) -> bool:
    """Revoke the login at the broker (OAuth, RFC 7009; skipped with ``revoke=False``), then
    delete it from the store (the SDK's file too).  A failed revocation is logged and the
    token deleted anyway: logging out must not depend on the server.

    :return: whether a token was stored.
    """
    session = (
        target.session() if isinstance(target, OAuth | Config) else target
    )
    binding = session.binding
    try:
        stored: Token | None = binding.load()
    except BrokerAuthError:
        stored = None  # a damaged store: deleting it is the way out
    if revoke and stored is not None:
        from brokerauth_futu import oauthflow

        try:
            if isinstance(binding.settings, futu_settings.FutuSettings):
                oauthflow.revoke_token(binding.settings, binding.flow_context(stored).http,
                                       stored)
        except BrokerAuthError as exc:
            log.warning("%s: revocation failed, deleting the token anyway: %s",
                        binding.label, exc.message)
    removed = binding.delete()
    session.tokens.forget()
    return removed
