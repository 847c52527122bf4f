"""The Secret Service runner against the real daemons: a private bus, an unlocked collection,
items kept by the service, locking and outages, isolation from the user's own session, cleanup.

The clients here are libsecret's ``secret-tool`` and the runner's own ``dbus-send``: the test
bench's check needs no Python keyring library."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from brokerauth_sandbox.secretservice import SecretService, SecretServiceMissing


@pytest.fixture(scope="module")
def service() -> Iterator[SecretService]:
    try:
        running = SecretService()
    except SecretServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    with running:
        yield running


def secret_tool(service: SecretService, *arguments: str,
                given: str | None = None) -> subprocess.CompletedProcess[str]:
    program = shutil.which("secret-tool")
    if program is None:
        pytest.fail("secret-tool is missing: apt-get install libsecret-tools", pytrace=False)
    env = {key: value for key, value in os.environ.items() if not key.startswith("DBUS")}
    return subprocess.run(  # noqa: S603 - libsecret's client, no shell
        [program, *arguments], input=given, env={**env, **service.environ},
        capture_output=True, text=True, timeout=30, check=False)


def test_serves_an_unlocked_default_collection_on_its_own_bus(service: SecretService) -> None:
    assert service.environ["DBUS_SESSION_BUS_ADDRESS"] == f"unix:path={service.socket}"
    assert service.environ["DBUS_SESSION_BUS_ADDRESS"] != os.environ.get(
        "DBUS_SESSION_BUS_ADDRESS")
    alias = service.call("/org/freedesktop/secrets", "org.freedesktop.Secret.Service.ReadAlias",
                         "string:default")
    assert "/org/freedesktop/secrets/collection/login" in alias
    assert not service.is_locked()


def test_stores_and_finds_an_item(service: SecretService) -> None:
    stored = secret_tool(service, "store", "--label=runner test", "runner", "round-trip",
                         given="the value")
    assert stored.returncode == 0, stored.stderr
    found = secret_tool(service, "lookup", "runner", "round-trip")
    assert (found.returncode, found.stdout) == (0, "the value")
    assert secret_tool(service, "lookup", "runner", "other").returncode != 0


def test_the_keyrings_live_in_its_folder(service: SecretService) -> None:
    assert secret_tool(service, "store", "--label=x", "runner", "on-disk",
                       given="v").returncode == 0
    keyrings = Path(service.environ["XDG_DATA_HOME"]) / "keyrings"
    assert (keyrings / "login.keyring").is_file()
    assert str(service.folder) in service.environ["XDG_RUNTIME_DIR"]


def test_lock_refuses_reads_until_unlock_and_keeps_the_items(service: SecretService) -> None:
    assert secret_tool(service, "store", "--label=x", "runner", "locked",
                       given="kept").returncode == 0
    service.lock()
    try:
        assert service.is_locked()
        refused = secret_tool(service, "lookup", "runner", "locked")
        assert refused.returncode != 0
        assert refused.stdout == "", "a locked item was read"
    finally:
        service.unlock()
    assert not service.is_locked()
    assert secret_tool(service, "lookup", "runner", "locked").stdout == "kept"


def test_stop_keyring_leaves_the_bus_without_a_service(service: SecretService) -> None:
    assert secret_tool(service, "store", "--label=x", "runner", "outage",
                       given="back").returncode == 0
    service.stop_keyring()
    try:
        assert service.bus_running
        assert not service.keyring_running
        absent = secret_tool(service, "lookup", "runner", "outage")
        assert absent.returncode != 0
        assert "org.freedesktop.secrets" in absent.stderr
        with pytest.raises(RuntimeError, match=r"ServiceUnknown|NameHasNoOwner"):
            service.is_locked()
    finally:
        service.start_keyring()
    assert secret_tool(service, "lookup", "runner", "outage").stdout == "back"


def test_the_password_is_nowhere_to_be_seen(service: SecretService) -> None:
    assert service.password not in repr(service)
    assert service.password not in service.log.read_text(errors="replace")
    for path in service.folder.rglob("*"):
        if path.is_file() and not path.is_socket():
            assert service.password.encode() not in path.read_bytes(), path


def test_close_stops_both_daemons_and_removes_the_folder() -> None:
    service = SecretService()
    service.start()
    pids = service.pids
    assert len(pids) == 2
    folder = service.folder
    service.close()
    assert not folder.exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"daemon {pid} left running"
    with pytest.raises(RuntimeError, match="closed"):
        service.start()


def test_missing_programs_fail_with_the_install_command(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SecretServiceMissing, match="apt-get install gnome-keyring"):
        SecretService()


def test_the_fixtures_give_tests_the_service_in_their_environment(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import subprocess

        def test_first(secret_service_env):
            assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == (
                secret_service_env.environ["DBUS_SESSION_BUS_ADDRESS"])
            done = subprocess.run(["secret-tool", "store", "--label=x", "fx", "1"],
                                  input=b"v", timeout=30)
            assert done.returncode == 0
            secret_service_env.lock()  # left locked: the next test gets it unlocked
            secret_service_env.stop_keyring()  # and stopped

        def test_second(secret_service_env):
            assert not secret_service_env.is_locked()
            done = subprocess.run(["secret-tool", "lookup", "fx", "1"], capture_output=True,
                                  timeout=30)
            assert done.stdout == b"v"
        """
    )
    before = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    result = pytester.runpytest_inprocess("-p", "brokerauth_sandbox.pytest_plugin", "-q")
    result.assert_outcomes(passed=2)
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS") == before


def test_the_fixture_fails_never_skips_when_a_program_is_missing(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytester.makepyfile(
        """
        def test_needs_it(secret_service):
            pass
        """
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    result = pytester.runpytest_inprocess("-p", "brokerauth_sandbox.pytest_plugin", "-q")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*apt-get install gnome-keyring*"])


@pytest.mark.skipif(sys.platform != "linux", reason="the bus dies with its parent on Linux")
def test_a_killed_test_run_leaves_no_daemon_behind(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, time\n"
        "from brokerauth_sandbox.secretservice import SecretService\n"
        "service = SecretService()\n"
        "service.start()\n"
        "print(*service.pids, service.folder, flush=True)\n"
        "time.sleep(120)\n", encoding="utf-8")
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,  # noqa: S603
                             text=True)
    try:
        assert child.stdout is not None
        *pids, folder = child.stdout.readline().split()
        assert len(pids) == 2
    finally:
        child.kill()  # SIGKILL: no cleanup of its own runs
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in pids if _running(int(pid))]
        time.sleep(0.02)
    shutil.rmtree(folder, ignore_errors=True)
    assert alive == [], "a daemon outlived the run that started it"


def _running(pid: int) -> bool:
    """Alive and not a zombie (in a container, nobody may reap an orphan)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"
