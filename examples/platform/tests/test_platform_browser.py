"""The platform app end to end in a real headless Chromium: users connect their Webull
accounts through the Connect sandbox's sign-in and consent page, each sees only their own
accounts, tokens refresh on the shared manual clock, and an ended grant is reconnected."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import brokerauth
import pytest
import urllib3
from brokerauth.engine.pluginhost import PluginHost
from brokerauth_platform.app import create_app
from brokerauth_platform.demo import PROFILE, serve, write_profiles
from brokerauth_sandbox.canary import token_stores
from brokerauth_sandbox.chromium import ChromiumMissing, chromium, find_chromium
from brokerauth_sandbox.clock import ManualClock
from brokerauth_webull_connect import begin_login
from brokerauth_webull_connect.sandbox.server import ConnectSandbox

WAIT = 15.0  # seconds a page may take to reach the state a step waits for
STORE_FOLDER = "platform-tokens"
# The grants' database holds tokens on purpose: not a leak for the secret canary.
token_stores(folders=[STORE_FOLDER])


@attrs.frozen
class Platform:
    url: str
    sandbox: ConnectSandbox
    clock: ManualClock
    profiles: Path
    host: PluginHost


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manual_clock: ManualClock,
             plugin_host: PluginHost, sandbox_factory: Any) -> Iterator[Platform]:
    """The Connect sandbox (showing its sign-in page) and the app, on one manual clock."""
    sandbox: ConnectSandbox = sandbox_factory("webull_connect", clock=manual_clock)
    sandbox.auto_approve = False
    profiles = tmp_path / "brokerauth.toml"
    app = create_app(PROFILE, profiles=profiles, host=plugin_host, clock=manual_clock)
    server, thread = serve(app)
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        sandbox.redirect_uri = url + "/callback"
        store = {"name": "sql", "url": f"sqlite://{tmp_path / STORE_FOLDER / 'tokens.db'}"}
        env = write_profiles(profiles, sandbox, store)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Platform(url, sandbox, manual_clock, profiles, plugin_host)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


@pytest.fixture
def browsers() -> Iterator[Any]:
    """``browsers()`` opens one more browser session (its own profile: its own cookies)."""
    try:
        find_chromium()
    except ChromiumMissing as exc:
        pytest.fail(f"the browser test needs Chromium: {exc}")
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(chromium(page_load_timeout=WAIT))


# -- what a person does in the browser ---------------------------------------------------------
def until(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition)


def shown(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    return until(driver, ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def sign_in(driver: Any, platform: Platform, name: str) -> None:
    driver.get(platform.url + "/")
    shown(driver, "#name").send_keys(name)
    shown(driver, "#signin").click()
    until(driver, lambda d: d.find_elements("css selector", "#me"))
    assert shown(driver, "#me").text == name


def approve_as(driver: Any, webull_user: str) -> None:
    """On the sandbox's page: sign in as ``webull_user``, then consent."""
    field = shown(driver, "input[name=user]")
    field.clear()
    field.send_keys(webull_user)
    shown(driver, "button[value=approve]").click()


def connect(driver: Any, platform: Platform, webull_user: str) -> list[str]:
    driver.get(platform.url + "/accounts")
    until(driver, lambda d: d.find_elements("css selector", "#connect, #accounts"))
    assert not driver.find_elements("css selector", "#accounts"), (
        f"accounts shown before connecting: {accounts_shown(driver)}")
    shown(driver, "#connect").click()
    approve_as(driver, webull_user)
    return accounts_shown(driver)


def accounts_shown(driver: Any) -> list[str]:
    until(driver, lambda d: d.find_elements("css selector", "#accounts, #error"))
    errors = driver.find_elements("css selector", "#error")
    assert not errors, errors[0].text
    return [row.find_element("css selector", "td").text
            for row in driver.find_elements("css selector", "tr.account")]


def accounts_page(driver: Any, platform: Platform) -> list[str]:
    driver.get(platform.url + "/accounts")
    return accounts_shown(driver)


def states(driver: Any, platform: Platform) -> dict[str, str]:
    driver.get(platform.url + "/users")
    shown(driver, "#users")
    return {row.get_attribute("id").removeprefix("grant-"):
            row.find_element("css selector", ".state").text
            for row in driver.find_elements("css selector", "tr.grant")}


# -- the tests -------------------------------------------------------------------------------
def test_two_users_connect_refresh_and_reconnect(platform: Platform, browsers: Any) -> None:
    alice, bob = browsers(), browsers()
    sign_in(alice, platform, "alice")
    sign_in(bob, platform, "bob")
    assert connect(alice, platform, "WB-ALICE") == ["WB-ALICE-1"]
    assert connect(bob, platform, "WB-BOB") == ["WB-BOB-1"]
    # Each browser session sees its own user's accounts only, through that user's token.
    assert accounts_page(alice, platform) == ["WB-ALICE-1"]
    assert accounts_page(bob, platform) == ["WB-BOB-1"]
    assert platform.sandbox.api_identities == ["WB-ALICE", "WB-BOB", "WB-ALICE", "WB-BOB"]
    assert states(alice, platform) == {"alice": "fresh", "bob": "fresh"}
    assert (platform.profiles.parent / STORE_FOLDER / "tokens.db").is_file()

    # Past the access token's 30 minutes: the next page refreshes alice's token, once.
    platform.clock.advance(1801)
    assert platform.sandbox.refresh_calls == 0
    assert accounts_page(alice, platform) == ["WB-ALICE-1"]
    assert platform.sandbox.refresh_calls == 1
    assert platform.sandbox.invalid_grants == 0
    assert states(bob, platform) == {"alice": "fresh", "bob": "expired"}

    # Past the refresh token's 15 days: only alice herself can reconnect, from the users page.
    platform.clock.advance(days=15)
    alice.get(platform.url + "/accounts")
    assert shown(alice, "#problem").text == "Please reconnect."
    assert states(alice, platform) == {"alice": "needs login", "bob": "needs login"}
    shown(bob, "#grant-alice .reconnect").click()
    assert shown(bob, "#error").text == "Sign in as alice to reconnect that account."
    states(alice, platform)
    shown(alice, "#grant-alice .reconnect").click()
    approve_as(alice, "WB-ALICE")
    assert accounts_shown(alice) == ["WB-ALICE-1"]
    assert states(alice, platform) == {"alice": "fresh", "bob": "needs login"}
    assert platform.sandbox.api_identities[-1] == "WB-ALICE"
    assert platform.sandbox.code_exchanges == 3


def test_a_callback_from_another_login_is_refused(platform: Platform, browsers: Any) -> None:
    """A login forgery: Mallory approves a login of her own and lures alice's browser, while
    alice's connection is in progress, to the callback with Mallory's code and state."""
    alice = browsers()
    sign_in(alice, platform, "alice")
    alice.get(platform.url + "/accounts")
    shown(alice, "#connect").click()
    shown(alice, "button[value=approve]")  # alice's login is waiting on the sandbox's page

    lure = _approved_elsewhere(platform, "WB-MALLORY")
    alice.get(lure)
    until(alice, lambda d: d.find_elements("css selector", "#error, #accounts"))
    assert not alice.find_elements("css selector", "#accounts"), (
        f"a forged callback was accepted: {accounts_shown(alice)}")
    assert shown(alice, "#error").text  # refused, with the reason
    assert platform.sandbox.code_exchanges == 0
    horizon = brokerauth.horizon(PROFILE, user="alice", profiles=platform.profiles,
                                 host=platform.host, clock=platform.clock)
    assert horizon.login_needed
    alice.get(platform.url + "/accounts")
    shown(alice, "#connect")
    assert platform.sandbox.api_identities == []


def _approved_elsewhere(platform: Platform, webull_user: str) -> str:
    """The callback URL of a login started and approved outside the app's browsers."""
    pending = begin_login(PROFILE, user="mallory", profiles=platform.profiles,
                          host=platform.host, clock=platform.clock)
    fields = {**dict(parse_qsl(urlsplit(pending.url).query)), "decision": "approve",
              "user": webull_user}
    # A browser's request: nothing of it belongs in the program's logs.
    quiet = logging.getLogger("urllib3.connectionpool")
    was, quiet.disabled = quiet.disabled, True
    try:
        answer = urllib3.PoolManager(retries=False, timeout=WAIT).request(
            "POST", platform.sandbox.login_url, fields=fields, encode_multipart=False,
            redirect=False)
    finally:
        quiet.disabled = was
    assert answer.status == 302
    location = answer.headers["Location"]
    assert location.startswith(platform.url + "/callback?")
    return str(location)


def test_a_missing_browser_fails_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import brokerauth_sandbox.chromium as module

    monkeypatch.setattr(module, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    with pytest.raises(ChromiumMissing, match=r"chromium not found: run make chromium"):
        find_chromium()
