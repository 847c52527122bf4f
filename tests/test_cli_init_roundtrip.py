"""``brokerauth init`` as a user meets it: it adds to a profiles file they wrote by hand without
touching a byte of it, asks at a terminal (a real pty) only what the broker cannot do without,
and Ctrl-D or Ctrl-C at a prompt ends it with one line, nothing written."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))

HAND_WRITTEN = """\
# my profiles: written by hand, kept by hand
# (init must not reorder, reformat or drop anything here)

[profiles.first]          # the one I use every day
broker = "double"
client_id = "c-1"
client_secret = { env = "FIRST_SECRET" }   # never a literal
base_url = "http://127.0.0.1:9"

[profiles.first.store]    # a sub-table of its own
name = "memory"

# [profiles.old]           a profile commented out stays commented out
# broker = "double"

[profiles.second]
broker="double"
client_id   =   'c-2'
client_secret = {env="SECOND_SECRET"}
region = "us" # trailing comment, no newline at the end"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


def test_a_new_profile_leaves_every_byte_of_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(HAND_WRITTEN.encode())
    path.chmod(0o600)
    result = run("--profiles", str(path), "init", "third", "--broker", "double",
                 "--set", "client_id=c-3", "--secret", "client_secret=THIRD_SECRET")
    assert result.returncode == 0, result.stderr
    written = path.read_bytes().decode()
    assert written == HAND_WRITTEN + "\n\n" + (
        "[profiles.third]\n"
        'broker = "double"\n'
        'client_id = "c-3"\n'
        'client_secret = { env = "THIRD_SECRET" }\n'
    )
    assert path.stat().st_mode & 0o777 == 0o600  # the file's mode is kept too
    listed = run("--profiles", str(path), "profiles", "--json")
    assert '"third"' in listed.stdout, listed.stdout + listed.stderr


def test_a_replaced_profile_changes_only_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(HAND_WRITTEN.encode())
    path.chmod(0o600)
    refused = run("--profiles", str(path), "init", "first", "--broker", "double",
                  "--set", "client_id=new", "--secret", "client_secret=FIRST_SECRET")
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert path.read_bytes().decode() == HAND_WRITTEN
    result = run("--profiles", str(path), "init", "first", "--broker", "double", "--force",
                 "--set", "client_id=new", "--secret", "client_secret=FIRST_SECRET",
                 "--set", 'store={ name = "memory" }')
    assert result.returncode == 0, result.stderr
    # One line changed where it stood (base_url, no longer given, is gone); every other byte,
    # the profile's own comments and sub-table included, is as it was.
    assert path.read_bytes().decode() == (
        HAND_WRITTEN.replace('client_id = "c-1"', 'client_id = "new"')
        .replace('base_url = "http://127.0.0.1:9"\n', "")
    )


def test_force_with_a_required_key_left_out_says_the_profile_is_replaced(
    tmp_path: Path,
) -> None:
    # "is required" alone, about a key the file has, reads as init not seeing the file.
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(HAND_WRITTEN.encode())
    result = run("--profiles", str(path), "init", "first", "--broker", "double", "--force",
                 "--set", "client_id=new")
    assert result.returncode == 2
    assert "client_secret is in the existing profile but not in this command" in result.stderr
    assert "--secret client_secret=" in result.stderr
    assert path.read_bytes().decode() == HAND_WRITTEN


def test_init_runs_at_once_keep_every_profile(tmp_path: Path) -> None:
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(HAND_WRITTEN.encode())
    runs = [subprocess.Popen([BROKERAUTH, "--profiles", str(path), "init", f"p{n}", "--broker",
                              "double", "--set", "client_id=c", "--secret",
                              "client_secret=SECRET_VARIABLE"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for n in range(6)]
    for made in runs:
        _, err = made.communicate(timeout=120)
        assert made.returncode == 0, err
    import tomllib

    names = set(tomllib.loads(path.read_text())["profiles"])
    assert names == {"first", "second", *(f"p{n}" for n in range(6))}
    assert path.read_text().startswith(HAND_WRITTEN)


def test_init_writes_through_a_link_and_keeps_the_owner(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "brokerauth.toml"
    real.parent.mkdir()
    real.write_bytes(HAND_WRITTEN.encode())
    real.chmod(0o640)
    link = tmp_path / "brokerauth.toml"
    link.symlink_to(real)
    if os.geteuid() == 0:  # as root, a file of another account's must stay theirs
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.chown(real, nobody.pw_uid, nobody.pw_gid)
    before = real.stat()
    result = run("--profiles", str(link), "init", "third", "--broker", "double",
                 "--set", "client_id=c-3", "--secret", "client_secret=THIRD_SECRET")
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()  # a dotfiles link stays a link...
    assert "[profiles.third]" in real.read_text()  # ...to the file that was changed
    after = real.stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        before.st_uid, before.st_gid, before.st_mode)


def test_a_secret_pasted_for_its_variable_is_refused_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "brokerauth.toml"
    pasted = "sk_live_9f8e7d6c5b4a+/Zx=="
    result = run("--profiles", str(path), "init", "live", "--broker", "double",
                 "--set", "client_id=c", "--secret", f"client_secret={pasted}")
    assert result.returncode == 2
    assert "did you paste the secret itself" in result.stderr
    assert pasted not in result.stderr + result.stdout
    assert not path.exists() or pasted not in path.read_text()
    # Nor when the '=' is missing.
    result = run("--profiles", str(path), "init", "live", "--broker", "double",
                 "--secret", pasted)
    assert result.returncode == 2
    assert pasted not in result.stderr + result.stdout


@pytest.mark.parametrize("pasted", [
    "yAmsQ3k9Xc2Lr7Vb4Nw8Tz1Pd6Hj5FH7",  # letters and digits, as many app secrets are
    "a9f8e7d6c5b4a39281706f5e4d3c2b1a",  # hex
    "A1B2C3D4E5F60718293A4B5C6D7E8F90",  # upper-case hex
    "kK6LpAOK0_CwVhDIvOUT0CnQcNosA5Mp",  # base64url, with its "_"
    "AKIAIOSFODNN7EXAMPLE",  # an access key id
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",  # a token with its prefix
], ids=["mixed-case", "hex", "upper-hex", "base64url", "key-id", "prefixed"])
def test_a_secret_that_could_name_a_variable_is_still_refused_when_it_looks_like_one(
    tmp_path: Path, pasted: str
) -> None:
    """A secret of letters and digits is a valid variable name: pasted where the name goes,
    it would land in the profiles file (world-readable, meant for sharing) and on screen. A
    long name with lower-case letters and digits and no ``_``, and no such variable set, is
    taken for a pasted secret."""
    path = tmp_path / "brokerauth.toml"
    result = run("--profiles", str(path), "init", "live", "--broker", "double",
                 "--set", "client_id=c", "--secret", f"client_secret={pasted}")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "look like the secret itself" in result.stderr
    assert pasted not in result.stderr + result.stdout
    assert not path.exists()


@pytest.mark.parametrize("name", ["WEBULL_APP_SECRET", "BROKERAUTH_SANDBOX_WEBULL_APP_SECRET",
                                  "OAUTH2_CLIENT_SECRET", "MY_KEY_2024", "webullAppSecret",
                                  "FUTU_ACCESS_TOKEN_V2"])
def test_ordinary_variable_names_are_taken_though_not_set(tmp_path: Path, name: str) -> None:
    path = tmp_path / "brokerauth.toml"
    env = {k: v for k, v in os.environ.items() if k != name}
    result = subprocess.run([BROKERAUTH, "--profiles", str(path), "init", "live", "--broker",
                             "double", "--set", "client_id=c", "--secret",
                             f"client_secret={name}"], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert f'client_secret = {{ env = "{name}" }}' in path.read_text()


def test_a_variable_named_like_a_secret_is_taken_when_it_is_set(tmp_path: Path) -> None:
    path = tmp_path / "brokerauth.toml"
    name = "prodKey2024secretA"
    result = subprocess.run([BROKERAUTH, "--profiles", str(path), "init", "live", "--broker",
                             "double", "--set", "client_id=c", "--secret",
                             f"client_secret={name}"], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL,
                            env={**os.environ, name: "the-value"}, check=False)
    assert result.returncode == 0, result.stderr
    assert f'client_secret = {{ env = "{name}" }}' in path.read_text()


def test_init_creates_the_file_brokerauth_profiles_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$BROKERAUTH_PROFILES names where profiles are read from, so where init writes: a
    file not there yet is created, as --profiles creates one."""
    path = tmp_path / "mine.toml"
    monkeypatch.setenv("BROKERAUTH_PROFILES", str(path))
    result = run("init", "live", "--broker", "double", "--set", "client_id=c",
                 "--secret", "client_secret=LIVE_SECRET")
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout
    assert '[profiles.live]' in path.read_text()


def test_a_relative_secret_file_is_written_as_an_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "brokerauth.toml"
    result = subprocess.run([BROKERAUTH, "--profiles", str(path), "init", "live", "--broker",
                             "double", "--set", "client_id=c", "--secret-file",
                             "client_secret=keys/secret.txt"], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert f'{{ file = "{tmp_path / "keys" / "secret.txt"}" }}' in path.read_text()


# -- at a terminal ---------------------------------------------------------------------------


def _take_terminal() -> None:
    """In the child: the pty becomes its controlling terminal, and Ctrl-C does what it does
    in a shell's foreground job (even when these tests run where SIGINT is ignored, like a
    background job of a script, or where it is blocked by the thread that started it)."""
    import fcntl
    import signal
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class Terminal:
    """``brokerauth`` on a real pty; every read bounded by a deadline."""

    def __init__(self, *args: str, cwd: Path) -> None:
        import pty

        self.primary, secondary = pty.openpty()
        # A session of its own whose controlling terminal is the pty, as a shell gives it:
        # Ctrl-C typed there is SIGINT to it.
        self.process = subprocess.Popen([BROKERAUTH, *args], stdin=secondary, stdout=secondary,
                                        stderr=secondary, close_fds=True, cwd=cwd,
                                        start_new_session=True, preexec_fn=_take_terminal)
        os.close(secondary)
        self.output = b""

    def expect(self, text: str, timeout: float = 20.0) -> str:
        """Reads until ``text`` has been printed; returns everything printed so far."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{text!r} never came; the terminal showed:\n"
                                     + self.output.decode(errors="replace"))
        return self.output.decode(errors="replace")

    def send(self, data: bytes) -> None:
        os.write(self.primary, data)

    def ended(self, timeout: float) -> bool:
        """Whether the program has ended within ``timeout`` (reading what it prints)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return True
            self._read(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.process.poll() is not None

    def finish(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline - time.monotonic()):
            pass
        try:
            return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError("init did not end; the terminal showed:\n"
                                 + self.output.decode(errors="replace")) from None
        finally:
            os.close(self.primary)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.primary], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.primary, 4096)
        except OSError:  # the child closed its side
            return False
        self.output += chunk
        return bool(chunk)


def _named_profile_mine(path: Path) -> tuple[Terminal, str]:
    """``init`` at a terminal, told the profile's name (``mine``), at the broker question;
    and what it has shown."""
    terminal = Terminal("--profiles", str(path), "init", cwd=path.parent)
    terminal.expect("profile name [default]: ")
    terminal.send(b"mine\n")
    return terminal, terminal.expect("broker [")


def test_init_at_a_terminal_asks_only_the_required_settings(tmp_path: Path) -> None:
    pytest.importorskip("brokerauth_webull")
    path = tmp_path / "brokerauth.toml"
    terminal, _ = _named_profile_mine(path)
    shown = terminal.expect("broker [webull]: ")  # a real broker, never the fictional one
    assert "[acme]" not in shown
    terminal.send(b"\n")
    terminal.expect("environment variable holding it [WEBULL_APP_KEY]: ")
    terminal.send(b"\n")
    terminal.expect("environment variable holding it [WEBULL_APP_SECRET]: ")
    terminal.send(b"\n")
    # No more questions: the optional settings keep their defaults.
    assert terminal.finish() == 0
    text = terminal.output.decode(errors="replace")
    assert "wrote profile 'mine'" in text
    assert "--set" in text  # it says how to change a default
    assert path.read_text() == (
        "[profiles.mine]\n"
        'broker = "webull"\n'
        'app_key = { env = "WEBULL_APP_KEY" }\n'
        'app_secret = { env = "WEBULL_APP_SECRET" }\n'
    )


def test_a_broker_typo_at_the_prompt_is_named_and_asked_again(tmp_path: Path) -> None:
    pytest.importorskip("brokerauth_webull")
    path = tmp_path / "brokerauth.toml"
    terminal, _ = _named_profile_mine(path)
    terminal.send(b"webul\n")
    shown = terminal.expect("no installed plugin provides broker 'webul'")
    for _attempt in range(20):  # asked again, not the end of init
        if terminal.output.count(b"broker [webull]: ") == 2:
            break
        assert terminal._read(1.0), terminal.output.decode(errors="replace")
    shown = terminal.output.decode(errors="replace")
    assert shown.count("broker [webull]: ") == 2
    assert "did you mean 'webull'" in shown.lower()
    terminal.send(b"webull\n")
    terminal.expect("environment variable holding it [WEBULL_APP_KEY]: ")
    terminal.send(b"\n")
    terminal.expect("environment variable holding it [WEBULL_APP_SECRET]: ")
    terminal.send(b"\n")
    assert terminal.finish() == 0
    assert 'broker = "webull"' in path.read_text()


@pytest.mark.parametrize(("key", "code", "words"), [(b"\x04", 1, "input ended"),
                                                    (b"\x03", 130, "interrupted")],
                         ids=["ctrl-d", "ctrl-c"])
def test_ctrl_d_or_ctrl_c_at_a_prompt_ends_with_one_line(tmp_path: Path, key: bytes, code: int,
                                                         words: str) -> None:
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(HAND_WRITTEN.encode())
    path.chmod(0o600)
    terminal, _ = _named_profile_mine(path)
    terminal.send(key)
    # A person presses again when nothing happens: a key typed while the line discipline
    # was still being set up for the prompt can be lost (a bounded number of tries).
    for _attempt in range(5):
        if terminal.ended(timeout=2.0):
            break
        terminal.send(key)
    assert terminal.finish() == code
    text = terminal.output.decode(errors="replace")
    after = text.split("broker [", 1)[1]
    errors = [line for line in after.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], text
    assert "unexpected" not in text and "report it" not in text and "Traceback" not in text
    assert path.read_bytes().decode() == HAND_WRITTEN  # nothing written


def test_at_a_terminal_a_target_init_cannot_write_is_named_before_any_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the profile would go is settled first: a person is not asked every question,
    then told the answers cannot be written."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setenv("BROKERAUTH_PROFILES", str(folder))
    terminal = Terminal("init", cwd=tmp_path)
    assert terminal.finish() == 2
    shown = terminal.output.decode(errors="replace")
    assert f"{folder} is a folder, not a profiles file" in shown
    assert "profile name" not in shown
