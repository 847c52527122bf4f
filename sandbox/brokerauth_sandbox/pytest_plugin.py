"""brokerauth's pytest plugin: fixtures for testing brokers over real HTTP on loopback.

Opt-in: a test suite asks for it (``pytest_plugins = ["brokerauth_sandbox.pytest_plugin"]``
in its top conftest, or ``pytest -p brokerauth_sandbox.pytest_plugin``) and then gets:

* ``manual_clock`` — a :class:`~brokerauth_sandbox.clock.ManualClock` to share between client
  and sandbox;
* ``token_home`` — a private ``BROKERAUTH_HOME`` (token store) for the test;
* ``plugin_host`` — a fresh :class:`~brokerauth.engine.pluginhost.PluginHost` over installed
  plugins;
* ``sandbox_factory`` — ``sandbox_factory("broker", clock=...)`` starts that broker's sandbox
  (from its plugin's ``brokerauth.sandbox`` entry point) and stops it after the test;
* ``session_factory`` — ``session_factory(sandbox, interaction=..., **profile_keys)`` opens a
  session on a profile pointed at the sandbox;
* ``sandbox_command`` — ``sandbox_command("broker", *options, name="p")`` runs ``brokerauth
  --json sandbox broker OPTIONS --name p`` in a subprocess (stopped with Ctrl-C after the
  test, which must end cleanly) and returns what it printed and the environment in which its
  profiles are the profiles file, as a user would use them;
* ``webhook`` — a :class:`~brokerauth_sandbox.receiver.WebhookReceiver` on loopback, its URL in
  ``$BROKERAUTH_TEST_HOOK`` (a profile's ``notify = { name = "webhook", url = { env =
  "BROKERAUTH_TEST_HOOK" } }`` delivers there), keeping each event it receives;
* ``postgres_server`` — one real :class:`~brokerauth_sandbox.postgres.PostgresServer` for the
  whole run (Debian's ``postgresql``; missing, it fails the run with the install command);
* ``postgres_url`` — a fresh database on it for the test, its URL (password included) in
  ``$BROKERAUTH_TEST_PG_URL``, dropped after the test;
* ``bearer_double_installed`` — the bench's bearer double (:mod:`brokerauth_sandbox.bearer`)
  an installed broker plugin while a module's tests run, in the test process and every
  process it starts, the module's folder on their path too (a conftest opts a folder in with
  an autouse fixture that asks for it); installing the bench alone registers no broker;
* ``bearer_double`` — its emulator, started on the test's ``manual_clock``.

and :class:`BrokerContract`, a test class a broker plugin subclasses to check itself against
the contract of :mod:`brokerauth.contract.hookspecs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from brokerauth.contract.clock import Clock
from brokerauth.contract.interaction import Interaction
from brokerauth.contract.specs import STRATEGY_KINDS, PluginInfo
from brokerauth.contract.wire import Request
from brokerauth.engine.api import session as open_session
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.resolve import resolve_profile
from brokerauth.engine.sessions import Session
from brokerauth.toolkit.secrets import Secret

from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.emulators import Sandbox, make_sandbox

# The suite-wide secret-leak check rides along with the fixtures: ``pytest --secret-canary``.
pytest_plugins = ["brokerauth_sandbox.canary"]
# The bench's test helpers assert; pytest shows what their assertions compared (registered
# before any test module imports them).
pytest.register_assert_rewrite("brokerauth_sandbox.bearer.helpers")

SandboxFactory = Callable[..., Any]
SessionFactory = Callable[..., Session]


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox_command(tmp_path: Path, token_home: Path) -> Iterator[Any]:
    import json
    import os
    import sys

    import tomli_w

    from brokerauth_sandbox.commandline_check import Child, assert_clean_exit

    command = str(Path(sys.executable).with_name("brokerauth"))
    children: list[Child] = []

    def start(broker: str, *options: str,
              name: str = "sandbox") -> tuple[dict[str, Any], dict[str, str]]:
        folder = tmp_path / f"sandbox{len(children)}"
        child = Child([command, "--json", "sandbox", broker, *options, "--name", name], folder)
        children.append(child)
        described: dict[str, Any] = json.loads(child.until("\n}\n"))
        path = folder / "brokerauth.toml"
        path.write_text(tomli_w.dumps({"profiles": described["profiles"]}), encoding="utf-8")
        return described, {**os.environ, **described["env"], "BROKERAUTH_PROFILES": str(path)}

    yield start
    for child in children:
        child.interrupt()
        assert_clean_exit(child)


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from brokerauth_sandbox.receiver import WebhookReceiver

    receiver = WebhookReceiver().start()
    monkeypatch.setenv(HOOK_VARIABLE, receiver.url)
    yield receiver
    receiver.stop()


#: The variable the ``webhook`` fixture puts its URL in.
HOOK_VARIABLE = "BROKERAUTH_TEST_HOOK"
#: A profile's ``notify`` delivering to the ``webhook`` fixture.
NOTIFY_WEBHOOK = {"name": "webhook", "url": {"env": HOOK_VARIABLE}}


@pytest.fixture
def token_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "brokerauth-home"
    monkeypatch.setenv("BROKERAUTH_HOME", str(home))
    return home


@pytest.fixture
def plugin_host() -> PluginHost:
    return PluginHost.create()


@pytest.fixture
def sandbox_factory(plugin_host: PluginHost) -> Iterator[SandboxFactory]:
    started: list[Sandbox] = []

    def start(broker: str, clock: Clock | None = None) -> Any:
        plugin_host.broker(broker)
        sandbox = make_sandbox(broker, clock or ManualClock())
        if sandbox is None:
            raise LookupError(f"the plugin of broker {broker!r} offers no sandbox")
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        sandbox.stop()


@pytest.fixture
def session_factory(token_home: Path, plugin_host: PluginHost) -> Iterator[SessionFactory]:
    opened: list[Session] = []

    def make(
        sandbox: Any,
        *,
        name: str = "test",
        clock: Clock | None = None,
        user: str | None = None,
        interaction: Interaction | None = None,
        **keys: Any,
    ) -> Session:
        table = {"broker": sandbox.broker, **sandbox.profile_settings(), **keys}
        session = open_session(
            Profile.from_mapping(name, table),
            user=user,
            clock=clock or getattr(sandbox, "clock", None),
            host=plugin_host,
            interaction=interaction,
        )
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


class BrokerContract:
    """Subclass in a broker plugin's tests, set the class attributes, and pytest runs these
    checks against the plugin and its sandbox over loopback::

        class TestAcmeContract(BrokerContract):
            broker = "acme"
            protected = ("GET", "/api/me")
    """

    #: The broker id the plugin declares.
    broker: str = ""
    #: A request the sandbox accepts only when signed (and, if the flow has tokens, with one).
    protected: tuple[str, str] = ("GET", "/")
    #: Secret-referenced settings the protocol itself sends (an app key in ``x-app-key``):
    #: they must appear in the headers, every other secret must not.
    sent_in_clear: tuple[str, ...] = ()
    #: What the signer's headers vary with: ``"nonce"`` (a signature over a nonce and the
    #: time, as Webull's), ``"time"`` (no nonce, as Futu's API key), ``"none"`` (a bearer token
    #: only: no signature at all).
    signature_covers: str = "nonce"

    def prepare_sandbox(self, sandbox: Any) -> None:
        """Override to set the sandbox up so a login needs no person (e.g. auto-verify 2FA)."""

    @pytest.fixture
    def contract_sandbox(
        self, sandbox_factory: SandboxFactory, manual_clock: ManualClock, token_home: Path
    ) -> Any:
        # token_home first: a login in prepare_sandbox must never reach the real token store.
        sandbox = sandbox_factory(self.broker, clock=manual_clock)
        self.prepare_sandbox(sandbox)
        return sandbox

    def test_describes_its_broker(self, plugin_host: PluginHost) -> None:
        spec, owner = plugin_host.broker(self.broker)
        info = plugin_host.loaded[owner].info
        assert isinstance(info, PluginInfo)
        assert attrs.has(spec.settings), "broker settings must be an attrs class"
        for kind in STRATEGY_KINDS:
            plugin_host.strategy(kind, getattr(spec, kind))

    def test_profile_resolves_against_sandbox(
        self, plugin_host: PluginHost, contract_sandbox: Any
    ) -> None:
        profile = Profile.from_mapping(
            "contract", {"broker": self.broker, **contract_sandbox.profile_settings()}
        )
        resolved = resolve_profile(profile, plugin_host)
        assert resolved.settings.api_base_url.rstrip("/") == contract_sandbox.base_url

    def test_signing_is_pure_and_keeps_secrets(
        self, plugin_host: PluginHost, contract_sandbox: Any, manual_clock: ManualClock
    ) -> None:
        settings = contract_sandbox.profile_settings()
        resolved = resolve_profile(
            Profile.from_mapping("contract", {"broker": self.broker, **settings}), plugin_host
        )
        signer = resolved.signer
        request = Request.from_url(
            "POST", contract_sandbox.base_url + "/x?a=1", body=b'{"k":"v"}'
        )
        now = manual_clock.now()

        def sign(nonce: str, seconds: float = 0) -> dict[str, str]:
            return dict(plugin_host.sign_request(
                signer.name, request, resolved.settings, None,
                now + timedelta(seconds=seconds), nonce, owner=signer.owner,
            ))

        first = sign("0" * 32)
        assert first == sign("0" * 32), "same inputs must give the same headers"
        if self.signature_covers == "nonce":
            assert first != sign("1" * 32), "the nonce must change the signature"
        else:
            assert first == sign("1" * 32), "a scheme without a nonce must ignore it"
        if self.signature_covers != "none":
            assert first != sign("0" * 32, seconds=1), "the time must change the signature"
        sent_values = set(first.values())
        for key in self.sent_in_clear:
            assert settings[key].reveal() in sent_values, f"{key} should be sent as is"
        never_sent = [
            value.reveal()
            for key, value in settings.items()
            if isinstance(value, Secret) and key not in self.sent_in_clear
        ]
        for value in first.values():
            for secret in never_sent:
                assert secret not in value, "a secret was sent in a header"

    def test_signed_request_accepted_by_sandbox(
        self, session_factory: SessionFactory, contract_sandbox: Any
    ) -> None:
        session = session_factory(contract_sandbox)
        method, path = self.protected
        response = session.request(method, path)
        assert response.ok, response.text
        token = session.tokens.peek()
        if token is not None:
            for secret in (token.access_token, token.refresh_token):
                if secret:
                    assert secret not in repr(token)
                    assert secret not in repr(session)

    def test_tampered_request_refused_by_sandbox(
        self, session_factory: SessionFactory, contract_sandbox: Any
    ) -> None:
        session = session_factory(contract_sandbox)
        method, path = self.protected
        assert session.request(method, path).ok
        binding = session.binding
        signed = binding.sign(binding.build(method, path), session.tokens.current())
        tampered = attrs.evolve(signed, path=signed.path + "x")
        response = binding.transport.send(tampered)
        assert not response.ok

    def test_token_survives_a_new_session(
        self, session_factory: SessionFactory, contract_sandbox: Any, manual_clock: ManualClock
    ) -> None:
        first = session_factory(contract_sandbox)
        method, path = self.protected
        assert first.request(method, path).ok
        stored = first.tokens.peek()
        manual_clock.advance(1)
        second = session_factory(contract_sandbox)
        assert second.request(method, path).ok
        if stored is not None:
            assert second.tokens.peek() == stored, "the second session should reuse the token"


#: The variable the ``postgres_url`` fixture puts its database's URL in.
PG_URL_VARIABLE = "BROKERAUTH_TEST_PG_URL"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    # Imported here: loading the plugin must not cost suites that never use PostgreSQL.
    from brokerauth_sandbox.canary import watch
    from brokerauth_sandbox.postgres import PostgresMissing, PostgresServer

    try:
        server = PostgresServer()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    watch(server.password)
    with server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url: str = postgres_server.create_database()
    monkeypatch.setenv(PG_URL_VARIABLE, url)
    yield url
    postgres_server.start()  # a test that staged an outage may have left it stopped
    name = url.rsplit("/", 1)[1]
    postgres_server.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def bearer_double_installed(request: pytest.FixtureRequest) -> Iterator[None]:
    """The bearer double an installed plugin for the module's tests (and the processes they
    start), the module's folder on their path (for the workers a spawned process imports)."""
    from brokerauth_sandbox import bearer

    with bearer.installed(request.path.parent):
        yield


@pytest.fixture
def bearer_double(bearer_double_installed: None, sandbox_factory: SandboxFactory,
                  manual_clock: ManualClock) -> Any:
    """A started emulator of the bearer double on the test's manual clock."""
    from brokerauth_sandbox.bearer import BROKER

    return sandbox_factory(BROKER, clock=manual_clock)


@pytest.fixture(scope="session")
def secret_service() -> Iterator[Any]:
    """One real :class:`~brokerauth_sandbox.secretservice.SecretService` (a private D-Bus
    session bus and Debian's ``gnome-keyring-daemon``) for the whole run; its ``environ`` holds
    ``DBUS_SESSION_BUS_ADDRESS`` and the ``XDG_*`` folders that reach it.  Missing, it fails
    the run with the install command."""
    # Imported here: loading the plugin must not cost suites that never use a keyring.
    from brokerauth_sandbox.canary import watch
    from brokerauth_sandbox.secretservice import SecretService, SecretServiceMissing

    try:
        service = SecretService()
    except SecretServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    watch(service.password)
    with service:
        yield service


@pytest.fixture
def secret_service_env(secret_service: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The ``secret_service`` fixture's variables in ``os.environ`` for the test (and the
    processes it starts), running and unlocked; yields the service."""
    secret_service.start()  # a test that staged an outage may have left it stopped
    if secret_service.is_locked():
        secret_service.unlock()
    for key, value in secret_service.environ.items():
        monkeypatch.setenv(key, value)
    yield secret_service
    secret_service.start()  # left stopped or locked by the test: the next one needs neither
    if secret_service.is_locked():
        secret_service.unlock()
