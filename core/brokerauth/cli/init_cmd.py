"""``brokerauth init``: write a profile, from flags or by asking.

Secrets are written as references (``{ env = "NAME" }`` or ``{ file = "path" }``), never as
values. The file is replaced atomically, so an interrupted ``init`` leaves the old file whole,
and an existing file keeps everything it had (comments, order, inline tables) byte for byte: the
new profile is appended, or a replaced one edited in place with tomlkit (imported here only).

At a terminal, ``init`` asks for the broker's required settings only; the others keep their
defaults unless given with ``--set``.  Ctrl-D or Ctrl-C at a prompt ends it with one line and
nothing written (exit 1, or 130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from brokerauth.cli.output import Output, shown
from brokerauth.contract.errors import ConfigError, PluginError, ProfileError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="the profile's name")
    parser.add_argument("--broker", help="the broker (see `brokerauth plugins`)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting; VALUE is read as TOML when it parses, else as text")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=ENV_VAR",
                        help="a secret read from an environment variable")
    parser.add_argument("--secret-file", action="append", default=[], metavar="KEY=PATH",
                        help="a secret read from a file")
    parser.add_argument("--force", action="store_true", help="replace an existing profile")


def run(args: argparse.Namespace, out: Output) -> int:
    interactive = args.broker is None or args.name is None
    if interactive and not sys.stdin.isatty():
        raise ConfigError("init needs a NAME and --broker when not run at a terminal",
                          hint="brokerauth init NAME --broker BROKER --set key=value ...")
    try:
        return _run(args, out, interactive=interactive)
    except EOFError:
        # Ctrl-D at a prompt: the person is done; nothing is written.
        _end_prompt_line(interactive)
        out.error("init: input ended before the profile was complete; nothing was written",
                  None, kind="Aborted")
        return 1
    except KeyboardInterrupt:
        _end_prompt_line(interactive)
        out.error("init: interrupted; nothing was written", None, kind="Interrupted")
        return 130


def _end_prompt_line(interactive: bool) -> None:
    """Ends the unanswered prompt's line, so that the message starts a line of its own."""
    if interactive:
        print(file=sys.stdout, flush=True)


def _run(args: argparse.Namespace, out: Output, *, interactive: bool) -> int:
    import attrs

    from brokerauth.engine.pluginhost import PluginHost
    from brokerauth.engine.profiles import Profile
    from brokerauth.engine.resolve import resolve_profile
    from brokerauth.toolkit.secrets import Secret, env_problem

    # Where it goes, and whether it can be written there, before any question is asked.
    path = _target(args.profiles)
    _check_target(path)
    host = PluginHost.create()
    name = args.name or _ask("profile name", "default")
    broker = args.broker
    if broker is None:
        host.load_all()
        published, others = broker_choices(host)
        if not published and not others:
            raise ConfigError("no broker plugin is installed",
                              hint="install a broker plugin; `brokerauth plugins` lists "
                                   "what is installed")
        suggested = published or others
        line = f"brokers: {', '.join(suggested)}"
        if published and others:
            line += f" (also installed: {', '.join(others)})"
        out.line(line)
        spec = None
        for _attempt in range(5):  # a typo is asked again; a run of them ends init
            broker = _ask("broker", suggested[0])
            try:
                spec, _ = host.broker(broker)
                break
            except PluginError as exc:
                # For the person at the prompt, on stderr in JSON mode too: the document on
                # stdout is the outcome's alone.
                print(f"error: {shown(exc.message)}", file=out.errors)
        if spec is None:
            raise ConfigError("init: no installed broker was named; nothing was written",
                              hint="`brokerauth plugins` lists the installed brokers")
    else:
        spec, _ = host.broker(broker)

    table: dict[str, Any] = {"broker": broker}
    for item in args.set:
        key, value = _pair(item, "--set")
        table[key] = _toml_value(value)
    for item in args.secret:
        key, value = _pair(item, "--secret")
        table[key] = {"env": _variable(key, value)}
    for item in args.secret_file:
        key, value = _pair(item, "--secret-file")
        # Absolute: the profile is read from any folder later.
        table[key] = {"file": str(Path(os.path.expanduser(value)).absolute())}
    if interactive:
        # Only what the broker cannot do without: every optional setting has a default, and
        # is given with --set when it is not the one wanted.
        for field in attrs.fields(spec.settings):
            key = field.alias or field.name
            if key in table or field.default is not attrs.NOTHING:
                continue
            help_text = field.metadata.get("help", "")
            about = f" ({help_text})" if help_text else ""
            if field.type in (Secret, "Secret"):
                while True:
                    env = _ask(f"{key}{about} — environment variable holding it",
                               suggested_env(broker, key, field.metadata))
                    try:
                        table[key] = {"env": _variable(key, env)}
                        break
                    except ConfigError as exc:
                        out.line(f"{exc.message}; {exc.hint}")
            else:
                table[key] = _toml_value(_ask(f"{key}{about}", None))
        optional = [field.alias or field.name for field in attrs.fields(spec.settings)
                    if field.default is not attrs.NOTHING
                    and (field.alias or field.name) not in table]
        if optional:
            out.line(f"other settings keep their defaults; change one with --set KEY=VALUE "
                     f"(`brokerauth plugins {broker}` explains {', '.join(optional)})")

    profile = Profile.from_mapping(name, table)
    try:
        resolve_profile(profile, host)  # every mistake is reported before anything is written
    except ProfileError as exc:
        if args.force:
            _left_out(exc, path, name, table)
        raise
    try:
        with _editing(path):
            # Bytes, not text: reading text would turn CRLF line ends into LF behind our back.
            original = profiles_text(path.read_bytes(), path) if path.exists() else ""
            _write(path, with_profile(original, name, table, force=args.force, path=path))
    except OSError as exc:  # a folder that cannot be made, a file that cannot be written
        raise _unwritable(path, exc) from None
    problems = {k: problem for k, v in table.items() if isinstance(v, dict) and "env" in v
                and (problem := env_problem(os.environ.get(v["env"]))) is not None}
    out.data({"file": str(path), "profile": name, "table": table,
              "unset_secrets": list(problems)})
    out.line(f"wrote profile {name!r} to {path}")
    for key, problem in problems.items():
        out.line(f"  note: {key} comes from ${table[key]['env']}, which {problem} here")
    return 0


def _target(explicit: str | None) -> Path:
    """The profiles file init writes: ``--profiles``, else ``$BROKERAUTH_PROFILES`` (each
    created if missing: it is where profiles are read from), else the first that exists of
    ``./brokerauth.toml`` and the user config file, else the user config file (read from any
    folder, as a cron job's is).  Through a link to the file it names: a dotfiles link stays
    a link."""
    from brokerauth.engine.profiles import ENV_PROFILES, candidate_files, find_profiles_file

    candidates = candidate_files(explicit)
    named = [path for reason, path in candidates if reason in ("--profiles", f"${ENV_PROFILES}")]
    # Nothing named: where profiles are read from, as every command finds them.
    path = named[0] if named else find_profiles_file(None) or candidates[-1][1]
    return Path(os.path.realpath(path))


def _unwritable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"{path} cannot be written ({exc.strerror or type(exc).__name__}); nothing was "
        "written", hint="check that its folder exists, or can be made, and that you may write "
        "there; or name another file (--profiles FILE, or $BROKERAUTH_PROFILES)")


def _check_target(path: Path) -> None:
    """A profiles file init can edit: none yet in a folder it may write to (or make), or a
    regular file (through its links)."""
    import stat

    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        above = path.parent
        while not above.exists() and above.parent != above:
            above = above.parent
        if not above.is_dir():
            raise _unwritable(path, NotADirectoryError(20, "Not a directory")) from None
        if not os.access(above, os.W_OK | os.X_OK):
            raise _unwritable(path, PermissionError(13, "Permission denied")) from None
        return
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or type(exc).__name__}); "
                          "nothing was written", hint="check the file and its folder's "
                          "permissions, or pass --profiles FILE") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{path} is a folder, not a profiles file; nothing was written",
                          hint=f"name a file (--profiles FILE, or $BROKERAUTH_PROFILES), e.g. "
                          f"{path / 'brokerauth.toml'}")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{path} is not a regular file; nothing was written",
                          hint="pass --profiles FILE naming a regular file")


def profiles_text(data: bytes, path: Path) -> str:
    """A profiles file's bytes as the text init edits, or a :class:`ConfigError` naming the
    file and what is wrong, with nothing written.

    A UTF-8 byte order mark is refused, not skipped: TOML is UTF-8 without one, and the
    readers of the file (Python's ``tomllib``, which loads the profiles; tomlkit) refuse it,
    so a profile added after it could never be used.  The file is left byte for byte as it is,
    and the person is told how to remove the mark (the profiles' own rule:
    :func:`brokerauth.engine.profiles.profiles_file_text`)."""
    from brokerauth.engine.profiles import profiles_file_text

    try:
        return profiles_file_text(data, path)
    except ProfileError as exc:
        raise ConfigError(f"{path} {exc.problem}; nothing was written",
                          hint=f"{exc.hint}, then run init again") from None


def broker_choices(host: Any) -> tuple[list[str], list[str]]:
    """The installed brokers: those of the plugins published with brokerauth, in the order
    they are published, then the others (third-party and example plugins) by name.  The
    first of the first list, else of the second, is what ``init`` suggests."""
    from brokerauth.engine.pluginhost import BUILTIN, KNOWN_DISTRIBUTIONS

    order = list(KNOWN_DISTRIBUTIONS)
    brokers: dict[str, tuple[Any, str]] = host.brokers
    published = sorted((b for b, (_, owner) in brokers.items() if owner in KNOWN_DISTRIBUTIONS),
                       key=lambda b: (order.index(brokers[b][1]), b))
    others = sorted(b for b, (_, owner) in brokers.items()
                    if owner not in KNOWN_DISTRIBUTIONS and owner != BUILTIN)
    return published, others


def suggested_env(broker: str, key: str, metadata: Any) -> str:
    """The environment variable suggested for a secret setting: the one its plugin names in
    the field's ``metadata["env"]``, else ``<BROKER>_<KEY>`` in capitals (``app_key`` of
    broker ``x-y`` is ``X_Y_APP_KEY``)."""
    named = metadata.get("env") if hasattr(metadata, "get") else None
    if isinstance(named, str) and named:
        return named
    return re.sub(r"[^A-Z0-9]", "_", f"{broker}_{key}".upper())


def _left_out(error: ProfileError, path: Path, name: str, table: dict[str, Any]) -> None:
    """``init --force`` writes the profile as given: if ``error`` is about a key the existing
    profile has and this command left out, raise it again saying so."""
    key = (error.key or "").split(".")[0]
    try:
        existing = tomllib.loads(path.read_text(encoding="utf-8")).get("profiles", {}).get(name)
    except (OSError, ValueError, AttributeError):
        return
    if not key or key in table or not isinstance(existing, dict) or key not in existing:
        return
    raise ProfileError(
        f"{error.problem}: --force replaces the profile with what this command gives, and "
        f"{key} is in the existing profile but not in this command",
        profile=name, key=error.key, file=str(path),
        hint=f"give it again (--set or --secret {key}=...), with every other key to keep; or "
        f"edit {path} by hand",
    ) from None


def with_profile(original: str, name: str, table: dict[str, Any], *, force: bool,
                 path: Path) -> str:
    """``original`` (a profiles file's text) with profile ``name`` added, or replaced when
    ``force``: everything else stays as it was, byte for byte, comments and layout included.

    A new profile is appended as a table of its own; a replaced one is edited in place with
    tomlkit.  Either way the result is read back, and anything but the old profiles plus this
    one is refused before a byte is written.  The file's line ends (LF or CR-LF) are kept
    in what is added."""
    try:
        expected = tomllib.loads(original) if original.strip() else {}
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message names the line and column, never the file's text.
        raise ConfigError(f"{path} is not valid TOML ({exc}); nothing was written",
                          hint="fix it there (or move it aside), then run init again") from None
    profiles = expected.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' is not a table",
                          hint="make it [profiles.NAME] tables, then run init again")
    exists = name in profiles
    if exists and not force:
        raise ConfigError(f"profile {name!r} already exists in {path}",
                          hint="pass --force to replace it, or choose another name")
    expected.setdefault("profiles", {})[name] = table
    block = render_profile(name, table)
    newline = "\r\n" if "\r\n" in original else "\n"
    candidates: list[str] = []
    if not exists:
        candidates.append(_appended(original, block.replace("\n", newline), newline))
    candidates.append(_line_ends(_edited(original, name, block), newline))
    for text in candidates:
        try:
            if tomllib.loads(text) == expected:
                return text
        except tomllib.TOMLDecodeError:
            continue
    raise ConfigError(f"could not add profile {name!r} to {path} without changing the rest",
                      hint=f"add it by hand:\n{block}")


def render_profile(name: str, table: dict[str, Any]) -> str:
    """``[profiles.NAME]`` and its keys, secret references as inline tables
    (``app_key = { env = "X" }``), as README writes them."""
    import tomlkit

    lines = [f"[profiles.{tomlkit.key(name).as_string()}]"]
    for key, value in table.items():
        lines.append(f"{tomlkit.key(key).as_string()} = {_inline(value)}")
    return "\n".join(lines) + "\n"


def _inline(value: Any) -> str:
    import tomlkit

    if isinstance(value, dict):
        inner = ", ".join(f"{tomlkit.key(k).as_string()} = {_inline(v)}"
                          for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    return str(tomlkit.item(value).as_string())


def _appended(original: str, block: str, newline: str = "\n") -> str:
    if not original:
        return block
    text = original if original.endswith("\n") else original + newline
    return text + ("" if text.endswith(newline * 2) else newline) + block


def _line_ends(text: str, newline: str) -> str:
    """``text`` with every line ended by ``newline`` (tomlkit writes what it adds with LF)."""
    if newline == "\n":
        return text
    return re.sub(r"(?<!\r)\n", "\r\n", text)


def _edited(original: str, name: str, block: str) -> str:
    """``original`` with profile ``name`` made the one ``block`` writes, in place: a key whose
    value is unchanged is not touched (its comment stays), a changed one is replaced where it
    stands, a key no longer given is removed, a new one added at the end of the profile."""
    import tomlkit

    document = tomlkit.parse(original)
    wanted = tomlkit.parse(block)["profiles"][name]
    profiles = document.get("profiles")
    current = profiles.get(name) if profiles is not None else None
    if profiles is None:
        document["profiles"] = tomlkit.parse(block)["profiles"]
    elif not isinstance(current, dict):
        profiles[name] = wanted
    else:
        for key in [k for k in current if k not in wanted]:
            del current[key]
        for key, value in wanted.items():
            if key not in current or _plain(current[key]) != _plain(value):
                current[key] = value
    return tomlkit.dumps(document)


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def _pair(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        # Not repeated: what was typed may be a secret pasted in the wrong place.
        raise ConfigError(f"a {flag} argument is not KEY=VALUE", hint=f"e.g. {flag} key=value")
    return key.strip(), value


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _variable(key: str, name: str) -> str:
    """``name`` if it can name an environment variable; a secret pasted where its variable's
    name belongs is refused without being repeated (nor written to the profiles file)."""
    if not _VARIABLE.fullmatch(name):
        raise ConfigError(
            f"{key}: that is not an environment variable's name (letters, digits and _); "
            "did you paste the secret itself? It was not written anywhere",
            hint=f"give the name of the variable that holds it: --secret {key}=MY_VARIABLE",
        )
    if name not in os.environ and _looks_like_a_secret(name):
        raise ConfigError(
            f"{key}: those {len(name)} characters look like the secret itself, not the name "
            "of the variable holding it (no such variable is set); it was not written "
            "anywhere",
            hint=f"put the secret in a variable and give its name: --secret {key}=MY_VARIABLE "
            "(a variable of this very name is taken once it is set)",
        )
    return name


def _looks_like_a_secret(name: str) -> bool:
    """Whether a valid variable name reads as a pasted key.  Names are words joined by
    ``_`` (``WEBULL_APP_SECRET``, ``OAUTH2_TOKEN``); keys are long runs of letters and
    digits (hex, base64, ``AKIA…``, ``ghp_…``): a run of 12 or more holding both, with at
    least two digits; of 16 or more, lower-case letters and a digit; of 20 or more, a
    digit."""

    def keylike(run: str) -> bool:
        digits = sum(c.isdigit() for c in run)
        letters = any(c.isalpha() for c in run)
        return letters and ((len(run) >= 12 and digits >= 2)
                            or (len(run) >= 16 and digits and any(c.islower() for c in run))
                            or (len(run) >= 20 and digits > 0))

    return any(keylike(run) for run in name.split("_"))


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _ask(question: str, default: str | None) -> str:
    suffix = f" [{shown(default, lines=False)}]" if default else ""
    while True:
        answer = input(f"{shown(question, lines=False)}{suffix}: ").strip()
        if answer:
            return answer
        if default is not None:
            return default


@contextmanager
def _editing(path: Path) -> Iterator[None]:
    """The file's own lock (``flock`` on it) from the read to the replace: two ``init`` runs
    at once would otherwise each add their profile to what they read, and one be lost.  The
    file is replaced under the lock, so a waiter checks it locked the file now at ``path``."""
    if sys.platform == "win32":  # no flock: one writer is assumed
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(50):  # bounded: each retry means another writer replaced it
        created = True
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        except FileExistsError:
            created = False
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
            except FileNotFoundError:  # removed since: another init's, never written
                continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine = os.fstat(fd).st_ino
            try:
                same = mine == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                with _until_written(path, mine, made_here=created):
                    yield
                return
        finally:
            os.close(fd)
    raise ConfigError(f"{path} kept changing while init waited to edit it",
                      hint="stop whatever rewrites it, then run init again")


@contextmanager
def _until_written(path: Path, locked: int, made_here: bool) -> Iterator[None]:
    """The edit under the lock.  A file made here only to be locked (``made_here``, inode
    ``locked``) is removed again if it was never replaced by the written one: an error,
    Ctrl-C or SIGTERM between the two leaves no empty profiles file where there was none.
    SIGTERM is made an exit (143) for that while, so that this runs (and the temporary copy
    of a write it interrupts is removed too)."""
    import signal
    import threading

    handled = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if handled else None
    try:
        yield
    finally:
        try:
            if made_here and os.stat(path).st_ino == locked:
                os.unlink(path)
        except FileNotFoundError:
            pass
        finally:
            if handled:
                signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _write(path: Path, text: str) -> None:
    """``text`` replaces the file at ``path`` atomically, keeping the mode, owner and group
    of the file it replaces (a new one gets the umask's mode)."""
    try:
        before: os.stat_result | None = path.stat()
    except FileNotFoundError:
        before = None
    mode = before.st_mode & 0o777 if before is not None else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".profiles-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        if before is not None and (before.st_uid, before.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(temp, before.st_uid, before.st_gid)
            except PermissionError:
                # Not root: the group at least, if it is one of ours; never silently another.
                try:
                    os.chown(temp, -1, before.st_gid)
                except PermissionError:
                    raise ConfigError(
                        f"{path} belongs to another user or group, which init could not keep "
                        "on the new file; nothing was written",
                        hint="edit it as its owner, or add the profile by hand",
                    ) from None
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
