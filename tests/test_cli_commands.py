"""login, status, refresh, logout and request, driven as a user would, against a real
sandbox on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock
from test_cli import run


@pytest.fixture
def live(sandbox_factory: Any, token_home: Path, tmp_path: Path) -> dict[str, Any]:
    double = sandbox_factory("double", clock=SystemClock())
    path = tmp_path / "profiles.toml"
    path.write_text(
        "[profiles.live]\n"
        'broker = "double"\n'
        f'base_url = "{double.base_url}"\n'
        f'client_id = "{double.client_id}"\n'
        'client_secret = { env = "DOUBLE_LIVE_SECRET" }\n'
    )
    env = {"DOUBLE_LIVE_SECRET": double.client_secret, "BROKERAUTH_PROFILES": str(path)}
    return {"double": double, "env": env, "path": path}


def test_status_login_request_refresh_logout(live: dict[str, Any]) -> None:
    env, double = live["env"], live["double"]
    before = run("status", "--json", env=env)
    assert before.returncode == 3
    assert json.loads(before.stdout)["profiles"][0]["state"] == "needs login"

    login = run("login", "live", env=env)
    assert login.returncode == 0, login.stderr
    assert "logged in" in login.stdout

    status = run("status", env=env)
    assert status.returncode == 0
    assert "fresh" in status.stdout

    request = run("request", "live", "GET", "/api/me", "--json", env=env)
    assert request.returncode == 0, request.stderr
    assert json.loads(request.stdout) == {"status": 200,
                                          "body": {"client_id": double.client_id, "generation": 1}}

    refresh = run("refresh", "live", "--json", env=env)
    assert refresh.returncode == 0, refresh.stderr
    assert json.loads(refresh.stdout)["refresh_token_rotated"] is True
    # Times for scripts are RFC 3339 (a "T", an offset): what `date -d`, jq and
    # datetime.fromisoformat everywhere read, not str()'s "2026-12-02 10:00:00+00:00".
    row = json.loads(run("status", "live", "--json", env=env).stdout)["profiles"][0]
    for when in (json.loads(refresh.stdout)["expires_at"], row["expires_at"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", when)
    assert double.refresh_calls == 1

    logout = run("logout", "live", env=env)
    assert logout.returncode == 0
    assert "revoked by the broker and deleted" in logout.stdout
    assert run("status", env=env).returncode == 3
    secret = double.client_secret
    for result in (login, status, request, refresh, logout):
        assert secret not in result.stdout + result.stderr


def test_request_error_status_exits_4(live: dict[str, Any]) -> None:
    result = run("request", "live", "GET", "/api/nothing-here", env=live["env"])
    assert result.returncode == 4
    assert "HTTP 404" in result.stderr


def test_sandbox_down_says_what_to_do(live: dict[str, Any]) -> None:
    live["double"].stop()
    result = run("login", "live", env=live["env"])
    assert result.returncode == 4
    assert "connection refused" in result.stderr
    assert "fix:" in result.stderr


def test_unknown_profile(live: dict[str, Any]) -> None:
    result = run("login", "nope", env=live["env"])
    assert result.returncode == 2
    assert "no profile named 'nope'" in result.stderr


def test_bad_request_flags(live: dict[str, Any]) -> None:
    result = run("request", "live", "POST", "/api/orders", "--data", "{not json", env=live["env"])
    assert result.returncode == 2
    assert "--data is not JSON" in result.stderr


def test_sandbox_command_prints_a_working_profile_and_stops_on_ctrl_c(tmp_path: Path,
                                                                    token_home: Path) -> None:
    # Every wait bounded; the other moments of a Ctrl-C are in test_cli_sandbox.py.
    from brokerauth_sandbox.commandline_check import Child, assert_clean_exit
    from test_cli import BROKERAUTH

    with Child([BROKERAUTH, "--json", "sandbox", "double"], tmp_path / "sandbox") as child:
        info = json.loads(child.until("\n}\n"))  # the document's last line
        table = info["table"]
        assert table["client_secret"] == {"env": "BROKERAUTH_SANDBOX_DOUBLE_CLIENT_SECRET"}
        profile = tmp_path / "p.toml"
        profile.write_text(
            "[profiles.sb]\n" + "".join(
                f'{k} = {json.dumps(v) if not isinstance(v, dict) else "{ env = " + json.dumps(v["env"]) + " }"}\n'  # noqa: E501
                for k, v in table.items()))
        result = run("request", "sb", "GET", "/api/me", "--profiles", str(profile),
                     env={**info["env"], "BROKERAUTH_HOME": str(token_home)})
        assert result.returncode == 0, result.stderr
        child.interrupt()  # right after it served a request
        assert_clean_exit(child)


@pytest.mark.parametrize("user", [None, "bob"])
def test_status_names_the_command_for_the_user_shown(
    live: dict[str, Any], user: str | None
) -> None:
    # Following a hint that leaves --user out logs in the profile's own user instead.
    chosen = [] if user is None else ["--user", user]
    status = run("status", "live", *chosen, env=live["env"])
    assert status.returncode == 3
    expected = "brokerauth login live" + ("" if user is None else f" --user {user}")
    assert f"run `{expected}`" in status.stdout
    rows = json.loads(run("status", "live", *chosen, "--json", env=live["env"]).stdout)
    assert rows["profiles"][0]["command"] == expected


def test_logout_no_revoke_says_the_token_stays_valid(live: dict[str, Any]) -> None:
    env = live["env"]
    assert run("login", "live", env=env).returncode == 0
    logout = run("logout", "live", "--no-revoke", env=env)
    assert logout.returncode == 0
    # The double revokes (RFC 7009): "the broker offers no revocation" would be false.
    assert "not revoked (--no-revoke)" in logout.stdout
    assert "offers no revocation" not in logout.stdout


def _moved(live: dict[str, Any], sandbox_factory: Any) -> tuple[Any, dict[str, str]]:
    """The live profile logged in, then pointed at another server (its keys copied, so only
    the origin differs): the stored token was issued for the first."""
    env = live["env"]
    assert run("login", "live", env=env).returncode == 0
    other = sandbox_factory("double", clock=SystemClock())
    first = live["double"]
    live["path"].write_text(live["path"].read_text().replace(first.base_url, other.base_url))
    other.client_id, other.client_secret = first.client_id, first.client_secret
    return other, env


def test_login_replaces_a_token_issued_for_the_profile_s_former_address_only_when_told(
    live: dict[str, Any], sandbox_factory: Any, token_home: Path
) -> None:
    """The way out the refusal names works, and only on purpose: replaced, the token is gone
    from here while still valid where it was issued (a planted profile would have it
    destroyed), so a login replaces it only with --replace or a yes at a terminal; and
    nothing of it is ever sent to the new address."""
    other, env = _moved(live, sandbox_factory)
    old = json.loads((token_home / "tokens" / "live" / "default.json").read_text())
    refused = run("request", "live", "GET", "/api/me", env=env)
    assert refused.returncode == 3
    assert "run `brokerauth login live`" in refused.stderr
    plain = run("login", "live", env=env)  # no terminal: no one confirmed
    assert plain.returncode == 3, plain.stderr
    assert "run `brokerauth login live --replace`" in plain.stderr
    assert "stays valid where it was issued" in plain.stderr
    assert sum(other.calls.values()) == 0  # nothing was sent anywhere
    login = run("login", "live", "--replace", "--json", env=env)
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["replaced_token_issued_for"] == live["double"].base_url
    assert f"issued for {live['double'].base_url}" in login.stderr
    assert "this login replaces it" in login.stderr
    after = run("request", "live", "GET", "/api/me", env=env)
    assert after.returncode == 0, after.stderr
    assert other.refresh_calls == 0
    assert other.count("POST", "/oauth/revoke") == 0
    assert old["access_token"] not in other.seen_tokens


def test_logout_of_a_moved_profile_says_why_it_did_not_revoke(
    live: dict[str, Any], sandbox_factory: Any
) -> None:
    _, env = _moved(live, sandbox_factory)
    logout = run("logout", "live", env=env)
    assert logout.returncode == 0
    assert "not revoked" in logout.stdout
    assert f"issued for {live['double'].base_url}" in logout.stdout
    assert "revocation failed" not in logout.stdout


def test_logout_no_revoke_does_not_report_a_revocation_it_did_not_try(
    live: dict[str, Any], token_home: Path
) -> None:
    env = live["env"]
    assert run("login", "live", env=env).returncode == 0
    token_file = token_home / "tokens" / "live" / "default.json"
    assert token_file.exists()
    token_file.chmod(0o644)  # refused as a token file, whatever is asked of it
    logout = run("logout", "live", "--no-revoke", env=env)
    assert logout.returncode == 0, logout.stderr
    assert "revocation failed" not in logout.stdout
    assert "not revoked (--no-revoke)" in logout.stdout
    assert not token_file.exists()


def test_a_refresh_the_network_failed_exits_4_not_3(live: dict[str, Any]) -> None:
    """Exit 3 says "log in again": a cron job pages a person for it.  A refresh that could
    not reach the broker is an outage (4), as the same outage in `request` is."""
    env = live["env"]
    assert run("login", "live", env=env).returncode == 0
    live["double"].stop()
    refresh = run("refresh", "live", env=env)
    assert refresh.returncode == 4, refresh.stderr
    assert "connection refused" in refresh.stderr


def test_logout_whose_revocation_the_broker_failed_exits_4(live: dict[str, Any],
                                                          token_home: Path) -> None:
    """The token is deleted here but may stay valid at the broker: a script must not take
    that for a completed logout."""
    env = live["env"]
    assert run("login", "live", env=env).returncode == 0
    live["double"].fail_revoke = 503
    logout = run("logout", "live", env=env)
    assert logout.returncode == 4, logout.stdout + logout.stderr
    assert "not revoked: the revocation failed" in logout.stdout
    assert "may stay valid at the broker" in logout.stderr
    assert not (token_home / "tokens" / "live" / "default.json").exists()
    data = json.loads(run("logout", "live", "--json", env=env).stdout)
    assert data["removed"] is False  # deleted the first time


def test_a_profile_name_from_the_variable_that_names_none_says_where_it_came_from(
    live: dict[str, Any]
) -> None:
    """$BROKERAUTH_PROFILE is set once, in a shell's startup file, and forgotten: the
    command line shows no name, so the error says where the wrong one came from."""
    env = {**live["env"], "BROKERAUTH_PROFILE": "lvie"}
    result = run("login", env=env)
    assert result.returncode == 2, result.stderr
    assert "no profile named 'lvie'" in result.stderr
    assert "the name comes from $BROKERAUTH_PROFILE" in result.stderr
    assert "fix: fix or unset BROKERAUTH_PROFILE" in result.stderr
    named = run("login", "lvie", env=env)  # named on the command line: nothing to add
    assert "BROKERAUTH_PROFILE" not in named.stderr


@pytest.mark.parametrize(("answer", "replaced"), [(b"y\n", True), (b"\n", False)],
                         ids=["yes", "default no"])
def test_at_a_terminal_the_replacement_is_asked(
    live: dict[str, Any], sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, answer: bytes, replaced: bool
) -> None:
    from test_cli_init_roundtrip import Terminal

    _, env = _moved(live, sandbox_factory)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    terminal = Terminal("login", "live", cwd=tmp_path)
    terminal.expect("[y/N] ")
    terminal.send(answer)
    code = terminal.finish()
    shown = terminal.output.decode(errors="replace")
    assert f"issued for {live['double'].base_url}" in shown
    if replaced:
        assert code == 0, shown
        assert "logged in" in shown
    else:
        assert code == 3, shown
        assert "--replace" in shown


def test_status_of_a_moved_profile_says_a_login_is_needed_and_which(
    live: dict[str, Any], sandbox_factory: Any
) -> None:
    _, env = _moved(live, sandbox_factory)
    status = run("status", "live", env=env)
    assert status.returncode == 3, status.stdout + status.stderr
    assert "needs login" in status.stdout
    assert f"issued for {live['double'].base_url}" in status.stdout
    assert "run `brokerauth login live --replace`" in status.stdout
    row = json.loads(run("status", "live", "--json", env=env).stdout)["profiles"][0]
    assert (row["state"], row["command"]) == ("needs login", "brokerauth login live --replace")


def test_logout_that_could_not_read_the_token_to_revoke_it_says_so_and_exits_2(
    live: dict[str, Any], token_home: Path
) -> None:
    """A token file others could read is refused (it may have been planted, or read): the
    logout deletes it, as the way out, but revoked nothing, and a script is told."""
    env = live["env"]
    assert run("login", "live", env=env).returncode == 0
    token_file = token_home / "tokens" / "live" / "default.json"
    token_file.chmod(0o644)
    logout = run("logout", "live", env=env)
    assert logout.returncode == 2, logout.stdout + logout.stderr
    assert "token deleted, not revoked:" in logout.stdout
    assert "may stay valid at the broker" in logout.stderr
    assert not token_file.exists()


def test_sign_with_a_token_whose_refresh_was_refused_says_so(
    live: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from brokerauth.contract.errors import LoginRequiredError
    from brokerauth.engine import failures
    from brokerauth.engine.api import open_binding

    env = live["env"]
    assert run("login", "live", env=env).returncode == 0
    monkeypatch.setenv("DOUBLE_LIVE_SECRET", env["DOUBLE_LIVE_SECRET"])
    binding = open_binding("live", profiles=live["path"])
    token = binding.load()
    assert token is not None
    binding.save(failures.record(token, LoginRequiredError("invalid_grant"),
                                 binding.clock.now()))
    signed = run("sign", "live", "GET", "/api/me", env=env)
    assert signed.returncode == 0, signed.stderr
    assert "live/default: the broker refused the refresh (invalid_grant); the token is " \
        "attached, but is likely refused too" in signed.stderr
    assert "fix: run `brokerauth login live`" in signed.stderr
    assert token.access_token not in signed.stdout + signed.stderr  # masked, as ever
