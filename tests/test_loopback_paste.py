"""Headless logins: the redirect a person pastes back is judged by the loopback listener exactly
as an arriving one (host and port, path, this login's state, ``error=``), whichever of the two
comes first wins, a few refused pastes stop the login, and the command line's interaction reads
the paste from standard input while the flow waits, without echoing it, and stops reading at
the end of the wait or of the input.  Real sockets on 127.0.0.1, real pipes and a real pty."""

from __future__ import annotations

import contextlib
import io
import os
import select
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import urllib3
from brokerauth.cli.terminal import TerminalInteraction
from brokerauth.contract.errors import BrokerAuthError
from brokerauth.contract.interaction import announced_redirect
from brokerauth.toolkit.loopback import (
    LoginTimeoutError,
    LoopbackListener,
    PasteRefusedError,
    TooManyPastesError,
)
from brokerauth.toolkit.oauth import AuthorizationError

STATE = "the-right-state-Zk3q9wPq81"
CODE = "the-code-SECRET-7b1f0e"


@pytest.fixture
def listener() -> Iterator[LoopbackListener]:
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state=STATE,
                          timeout=10) as running:
        yield running


def good(listener: LoopbackListener, code: str = CODE) -> str:
    return f"http://127.0.0.1:{listener.port}/callback?code={code}&state={STATE}"


def get(url: str) -> int:
    return urllib3.request("GET", url, redirect=False, retries=False, timeout=5).status


class Screen(io.StringIO):
    """stderr of the command line, which a test can wait on."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()

    def write(self, text: str) -> int:
        with self._changed:
            written = super().write(text)
            self._changed.notify_all()
        return written

    def wait_for(self, text: str, timeout: float = 5.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: text in self.getvalue(), timeout):
                raise AssertionError(f"{text!r} never shown: {self.getvalue()!r}")


# --- the listener's judgement --------------------------------------------------------------


def test_a_pasted_redirect_ends_the_wait_with_its_code(listener: LoopbackListener) -> None:
    assert announced_redirect() is listener
    listener.accept_pasted("  " + good(listener) + "\n")
    assert not listener.pending
    assert listener.wait() == CODE
    assert announced_redirect() is None


@pytest.mark.parametrize(("pasted", "reason"), [
    ("http://127.0.0.1:{port}/callback?code=c&state=wrong-state", "state"),
    ("http://127.0.0.1:{port}/callback?code=c&state=" + STATE + "x", "state"),
    ("http://127.0.0.1:{port}/callback?code=c", "state"),
    ("http://127.0.0.1:{port}/callback?error=access_denied&state=nope", "state"),
    ("http://evil.example:{port}/callback?code=c&state=" + STATE, "host or port"),
    ("http://127.0.0.2:{port}/callback?code=c&state=" + STATE, "host or port"),
    ("http://127.0.0.1:{other}/callback?code=c&state=" + STATE, "host or port"),
    ("http://127.0.0.1/callback?code=c&state=" + STATE, "host or port"),
    ("http://user@127.0.0.1:{port}/callback?code=c&state=" + STATE, "host or port"),
    ("http://127.0.0.1:{port}/other?code=c&state=" + STATE, "path"),
    ("http://127.0.0.1:{port}/callback/?code=c&state=" + STATE, "path"),
    ("https://127.0.0.1:{port}/callback?code=c&state=" + STATE, "scheme"),
    ("/callback?code=c&state=" + STATE, "whole address"),
    ("code=c&state=" + STATE, "whole address"),
    ("http://127.0.0.1:{port}/callback?state=" + STATE, "no authorization code"),
    ("http://[127.0.0.1/callback?code=c&state=" + STATE, "not a URL"),
])
def test_a_paste_that_is_not_this_logins_redirect_is_refused_and_the_login_goes_on(
    listener: LoopbackListener, pasted: str, reason: str
) -> None:
    text = pasted.format(port=listener.port, other=listener.port + 1)
    with pytest.raises(PasteRefusedError) as info:
        listener.accept_pasted(text)
    shown = str(info.value)
    assert reason in shown
    assert "code=c" not in shown and STATE not in shown  # never what was pasted
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert listener.pending
    assert listener.pastes_refused == 1
    listener.accept_pasted(good(listener))
    assert listener.wait() == CODE


def test_the_listeners_host_rule_is_the_pastes(listener: LoopbackListener) -> None:
    # Any loopback name with this port, as the Host header may carry.
    listener.accept_pasted(f"http://LOCALHOST:{listener.port}/callback?code=c&state={STATE}")
    assert listener.wait() == "c"


def test_an_error_with_the_right_state_ends_the_login_with_the_scrubbed_reason(
    listener: LoopbackListener,
) -> None:
    description = quote(f"you said no\x1b[31m {STATE}\nreally")
    listener.accept_pasted(f"http://127.0.0.1:{listener.port}/callback?error=access_denied"
                           f"&error_description={description}&state={STATE}")
    assert not listener.pending
    with pytest.raises(AuthorizationError) as info:
        listener.wait()
    message = info.value.message
    assert "authorization failed: access_denied" in message
    assert STATE not in message and "\x1b" not in message and "\n" not in message


def test_the_redirect_first_wins_over_a_later_paste(listener: LoopbackListener) -> None:
    assert get(good(listener, "from-the-browser")) == 200
    with pytest.raises(PasteRefusedError, match="no longer waiting"):
        listener.accept_pasted(good(listener, "pasted"))
    assert listener.wait() == "from-the-browser"


def test_a_paste_first_wins_over_a_later_redirect(listener: LoopbackListener) -> None:
    listener.accept_pasted(good(listener, "pasted"))
    assert get(good(listener, "from-the-browser")) == 400
    assert listener.wait() == "pasted"


def test_a_redirect_and_a_paste_at_once_end_the_wait_once() -> None:
    for _ in range(10):
        with LoopbackListener("http://127.0.0.1:0/callback", expected_state=STATE,
                              timeout=10) as listener:
            go = threading.Barrier(2)
            outcome: dict[str, Any] = {}

            def browser(listener: LoopbackListener = listener, go: threading.Barrier = go,
                        outcome: dict[str, Any] = outcome) -> None:
                go.wait(5)
                outcome["status"] = get(good(listener, "browser"))

            visit = threading.Thread(target=browser)
            visit.start()
            go.wait(5)
            try:
                listener.accept_pasted(good(listener, "pasted"))
                outcome["pasted"] = True
            except PasteRefusedError:
                outcome["pasted"] = False
            visit.join(10)
            code = listener.wait()
            assert (code == "pasted") == outcome["pasted"] == (outcome["status"] == 400)


def test_a_few_refused_pastes_stop_the_login_with_a_typed_error() -> None:
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state=STATE,
                          timeout=10, paste_attempts=3) as listener:
        wrong = f"http://127.0.0.1:{listener.port}/callback?code=c&state=bad"
        for _ in range(2):
            with pytest.raises(PasteRefusedError):
                listener.accept_pasted(wrong)
            assert listener.pending
        with pytest.raises(PasteRefusedError):
            listener.accept_pasted(wrong)
        assert not listener.pending
        with pytest.raises(TooManyPastesError) as info:
            listener.wait()
        assert "3 pasted addresses were refused" in info.value.message


def test_done_callbacks_run_once_at_the_end_of_the_wait(listener: LoopbackListener) -> None:
    calls: list[str] = []
    listener.on_done(lambda: calls.append("first"))
    listener.accept_pasted(good(listener))
    listener.wait()
    listener.on_done(lambda: calls.append("late"))  # already over: at once
    listener.close()
    assert calls == ["first", "late"]


def test_the_listener_is_announced_only_while_it_waits() -> None:
    assert announced_redirect() is None
    listener = LoopbackListener("http://127.0.0.1:0/callback", expected_state=STATE, timeout=10)
    assert announced_redirect() is None  # not before it listens
    listener.start()
    try:
        assert announced_redirect() is listener
        seen: list[object] = []
        other = threading.Thread(target=lambda: seen.append(announced_redirect()))
        other.start()
        other.join(5)
        assert seen == [None]  # another thread's login is not this one
    finally:
        listener.close()
    assert announced_redirect() is None


# --- the command line's interaction ---------------------------------------------------------

#: Windows' ``select`` takes sockets only: there no paste is offered, the listener alone waits.
READS_STDIN = pytest.mark.skipif(sys.platform == "win32", reason="pastes are read on POSIX")


def paste_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "brokerauth-paste"]


@pytest.fixture
def pipe() -> Iterator[tuple[io.TextIOWrapper, int]]:
    """Standard input as a pipe: the reading end as a file, and the writing end."""
    read, write = os.pipe()
    stdin = open(read, encoding="utf-8", closefd=True)  # noqa: SIM115 - closed below
    try:
        yield stdin, write
    finally:
        stdin.close()
        with contextlib.suppress(OSError):  # the test closed it (end of input)
            os.close(write)


def flow(interaction: TerminalInteraction, listener: LoopbackListener,
         during: Any = None) -> str:
    """What a flow does (Futu's order: the wait shown, then the URL), ``during`` run while it
    waits."""
    deadline = datetime.now(UTC) + timedelta(seconds=listener.timeout)
    with interaction.waiting("waiting for the login", deadline=deadline):
        interaction.open_url("https://broker.example/authorize?client_id=x")
        if during is not None:
            during()
        return listener.wait()


@READS_STDIN
def test_the_terminal_takes_the_pasted_redirect_while_the_flow_waits(
    listener: LoopbackListener, pipe: tuple[io.TextIOWrapper, int]
) -> None:
    stdin, write = pipe
    screen = Screen()
    interaction = TerminalInteraction(open_browser=False, stream=screen, stdin=stdin)

    def paste() -> None:
        screen.wait_for("paste the whole address")
        os.write(write, f"http://127.0.0.1:{listener.port}/other?code=c&state={STATE}\n".encode())
        screen.wait_for("its path is not this login's redirect")
        os.write(write, f"http://127.0.0.1:{listener.port}/callback?code=c&state=bad\n".encode())
        screen.wait_for("its state is missing")
        os.write(write, ("\x1b[200~" + good(listener) + "\x1b[201~\n").encode())

    assert flow(interaction, listener, paste) == CODE
    shown = screen.getvalue()
    assert shown.count("Paste it again.") == 2
    assert shown.count("it starts with " + listener.redirect_uri) == 1  # the hint, once
    assert listener.redirect_uri in shown  # what to look for in the address bar
    assert CODE not in shown and STATE not in shown and "code=c" not in shown
    assert paste_threads() == []


@READS_STDIN
def test_the_redirect_arriving_stops_the_reading(
    listener: LoopbackListener, pipe: tuple[io.TextIOWrapper, int]
) -> None:
    stdin, _ = pipe
    interaction = TerminalInteraction(open_browser=False, stream=Screen(), stdin=stdin)
    assert flow(interaction, listener, lambda: get(good(listener, "browser"))) == "browser"
    assert paste_threads() == []


@READS_STDIN
def test_a_flow_showing_no_wait_stops_the_reading_at_the_end_of_the_wait(
    listener: LoopbackListener, pipe: tuple[io.TextIOWrapper, int]
) -> None:
    stdin, write = pipe
    screen = Screen()
    interaction = TerminalInteraction(open_browser=False, stream=screen, stdin=stdin)
    interaction.open_url("https://broker.example/authorize?client_id=x")  # no waiting(...)
    assert len(paste_threads()) == 1
    os.write(write, (good(listener) + "\n").encode())
    assert listener.wait() == CODE
    for thread in paste_threads():
        thread.join(5)
    assert paste_threads() == []


@READS_STDIN
def test_the_login_timeout_ends_the_reading(pipe: tuple[io.TextIOWrapper, int]) -> None:
    stdin, _ = pipe
    interaction = TerminalInteraction(open_browser=False, stream=Screen(), stdin=stdin)
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state=STATE,
                          timeout=0.3) as listener, pytest.raises(LoginTimeoutError):
        flow(interaction, listener)
    assert paste_threads() == []


@READS_STDIN
def test_at_the_end_of_the_input_the_listener_alone_waits(
    listener: LoopbackListener, pipe: tuple[io.TextIOWrapper, int]
) -> None:
    stdin, write = pipe
    os.close(write)
    screen = Screen()
    interaction = TerminalInteraction(open_browser=False, stream=screen, stdin=stdin)

    def arrive() -> None:
        screen.wait_for("standard input is closed")
        assert get(good(listener, "browser")) == 200

    assert flow(interaction, listener, arrive) == "browser"


@READS_STDIN
def test_a_closed_input_is_said_once_after_the_instruction_whatever_the_flow_s_order(
    listener: LoopbackListener, pipe: tuple[io.TextIOWrapper, int]
) -> None:
    """Webull Connect's order: the URL, then the wait.  With standard input closed
    (``</dev/null``), the person reads the instruction, then once that nothing more can be
    pasted; the wait does not offer the paste again."""
    stdin, write = pipe
    os.close(write)
    screen = Screen()
    interaction = TerminalInteraction(open_browser=False, stream=screen, stdin=stdin)
    interaction.open_url("https://broker.example/authorize?client_id=x")
    deadline = datetime.now(UTC) + timedelta(seconds=listener.timeout)
    with interaction.waiting("waiting for the login", deadline=deadline):
        screen.wait_for("standard input is closed")
        assert get(good(listener, "browser")) == 200
        assert listener.wait() == "browser"
    shown = screen.getvalue()
    assert shown.count("standard input is closed") == 1, shown
    assert shown.index("paste the whole address") < shown.index("standard input is closed")


@READS_STDIN
def test_a_browser_that_cannot_be_started_here_is_said_and_the_paste_offered(
    listener: LoopbackListener, pipe: tuple[io.TextIOWrapper, int],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """No browser on this machine (a server, a container): the person is told to open the
    URL elsewhere, and may paste where that browser was sent, as with --no-browser."""
    import webbrowser

    opened: list[str] = []

    def no_browser(url: str) -> bool:
        opened.append(url)
        return False  # what webbrowser.open says where it finds none

    monkeypatch.setattr(webbrowser, "open", no_browser)
    stdin, write = pipe
    screen = Screen()
    interaction = TerminalInteraction(open_browser=True, stream=screen, stdin=stdin)

    def paste() -> None:
        screen.wait_for("paste the whole address")
        os.write(write, (good(listener) + "\n").encode())

    assert flow(interaction, listener, paste) == CODE
    assert opened  # it tried
    assert "No web browser could be started here" in screen.getvalue()


@READS_STDIN
def test_a_last_line_without_a_newline_is_pasted_too(
    listener: LoopbackListener, pipe: tuple[io.TextIOWrapper, int]
) -> None:
    stdin, write = pipe
    os.write(write, good(listener).encode())
    os.close(write)
    interaction = TerminalInteraction(open_browser=False, stream=Screen(), stdin=stdin)
    assert flow(interaction, listener) == CODE


@READS_STDIN
def test_the_last_refused_paste_ends_the_login(pipe: tuple[io.TextIOWrapper, int]) -> None:
    stdin, write = pipe
    screen = Screen()
    interaction = TerminalInteraction(open_browser=False, stream=screen, stdin=stdin)
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state=STATE, timeout=10,
                          paste_attempts=2) as listener:
        wrong = f"http://127.0.0.1:{listener.port}/callback?code=c&state=bad\n"
        os.write(write, (wrong * 2).encode())
        with pytest.raises(TooManyPastesError):
            flow(interaction, listener)
    assert screen.getvalue().count("Paste it again.") == 1
    assert paste_threads() == []


@READS_STDIN
def test_with_a_browser_opened_here_nothing_is_read(
    pipe: tuple[io.TextIOWrapper, int]
) -> None:
    stdin, write = pipe
    interaction = TerminalInteraction(open_browser=False, paste=False, stream=Screen(),
                                      stdin=stdin)
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state=STATE,
                          timeout=0.3) as listener:
        os.write(write, (good(listener) + "\n").encode())
        with pytest.raises(LoginTimeoutError):
            flow(interaction, listener)
    assert paste_threads() == []


@READS_STDIN
def test_a_flow_waiting_for_no_redirect_reads_nothing(
    pipe: tuple[io.TextIOWrapper, int]
) -> None:
    stdin, write = pipe
    os.write(write, b"123456\n")  # a 2FA flow's wait, say: its input is not ours
    interaction = TerminalInteraction(open_browser=False, stream=Screen(), stdin=stdin)
    with interaction.waiting("waiting for approval on the phone"):
        assert paste_threads() == []
    assert select.select([stdin], [], [], 0)[0] == [stdin]  # left unread


@pytest.mark.skipif(sys.platform == "win32", reason="a pty is POSIX")
def test_on_a_terminal_the_paste_is_not_echoed_and_the_echo_comes_back(
    listener: LoopbackListener,
) -> None:
    import termios

    main, child = os.openpty()
    stdin = open(child, encoding="utf-8", closefd=True)  # noqa: SIM115 - closed below
    try:
        assert termios.tcgetattr(child)[3] & termios.ECHO
        screen = Screen()
        interaction = TerminalInteraction(open_browser=False, stream=screen, stdin=stdin)
        echo_while_waiting: list[int] = []

        def paste() -> None:
            echo_while_waiting.append(termios.tcgetattr(child)[3] & termios.ECHO)
            os.write(main, (good(listener) + "\n").encode())

        assert flow(interaction, listener, paste) == CODE
        assert echo_while_waiting == [0]
        assert "not shown as you paste" in screen.getvalue()
        assert termios.tcgetattr(child)[3] & termios.ECHO
        echoed = os.read(main, 65536) if select.select([main], [], [], 0)[0] else b""
        assert CODE.encode() not in echoed
    finally:
        stdin.close()
        os.close(main)


def test_a_refusal_is_a_brokerauth_error_for_any_interaction(
    listener: LoopbackListener,
) -> None:
    # What an interaction other than the command line's may rely on (the contract's words).
    with pytest.raises(BrokerAuthError):
        listener.accept_pasted("nonsense")
