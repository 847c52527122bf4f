"""The platform's web app: "Connect your Webull account", the callback, each user's accounts,
and every connected user with the horizons of their grant.

App users sign in by typing a name (kept in Flask's signed session cookie): a real platform
has its own authentication, which is not the point here.  Each user's Webull grant is filed
in the profile's token store under that name, so ``brokerauth.session(profile, user=name)``
acts for that user and nobody else.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from datetime import datetime
from typing import TypedDict

import brokerauth
from brokerauth.contract.clock import Clock, SystemClock
from brokerauth.contract.errors import BrokerAuthError, LoginRequiredError
from brokerauth.engine.pluginhost import PluginHost
from brokerauth_webull_connect import PendingLogin, begin_login, complete
from flask import Flask, redirect, render_template_string, request, session, url_for
from flask.typing import ResponseReturnValue

ACCOUNTS = "/oauth-openapi/account/list"
NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")

LAYOUT = """<!doctype html><meta charset="utf-8"><title>{{ title }}</title>
<p>{% if me %}Signed in as <b id="me">{{ me }}</b> · <a id="accounts-link" href="/accounts">My
accounts</a> · <a id="users-link" href="/users">Connected users</a>
<form method="post" action="/signout" style="display:inline"><button>Sign out</button></form>
{% endif %}</p><h1>{{ title }}</h1>"""

SIGN_IN = LAYOUT + """<form method="post" action="/signin"><label>Your name on the platform
<input name="name" id="name" required pattern="[A-Za-z0-9_.\\-]{1,40}"></label>
<button id="signin">Sign in</button></form>"""

ACCOUNTS_PAGE = LAYOUT + """{% if problem %}<p id="problem">{{ problem }}</p>{% endif %}
{% if accounts is none %}<form method="get" action="/connect">
<button id="connect">Connect your Webull account</button></form>
{% else %}<table id="accounts"><tr><th>Account</th><th>Number</th><th>Type</th></tr>
{% for a in accounts %}<tr class="account"><td>{{ a.account_id }}</td>
<td>{{ a.account_number }}</td><td>{{ a.account_type }}</td></tr>{% endfor %}</table>{% endif %}"""

USERS_PAGE = LAYOUT + """<table id="users"><tr><th>User</th><th>State</th><th>Works until</th>
<th>Person must act by</th><th></th></tr>{% for g in grants %}<tr class="grant"
id="grant-{{ g.identity }}"><td>{{ g.identity }}</td><td class="state">{{ g.state }}</td>
<td>{{ when(g.horizon.works_until) }}</td><td>{{ when(g.horizon.must_act_by) }}</td>
<td><a class="reconnect" href="/connect?user={{ g.identity|urlencode }}">reconnect</a></td></tr>
{% endfor %}</table>"""



class _Where(TypedDict):
    profiles: str | os.PathLike[str] | None
    host: PluginHost
    clock: Clock


ERROR_PAGE = LAYOUT + """<p id="error">{{ message }}</p><p><a href="/accounts">Back</a></p>"""


def create_app(
    profile: str | brokerauth.Profile,
    *,
    profiles: str | os.PathLike[str] | None = None,
    host: PluginHost | None = None,
    clock: Clock | None = None,
    secret_key: str | None = None,
) -> Flask:
    """The app for one Webull Connect ``profile`` (its redirect URI: this app's ``/callback``).

    ``profiles``, ``host`` and ``clock`` go to every brokerauth call: tests pass a profiles
    file, a plugin host and the sandbox's manual clock.  Without ``secret_key`` a random one
    is used, so sign-ins last as long as the process.
    """
    app = Flask(__name__)
    app.secret_key = secret_key or secrets.token_hex(32)
    # Lax: the browser comes back from Webull's login page with a top-level GET, which must
    # carry the cookie that ties the callback to the login this browser started.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    plugins = host or PluginHost.create()  # loading plugins once, not per request
    time = clock or SystemClock()
    where = _Where(profiles=profiles, host=plugins, clock=time)
    # Logins in flight, server side: a PendingLogin holds the state (and a PKCE verifier),
    # which a cookie would hand to anyone who can read it.  A fleet keeps these in its database.
    pending_logins: dict[str, PendingLogin] = {}
    lock = threading.Lock()

    def page(template: str, title: str, status: int = 200,
             **context: object) -> ResponseReturnValue:
        return render_template_string(template, title=title, me=session.get("user"),
                                      **context), status

    def me() -> str | None:
        user = session.get("user")
        return user if isinstance(user, str) else None

    @app.get("/")
    def home() -> ResponseReturnValue:
        if me():
            return redirect(url_for("accounts"))
        return page(SIGN_IN, "Sign in to the platform")

    @app.post("/signin")
    def signin() -> ResponseReturnValue:
        name = request.form.get("name", "").strip()
        if not NAME.fullmatch(name):
            return page(ERROR_PAGE, "Sign in", 400, message="Use letters, digits, - _ or .")
        session.clear()
        session["user"] = name
        return redirect(url_for("accounts"))

    @app.post("/signout")
    def signout() -> ResponseReturnValue:
        session.clear()
        return redirect(url_for("home"))

    @app.get("/accounts")
    def accounts() -> ResponseReturnValue:
        user = me()
        if user is None:
            return redirect(url_for("home"))
        problem = None
        try:
            # interactive=False: a missing or ended grant raises at once instead of waiting
            # for a person at this server's terminal.
            with brokerauth.session(profile, user=user, interactive=False, **where) as api:
                answer = api.get(ACCOUNTS)
                answer.raise_for_status()
                listed = answer.json()
        except LoginRequiredError:
            listed, problem = None, None if _never_connected(user) else "Please reconnect."
        except BrokerAuthError as exc:
            listed, problem = None, exc.message
        return page(ACCOUNTS_PAGE, "Your Webull accounts", accounts=listed, problem=problem)

    def _never_connected(user: str) -> bool:
        return brokerauth.horizon(profile, user=user, **where).refresh_expires_at is None

    @app.get("/connect")
    def connect() -> ResponseReturnValue:
        user = me()
        if user is None:
            return redirect(url_for("home"))
        if request.args.get("user", user) != user:
            # Only the user can approve their own grant: say so rather than start a login
            # that would file somebody else's Webull account under their name.
            return page(ERROR_PAGE, "Reconnect", 403,
                        message=f"Sign in as {request.args['user']} to reconnect that account.")
        pending = begin_login(profile, user=user, **where)
        login_id = secrets.token_urlsafe(16)
        with lock:
            now = time.now()
            for stale in [k for k, p in pending_logins.items() if p.expired(now)]:
                del pending_logins[stale]
            pending_logins[login_id] = pending
        session["login"] = login_id
        return redirect(pending.url)

    @app.get("/callback")
    def callback() -> ResponseReturnValue:
        user, login_id = me(), session.pop("login", None)
        with lock:
            pending = pending_logins.pop(login_id, None) if isinstance(login_id, str) else None
        if user is None or pending is None or pending.user != user:
            return page(ERROR_PAGE, "Connection failed", 400,
                        message="No connection was started in this browser: start again.")
        try:
            # complete() checks the state against this browser's login in constant time,
            # exchanges the code and files the grant under the app's name for the user
            # (user=: the platform names its users its own way).
            complete(pending, request.url, user=user, **where)
        except BrokerAuthError as exc:
            return page(ERROR_PAGE, "Connection failed", 400, message=exc.message)
        return redirect(url_for("accounts"))

    @app.get("/users")
    def users() -> ResponseReturnValue:
        # Every signed-in user may look here; a real platform shows it to its staff only.
        if me() is None:
            return redirect(url_for("home"))
        grants = list(brokerauth.users(profile, **where))
        return page(USERS_PAGE, "Connected users", grants=grants, when=_when)

    return app


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")
