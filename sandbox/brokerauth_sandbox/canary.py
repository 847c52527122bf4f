"""The secret-leak check run over a whole test suite (``pytest --secret-canary``).

Every secret the suite handles becomes a canary: each value a
:class:`~brokerauth.toolkit.secrets.Secret` reveals, each access and refresh token a
:class:`~brokerauth.contract.tokens.Token` is made with, each PKCE verifier and authorization code.
While the suite runs at DEBUG, the check keeps every log record (with its traceback), every
brokerauth error's text and traceback, and every failure report; at the end it adds the
``repr`` and ``str`` of every live brokerauth object and the content of every file the tests
wrote outside a token store.  A canary found in any of them fails the run, naming where.

A token store's files hold secrets on purpose.  brokerauth's own are recognised by their
content; a plugin whose store (or whose broker's SDK) keeps them elsewhere names those
folders and files with :func:`token_stores`, from its tests' ``conftest.py``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

#: Shorter values could match by chance (ids, counters); real secrets here are longer.
MIN_CANARY_LENGTH = 12
#: Names of the folders and files of plugins' token stores (see :func:`token_stores`).
_STORE_FOLDERS: set[str] = set()
_STORE_FILES: set[str] = set()


def token_stores(*, folders: Iterable[str] = (), files: Iterable[str] = ()) -> None:
    """Declare where a plugin's token store keeps secrets, so the canary does not read them as
    leaks: ``folders`` by name, wherever they are under the run's temporary folder (all their
    content is skipped), ``files`` by name, in any folder.  Call it from a ``conftest.py``;
    the names hold for the rest of the run."""
    _STORE_FOLDERS.update(folders)
    _STORE_FILES.update(files)


def watch(value: str) -> None:
    """Watch ``value`` as a secret for the rest of the run, when the canary is on: a fixture
    that makes a secret the code never resolves itself (a database server's password in a
    URL) says so here, and any log, error or file holding it is then a leak."""
    if _ACTIVE:
        _ACTIVE[0].add(value)


class _Collector(logging.Handler):
    def __init__(self, owner: SecretCanary) -> None:
        super().__init__(logging.DEBUG)
        self.owner = owner
        self.sink = owner.logs
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # The test's id is kept beside the text, not in it: a parametrized id may hold
            # the very secret the test hands the code, which is no leak of the code's.
            self.sink.append((self.format(record), self.owner.current))
        except Exception:  # a record that cannot be formatted is not a leak
            return


class SecretCanary:
    def __init__(self) -> None:
        #: secret -> the test that first handled it
        self.canaries: dict[str, str] = {}
        #: the test running now, to say where a leak happened
        self.current = "(collection)"
        #: True while a property-based test runs: hypothesis draws its text from the code's
        #: own string constants (error codes...), which are not secrets.
        self.generated = False
        self.texts: list[tuple[str, str]] = []
        #: (formatted record, the test it was logged in)
        self.logs: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._undo: list[Any] = []
        self.handler = _Collector(self)

    def add(self, value: object) -> None:
        if self.generated:
            return
        if isinstance(value, str) and len(value) >= MIN_CANARY_LENGTH:
            with self._lock:
                self.canaries.setdefault(value, self.current)

    def note(self, where: str, text: str) -> None:
        with self._lock:
            self.texts.append((f"{where} in {self.current}", text))

    # -- instrumentation -------------------------------------------------------------------
    def install(self) -> None:
        from brokerauth.contract import errors, tokens
        from brokerauth.toolkit import oauth, secrets

        canary = self

        original_resolve = secrets.Secret._resolve

        def resolve(secret: secrets.Secret) -> str:
            value = original_resolve(secret)
            canary.add(value)
            return value

        original_token_init = tokens.Token.__init__

        def token_init(token: tokens.Token, *args: Any, **kwargs: Any) -> None:
            original_token_init(token, *args, **kwargs)
            canary.add(token.access_token)
            canary.add(token.refresh_token)

        original_error_init = errors.BrokerAuthError.__init__

        def error_init(error: errors.BrokerAuthError, *args: Any, **kwargs: Any) -> None:
            original_error_init(error, *args, **kwargs)
            canary.note(f"error {type(error).__name__}", str(error))
            # Frames without their source lines: a test's source may hold literal test
            # secrets, which are not what a user would see leak at run time.
            frames = traceback.StackSummary.extract(traceback.walk_stack(None), limit=30,
                                                    lookup_lines=False)
            canary.note(f"traceback of {type(error).__name__}", "\n".join(
                f'File "{frame.filename}", line {frame.lineno}, in {frame.name}'
                for frame in frames
            ))

        original_pkce = oauth.Pkce.create.__func__  # type: ignore[attr-defined]

        def pkce_create(cls: type[oauth.Pkce]) -> oauth.Pkce:
            pair: oauth.Pkce = original_pkce(cls)
            canary.add(pair.verifier)
            return pair

        original_parse_callback = oauth.parse_callback

        def parse_callback(callback: str, *, expected_state: str) -> str:
            code = original_parse_callback(callback, expected_state=expected_state)
            canary.add(code)
            return code

        self._patch(secrets.Secret, "_resolve", resolve)
        self._patch(oauth, "parse_callback", parse_callback)
        # Modules that imported the name before this ran hold the original: patch them too.
        for module in list(sys.modules.values()):
            if getattr(module, "parse_callback", None) is original_parse_callback:
                self._patch(module, "parse_callback", parse_callback)
        self._patch(tokens.Token, "__init__", token_init)
        self._patch(errors.BrokerAuthError, "__init__", error_init)
        self._patch(oauth.Pkce, "create", classmethod(pkce_create))
        root = logging.getLogger()
        self._previous_level = root.level
        root.addHandler(self.handler)
        root.setLevel(logging.DEBUG)

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        previous = vars(owner).get(name, _MISSING)
        setattr(owner, name, value)
        self._undo.append((owner, name, previous))

    def uninstall(self) -> None:
        for owner, name, previous in reversed(self._undo):
            if previous is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, previous)
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._previous_level)

    # -- the search ------------------------------------------------------------------------
    def live_object_texts(self) -> Iterator[tuple[str, str]]:
        renders: list[Callable[[Any], str]] = [repr, str]
        try:
            # rich reads an attrs object's fields itself, whatever its __repr__ says.
            from rich.pretty import pretty_repr
        except ImportError:
            pass
        else:
            renders.append(pretty_repr)
        for obj in gc.get_objects():
            module = getattr(type(obj), "__module__", "")
            if not isinstance(module, str) or not module.startswith("brokerauth"):
                continue
            if isinstance(obj, type):
                continue
            for render in renders:
                try:
                    text = render(obj)
                except Exception:  # noqa: S112 - an object that cannot render shows nothing
                    continue
                yield f"{render.__name__}() of {type(obj).__qualname__}", text

    def written_files(self, root: Path) -> Iterator[tuple[str, str]]:
        for folder, _dirs, files in os.walk(root):
            parts = Path(folder).parts
            if any(part in _STORE_FOLDERS for part in parts):
                continue
            for name in files:
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file() or path.stat().st_size > 1 << 20:
                    continue
                try:
                    text = path.read_text("utf-8", errors="replace")
                except OSError:
                    continue
                if not _is_token_store(path, text):
                    yield f"file {path}", text

    def hits(self, extra: Iterator[tuple[str, str]]) -> list[str]:
        canaries = sorted(self.canaries, key=len, reverse=True)
        found: list[str] = []

        def scan(where: str, text: str) -> None:
            for secret in canaries:
                if secret in text:
                    context = text.replace(secret, "<SECRET>")[:200]
                    found.append(f"{where}: contains a secret first handled in "
                                 f"{self.canaries[secret]} ({len(secret)} characters): "
                                 f"{context!r}")
                    return

        for line, test in self.logs:
            scan(f"log record of {line.split(' ', 1)[0]} in {test}", line)
        for where, text in self.texts:
            scan(where, text)
        for where, text in extra:
            scan(where, text)
        return found


_MISSING = object()


def _is_token_store(path: Path, text: str) -> bool:
    """A token store's own file, where secrets belong: a file a plugin named (see
    :func:`token_stores`), a lock, a JSON token (an ``access_token`` member) or a client
    registration."""
    if path.name in _STORE_FILES or path.suffix == ".lock":
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and (
        "access_token" in data or "registration_access_token" in data
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--secret-canary", action="store_true",
                     help="fail the run if any secret the tests handle appears in a log, "
                          "an error, a repr or a written file (brokerauth)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--secret-canary"):
        canary = SecretCanary()
        canary.install()
        config.stash[_KEY] = canary


_KEY = pytest.StashKey[SecretCanary]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _ACTIVE:
        _ACTIVE[0].current = item.nodeid
        _ACTIVE[0].generated = bool(getattr(getattr(item, "obj", None), "is_hypothesis_test",
                                            False))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    canary = _find(report)
    if canary is not None and report.failed:
        canary.note(f"failure report of {report.nodeid}", report.longreprtext)


_ACTIVE: list[SecretCanary] = []


def _find(report: pytest.TestReport) -> SecretCanary | None:
    return _ACTIVE[0] if _ACTIVE else None


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    canary = session.config.stash.get(_KEY, None)
    if canary is not None:
        _ACTIVE.append(canary)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    canary = session.config.stash.get(_KEY, None)
    if canary is None:
        return
    _ACTIVE.clear()
    canary.uninstall()
    basetemp = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]

    def extra() -> Iterator[tuple[str, str]]:
        yield from canary.live_object_texts()
        yield from canary.written_files(basetemp)

    hits = canary.hits(extra())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (f"secret canary: {len(canary.canaries)} secrets watched, {len(canary.logs)} log "
               f"records and {len(canary.texts)} error texts searched, {len(hits)} leaks")
    if reporter is not None:
        # On a line of its own: pytest's progress line ("... [100%]") is not ended yet.
        if reporter._tw.width_of_current_line:
            reporter._tw.line()
        reporter.write_line(summary)
        for hit in hits[:50]:
            reporter.write_line(f"  LEAK {hit}", red=True)
    if hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
