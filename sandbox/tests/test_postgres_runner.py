"""The PostgreSQL runner against a real server: authentication, the unprivileged user, outages
(stop, kill) and their returns, throwaway databases, cleanup."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from brokerauth_sandbox.postgres import PostgresMissing, PostgresServer, postgres_binaries


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    try:
        running = PostgresServer()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    with running:
        yield running


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def psql_with(server: PostgresServer, password: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    return subprocess.run(  # noqa: S603 - the server's own psql, no shell
        [str(postgres_binaries() / "psql"), "-X", "-A", "-t", "-w", "-h", "127.0.0.1",
         "-p", str(server.port), "-U", server.superuser, "-d", "postgres", "-c", "select 1"],
        env={**env, "PGPASSWORD": password}, capture_output=True, text=True, timeout=30,
        check=False,
    )


def test_answers_over_tcp_with_the_password(server: PostgresServer) -> None:
    assert server.psql("select 1") == "1\n"
    assert server.psql("select current_user, inet_server_addr()") == "brokerauth|127.0.0.1\n"
    assert server.url("x") == f"postgresql://brokerauth:{server.password}@127.0.0.1:{server.port}/x"


def test_refuses_a_wrong_password(server: PostgresServer) -> None:
    assert psql_with(server, server.password).stdout == "1\n"
    refused = psql_with(server, server.password + "x")
    assert refused.returncode != 0
    assert "password authentication failed" in refused.stderr


def test_psql_errors_carry_its_message(server: PostgresServer) -> None:
    with pytest.raises(RuntimeError, match="no_such_table"):
        server.psql("select * from no_such_table")


def test_the_password_is_nowhere_to_be_seen(server: PostgresServer) -> None:
    server.psql("select 1")
    assert server.password not in repr(server)
    assert server.password not in server.log.read_text(errors="replace")
    assert not (server.folder / "pwfile").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root is switched to another user")
def test_runs_as_an_unprivileged_user_when_we_are_root(server: PostgresServer) -> None:
    assert server.pid is not None
    status = Path(f"/proc/{server.pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert "0" not in uids, status
    groups = next(line for line in status.splitlines() if line.startswith("Groups:")).split()[1:]
    assert "0" not in groups, "root's supplementary groups were kept"


def test_stop_and_start_keep_the_port_and_the_data(server: PostgresServer) -> None:
    database = database_of(server.create_database())
    server.psql("create table kept (x int); insert into kept values (7)", database)
    port = server.port
    server.stop()
    assert not server.running
    with pytest.raises(RuntimeError):
        server.psql("select 1")
    server.start()
    assert server.port == port
    assert server.psql("select x from kept", database) == "7\n"


def test_kill_and_start_again(server: PostgresServer) -> None:
    database = database_of(server.create_database())
    server.psql("create table survived (x int); insert into survived values (1)", database)
    old = server.pid
    server.kill()
    assert old is not None
    assert not Path(f"/proc/{old}").exists()  # reaped by kill()
    server.start()
    assert server.pid != old
    # synchronous_commit is off: a crash may lose the last commits, never the cluster.
    assert server.psql("select count(*) >= 0 from pg_database", database) == "t\n"


def test_create_database_gives_distinct_working_databases(server: PostgresServer) -> None:
    first, second = server.create_database(), server.create_database()
    assert first != second
    server.psql("create table only_here (x int)", database_of(first))
    assert server.psql("select count(*) from pg_tables where tablename = 'only_here'",
                       database_of(second)) == "0\n"
    assert server.create_database("named_one").endswith("/named_one")
    with pytest.raises(ValueError, match="lower-case"):
        server.create_database('bad"; drop')


def test_close_removes_the_folder() -> None:
    server = PostgresServer(max_connections=20)
    server.start()
    assert server.psql("show max_connections") == "20\n"
    folder = server.folder
    server.close()
    assert not folder.exists()
    assert not server.running


def test_a_port_taken_before_the_first_start_is_traded_for_another() -> None:
    server = PostgresServer(max_connections=20)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            taken = server.port
            squatter.bind(("127.0.0.1", taken))
            squatter.listen()
            server.start()
            assert server.port != taken
            assert server.psql("select 1") == "1\n"
    finally:
        server.close()


def test_the_fixtures_give_each_test_a_database_and_drop_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os

        seen = []

        def test_first(postgres_server, postgres_url):
            assert os.environ["BROKERAUTH_TEST_PG_URL"] == postgres_url
            assert postgres_url.startswith(postgres_server.url("")), "same server"
            seen.append(postgres_url.rsplit("/", 1)[1])
            postgres_server.psql("create table t (x int)", seen[0])
            postgres_server.stop()  # left stopped: the teardown must cope

        def test_second(postgres_server, postgres_url):
            assert postgres_url.rsplit("/", 1)[1] != seen[0]
            names = postgres_server.psql("select datname from pg_database").split()
            assert seen[0] not in names, "the first test's database was dropped"
        """
    )
    result = pytester.runpytest_inprocess("-p", "brokerauth_sandbox.pytest_plugin", "-q")
    result.assert_outcomes(passed=2)
    assert "BROKERAUTH_TEST_PG_URL" not in os.environ


def test_the_server_of_a_killed_run_is_stopped_by_the_next_runner() -> None:
    # A test run killed with SIGKILL reaches no teardown: the next run's runner stops the
    # server it left and removes its folder.
    import os
    import signal
    import subprocess
    import sys
    import time

    from brokerauth_sandbox.postgres import reap_orphans

    code = ("from brokerauth_sandbox.postgres import PostgresServer\n"
            "import time\n"
            "server = PostgresServer(); server.start()\n"
            "print(server.pid, server.folder, flush=True)\n"
            "time.sleep(60)\n")
    starter = subprocess.Popen(  # noqa: S603 - this interpreter, this code
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert starter.stdout is not None
    pid_text, folder = starter.stdout.readline().split()
    pid = int(pid_text)
    os.kill(starter.pid, signal.SIGKILL)
    starter.wait(10)
    starter.stdout.close()
    reap_orphans()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            break
        if "State:\tZ" in state:  # dead, waiting for a reaper this container may lack
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGQUIT)
        raise AssertionError("the killed run's server was left running")
    assert not Path(folder).exists()
