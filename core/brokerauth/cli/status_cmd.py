"""``brokerauth status [PROFILE]``: each profile's token state and time left, offline: the
stored token's, else what the profile's flow gives without a login (no token at all, or one
configured in the profile)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from brokerauth.cli.common import seconds_text
from brokerauth.cli.output import Output

if TYPE_CHECKING:
    from datetime import datetime

    from brokerauth.contract.errors import LoginRequiredError
    from brokerauth.contract.interaction import Waiting
    from brokerauth.contract.tokens import Token
    from brokerauth.contract.wire import Response
    from brokerauth.engine.binding import ProfileBinding


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", nargs="?", help="only this profile")
    parser.add_argument("--user", help="the identity (platform user) to look at")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.contract.errors import BrokerAuthError, LoginRequiredError
    from brokerauth.engine.api import open_binding
    from brokerauth.engine.pluginhost import PluginHost
    from brokerauth.engine.profiles import load_profiles
    from brokerauth.engine.refresh import token_state

    profiles = load_profiles(args.profiles)
    names = [args.profile] if args.profile else sorted(profiles.profiles)
    host = PluginHost.create()
    rows: list[dict[str, Any]] = []
    for name in names:
        profile = profiles.get(name)
        row: dict[str, Any] = {"profile": name, "broker": profile.broker,
                               "file": profile.source}
        try:
            binding = open_binding(profile, user=args.user, host=host)
            token = binding.load()
            needed = True
            if token is None:
                # What a login would give, as far as it is known offline: login says a
                # profile whose flow makes no token needs none, and so must this.
                try:
                    token = flow_token(binding)
                    needed = token is not None
                except LoginRequiredError:
                    pass
            options = profile.options
            state, left = token_state(token, binding.clock.now(), needed=needed,
                                      advisory=options.refresh_advisory,
                                      mandatory=options.refresh_mandatory)
            row.update(identity=binding.identity, state=state, seconds_left=left,
                       expires_at=token.expires_at if token else None,
                       refresh_token=bool(token and token.refresh_token))
        except BrokerAuthError as exc:
            row.update(identity=args.user or profile.options.identity, state="error",
                       error=exc.message, hint=exc.hint)
        rows.append(row)
    out.data({"profiles": rows})
    if not rows:
        out.line("no profiles; create one with `brokerauth init`")
    else:
        out.line(f"profiles from {profiles.source}")
    out.table(["profile", "broker", "identity", "state", "time left"],
              [[r["profile"], r["broker"], r["identity"], r["state"],
                seconds_text(r.get("seconds_left"))] for r in rows])
    for row in rows:
        if row["state"] == "error":
            out.line(f"\n{row['profile']}: {row['error']}")
            if row.get("hint"):
                out.line(f"  fix: {row['hint']}")
        elif row["state"] in ("needs login", "expired") and not args.json:
            action = "login" if row["state"] == "needs login" else "refresh"
            out.line(f"\n{row['profile']}: run `brokerauth {action} {row['profile']}`")
    states = {r["state"] for r in rows}
    return 2 if "error" in states else 3 if states & {"needs login"} else 0


def flow_token(binding: ProfileBinding) -> Token | None:
    """The token the profile's flow would hand a request when none is stored, found without
    sending anything or asking anyone (a token configured in the profile); ``None`` when the
    flow uses no token. Never stored: looking leaves the store as it was.

    An empty store is not the whole answer: a flow may hand out a token it never needed to
    store before (a configured API key's), or none at all (an account without 2FA), and a
    command that says what a request carries must agree with what the request does.

    :raises ~brokerauth.contract.errors.LoginRequiredError: the token takes a login: the flow
        needs a person, or must ask the broker.
    """
    import attrs

    offline = _Offline(binding)
    context = attrs.evolve(binding.flow_context(None), http=offline, interaction=offline)
    flow = binding.resolved.flow
    return binding.host.acquire_token(flow.name, context, owner=flow.owner)


class _Offline:
    """A flow's HTTP client and person that are not there: an offline command must neither
    reach the broker (nor spend its token-request budget) nor start a login to find out what
    a login would give."""

    present = False

    def __init__(self, binding: ProfileBinding) -> None:
        name = binding.resolved.name
        default = binding.resolved.profile.options.identity
        user = "" if binding.identity == default else f" --user {binding.identity}"
        self._label = binding.label
        self._hint = f"run `brokerauth login {name}{user}`"

    def error(self) -> LoginRequiredError:
        from brokerauth.contract.errors import LoginRequiredError

        return LoginRequiredError(
            f"{self._label}: no token is stored, and getting one takes a login",
            hint=self._hint,
        )

    def say(self, message: str) -> None:
        pass  # nothing is being logged in: there is nothing for anyone to act on

    def open_url(self, url: str) -> None:
        raise self.error()

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Waiting:
        raise self.error()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        sign: bool = True,
        token: Token | None = None,
        timeout: float | None = None,
    ) -> Response:
        raise self.error()
