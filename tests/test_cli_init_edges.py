"""``brokerauth init`` on profiles files a user really has: broken TOML, a UTF-8 byte order
mark, a folder, bytes that are not UTF-8, CR-LF line ends; and interrupted (Ctrl-C, SIGTERM, an
error) between making the file it locks and writing it.  Each ends in one clear error naming
the file and what is wrong, the file's bytes untouched; none leaves an empty file where there
was none.  Driven as a user drives it: the real ``brokerauth`` in a subprocess, the signal
raised by the child itself at a pinned point (a test's patch, not a hook of the command)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
NEW = ["init", "third", "--broker", "double", "--set", "client_id=c-3",
       "--secret", "client_secret=THIRD_SECRET"]
BLOCK = ('[profiles.third]\nbroker = "double"\nclient_id = "c-3"\n'
         'client_secret = { env = "THIRD_SECRET" }\n')


def run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, "--profiles", str(path), *(args or NEW)],
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    for word in ("unexpected", "report it", "Traceback"):
        assert word not in result.stderr, result.stderr


@pytest.mark.parametrize(("content", "words"), [
    (b'[profiles.first]\nbroker = "double"\nclient_id = \n',
     ["is not valid TOML (Invalid value (at line 3, column 13)); nothing was written"]),
    (b"[profiles.first\n", ["is not valid TOML (", "at line 1", "nothing was written"]),
    (b'\xef\xbb\xbf[profiles.first]\nbroker = "double"\n',
     ["starts with a UTF-8 byte order mark (BOM)", "nothing was written", "without a BOM"]),
    (b'# caf\xe9\n[profiles.first]\nbroker = "double"\n',
     ["is not UTF-8 text (line 1); nothing was written"]),
], ids=["bad-value", "unclosed-table", "bom", "latin-1"])
def test_a_file_init_cannot_read_is_named_and_left_as_it_was(
    tmp_path: Path, content: bytes, words: list[str]
) -> None:
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(content)
    path.chmod(0o600)
    result = run(path)
    _refused(result, f"error: {path} ", *words)
    # Not a byte changed, not even the mark: init does not skip a BOM, since tomllib, which
    # loads the profiles, refuses it, and a profile added after it would never be read.
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brokerauth.toml"]  # no temp file


def test_a_folder_is_named_as_one(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    result = run(folder)
    _refused(result, f"error: {folder} is a folder, not a profiles file; nothing was written",
             f"e.g. {folder / 'brokerauth.toml'}")
    assert list(folder.iterdir()) == []


def test_crlf_line_ends_are_kept(tmp_path: Path) -> None:
    original = (b'# written on Windows\r\n[profiles.first]\r\nbroker = "double"\r\n'
                b'client_id = "c-1"\r\nclient_secret = { env = "FIRST_SECRET" }\r\n')
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(original)
    path.chmod(0o600)
    assert run(path).returncode == 0
    written = path.read_bytes()
    assert written == original + b"\r\n" + BLOCK.replace("\n", "\r\n").encode()
    # Replacing a profile in place (tomlkit) keeps them too.
    result = run(path, "init", "first", "--broker", "double", "--set", "client_id=c-9",
                 "--secret", "client_secret=FIRST_SECRET", "--force")
    assert result.returncode == 0, result.stderr
    replaced = path.read_bytes()
    assert replaced == written.replace(b'client_id = "c-1"', b'client_id = "c-9"')
    assert b"\n" not in replaced.replace(b"\r\n", b"")


def test_lf_line_ends_stay_lf(tmp_path: Path) -> None:
    path = tmp_path / "brokerauth.toml"
    path.write_bytes(b'[profiles.first]\nbroker = "double"\nclient_id = "c-1"\n'
                     b'client_secret = { env = "FIRST_SECRET" }\n')
    assert run(path).returncode == 0
    assert b"\r" not in path.read_bytes()


# The child runs init with its write replaced by a signal or an error: what is between making
# the file (for its lock) and writing it.
INTERRUPTED = """
import signal, sys
from brokerauth.cli import init_cmd, main

signal.signal(signal.SIGINT, signal.default_int_handler)  # as a shell gives it
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
how, *argv = sys.argv[1:]

def interrupted(path, text):
    if how == "error":
        raise OSError(28, "No space left on device")
    signal.raise_signal(getattr(signal, how))

init_cmd._write = interrupted
sys.exit(main(argv))
"""


# A write that fails (a full disk) is an error naming the file, not an unexpected one.
@pytest.mark.parametrize(("how", "code"), [("SIGINT", 130), ("SIGTERM", 128 + signal.SIGTERM),
                                           ("error", 2)])
def test_interrupted_before_the_write_leaves_no_file_where_there_was_none(
    tmp_path: Path, how: str, code: int
) -> None:
    path = tmp_path / "brokerauth.toml"
    result = subprocess.run([sys.executable, "-c", INTERRUPTED, how, "--profiles", str(path),
                             *NEW], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == code, result.stdout + result.stderr
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
    # And a file that was there before stays, byte for byte.
    path.write_bytes(b"# mine\n")
    path.chmod(0o600)
    again = subprocess.run([sys.executable, "-c", INTERRUPTED, how, "--profiles", str(path),
                            *NEW], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL, check=False)
    assert again.returncode == code, again.stdout + again.stderr
    assert path.read_bytes() == b"# mine\n"


@pytest.mark.parametrize("where", ["under a file", "in /proc"])
def test_a_target_that_cannot_be_written_is_a_clear_error(tmp_path: Path, where: str) -> None:
    """Not a traceback ("unexpected FileNotFoundError ... report it") after every question:
    a folder that cannot be there, or be made, is named with what to do."""
    if where == "under a file":
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        target = blocker / "profiles" / "brokerauth.toml"
    else:
        if not Path("/proc/self").exists():
            pytest.skip("no /proc here")
        target = Path("/proc/brokerauth-test/brokerauth.toml")
    result = run(target)
    _refused(result, f"error: {target} cannot be written", "nothing was written",
             "fix: check that its folder exists, or can be made")
