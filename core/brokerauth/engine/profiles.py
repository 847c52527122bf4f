"""TOML profiles: where they are found, how they are read, and the core's keys.

A profile names a broker and may override its signer, flow and store; every other key belongs
to the broker plugin's settings class, structured later (see :mod:`brokerauth.engine.resolve`).
Secrets are references resolved on first use, so reading and validating profiles needs none.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from brokerauth.contract.errors import ConfigError, ProfileError, UnknownProfileError
from brokerauth.contract.specs import STRATEGY_KINDS, StrategyKind
from brokerauth.contract.tokens import DEFAULT_IDENTITY
from brokerauth.engine.transport import DEFAULT_RESPONSE_LIMIT
from brokerauth.toolkit.converter import unknown_key_problem

ENV_PROFILES = "BROKERAUTH_PROFILES"
LOCAL_FILE = "brokerauth.toml"


def user_config_dir() -> Path:
    """The per-user folder brokerauth reads ``profiles.toml`` from."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "brokerauth"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "brokerauth"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "brokerauth"


def candidate_files(explicit: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    """Where profiles are looked for, in order, each with the reason it is a candidate."""
    found: list[tuple[str, Path]] = []
    if explicit:
        found.append(("--profiles", Path(explicit)))
    if os.environ.get(ENV_PROFILES):
        found.append((f"${ENV_PROFILES}", Path(os.environ[ENV_PROFILES])))
    found.append(("working folder", Path.cwd() / LOCAL_FILE))
    found.append(("user config", user_config_dir() / "profiles.toml"))
    return found


def find_profiles_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The first profiles file that exists; an explicitly named one must exist."""
    for reason, path in candidate_files(explicit):
        if reason in ("--profiles", f"${ENV_PROFILES}"):
            if path.is_dir():
                raise ConfigError(
                    f"profiles file {str(path)!r} (from {reason}) is a folder",
                    hint=f"name the file in it, e.g. {path / LOCAL_FILE}",
                )
            if not path.is_file():
                raise ConfigError(
                    f"profiles file {str(path)!r} (from {reason}) does not exist",
                    hint="create it with `brokerauth init`, or fix the path",
                )
            return path
        if path.is_file():
            return path
    return None


@attrs.frozen
class StrategyChoice:
    """A strategy named in a profile, with its options (``store = { name = "file", ... }``)."""

    name: str
    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ProfileOptions:
    """Tunables every profile has, whatever its broker."""

    #: Seconds before expiry from which one caller refreshes while others use the token.
    refresh_advisory: float = 300.0
    #: Seconds before expiry from which every caller waits for a refresh (or gets an error).
    refresh_mandatory: float = 60.0
    #: Seconds to wait for an answer.
    timeout: float = 10.0
    #: Times an idempotent request (GET, HEAD, OPTIONS) is re-sent after a connection error.
    retries: int = 2
    #: Seconds to wait for another process's refresh before giving up.
    lock_timeout: float = 30.0
    #: The identity (platform user) tokens are kept under when none is given.
    identity: str = DEFAULT_IDENTITY
    #: Origins besides the broker's own that may receive this profile's credentials.
    allowed_origins: tuple[str, ...] = ()
    #: The largest API answer body a session accepts, counted after decompression; a request
    #: can lift it (``max_bytes=None``). The default is far above any broker's answer (see
    #: :data:`~brokerauth.engine.transport.DEFAULT_RESPONSE_LIMIT`), and stops a hostile one early.
    max_response_bytes: int = DEFAULT_RESPONSE_LIMIT


_OPTION_FIELDS = {f.name: f for f in attrs.fields(ProfileOptions)}
#: The key of a profile's optional notifier (strategy kind ``notifier``).
NOTIFY_KEY = "notify"
CORE_KEYS = ("broker", *STRATEGY_KINDS, NOTIFY_KEY, "description", *_OPTION_FIELDS)


@attrs.frozen
class Profile:
    """One profile as written: the core's keys parsed, the broker's keys kept raw."""

    name: str
    broker: str
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    signer: StrategyChoice | None = None
    flow: StrategyChoice | None = None
    store: StrategyChoice | None = None
    #: Who is told about the credential's events (``notify = { name = "webhook", ... }``).
    notify: StrategyChoice | None = None
    options: ProfileOptions = ProfileOptions()
    description: str = ""
    #: The file it came from, for error messages; ``None`` for a profile built in code.
    source: str | None = None

    def strategy(self, kind: StrategyKind) -> StrategyChoice | None:
        choice: StrategyChoice | None = getattr(self, kind)
        return choice

    @classmethod
    def from_mapping(
        cls, name: str, table: Mapping[str, Any], *, source: str | None = None
    ) -> Profile:
        """Parse one ``[profiles.NAME]`` table (also usable from code, with ``Secret`` values)."""
        if not isinstance(table, Mapping):
            raise ProfileError(
                f"must be a table, not {type(table).__name__}",
                profile=name,
                file=source,
                hint=f"write it as [profiles.{name}] followed by key = value lines",
            )
        broker = table.get("broker")
        if broker is None:
            # A misspelt broker key: it is the one missing, and the only key one can name.
            for key in table:
                problem = unknown_key_problem(key, CORE_KEYS)
                if key not in CORE_KEYS and problem.endswith("'broker'?"):
                    raise ProfileError(problem, profile=name, key=key, file=source,
                                       hint=f"rename {key} to broker")
        if not isinstance(broker, str) or not broker:
            raise ProfileError(
                "has no broker",
                profile=name,
                key="broker",
                file=source,
                hint='add broker = "ID", ID one of the brokers `brokerauth plugins` lists',
            )
        choices: dict[str, StrategyChoice | None] = {}
        for kind in STRATEGY_KINDS:
            choices[kind] = _strategy_choice(name, kind, table.get(kind), source)
        options: dict[str, Any] = {}
        for key, field in _OPTION_FIELDS.items():
            if key in table:
                options[key] = _option_value(name, key, field.type, table[key], source)
        description = table.get("description", "")
        if not isinstance(description, str):
            raise ProfileError(
                "must be a string", profile=name, key="description", file=source
            )
        settings = {k: v for k, v in table.items() if k not in CORE_KEYS}
        return cls(
            name=name,
            broker=broker,
            settings=settings,
            signer=choices["signer"],
            flow=choices["flow"],
            store=choices["store"],
            notify=_strategy_choice(name, NOTIFY_KEY, table.get(NOTIFY_KEY), source),
            options=ProfileOptions(**options),
            description=description,
            source=source,
        )


def _strategy_choice(
    profile: str, kind: str, value: Any, source: str | None
) -> StrategyChoice | None:
    if value is None:
        return None
    if isinstance(value, str) and value:
        return StrategyChoice(value)
    if isinstance(value, Mapping) and isinstance(value.get("name"), str) and value["name"]:
        return StrategyChoice(value["name"], {k: v for k, v in value.items() if k != "name"})
    raise ProfileError(
        f"must be a strategy name or a table with a name, not {value!r}"
        if not isinstance(value, Mapping)
        else "the table needs a name",
        profile=profile,
        key=kind,
        file=source,
        hint=f'write {kind} = "NAME" or {kind} = {{ name = "NAME", ... }}; '
        "`brokerauth plugins` lists the strategies",
    )


def _option_value(profile: str, key: str, kind: Any, value: Any, source: str | None) -> Any:
    if key == "allowed_origins":
        return _origins_value(profile, value, source)
    expected = {"float": (int, float), "int": (int,), "str": (str,)}[
        kind if isinstance(kind, str) else kind.__name__
    ]
    wanted = "a number" if float in expected else "an integer" if int in expected else "text"
    example = '"..."' if wanted == "text" else "30"
    if isinstance(value, bool) or not isinstance(value, expected):
        raise ProfileError(
            f"must be {wanted}, not {type(value).__name__}",
            profile=profile,
            key=key,
            file=source,
            hint=f"write {key} = {example}",
        )
    if isinstance(value, int | float) and value < 0:
        raise ProfileError(
            "must not be negative", profile=profile, key=key, file=source,
            hint=f"give {key} a value of 0 or more",
        )
    return float(value) if float in expected else value


def _origins_value(profile: str, value: Any, source: str | None) -> tuple[str, ...]:
    from brokerauth.engine.origins import check_allowed_origin

    hint = 'write allowed_origins = ["https://host.example.com"]'
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ProfileError("must be a list of origins (text)", profile=profile,
                           key="allowed_origins", file=source, hint=hint)
    try:
        return tuple(check_allowed_origin(v) for v in value)
    except ValueError as exc:
        raise ProfileError(str(exc), profile=profile, key="allowed_origins", file=source,
                           hint=hint) from None


@attrs.frozen
class ProfileSet:
    """Every profile of one file."""

    profiles: Mapping[str, Profile]
    source: str | None = None

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            where = f" in {self.source}" if self.source else ""
            raise UnknownProfileError(
                f"no profile named {name!r}{where} (profiles: {known})", name=name,
                hint="run `brokerauth profiles` to list them, or `brokerauth init` to add one",
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self.profiles


def parse_profiles(text: str, *, source: str | None = None) -> ProfileSet:
    """Parse a profiles document; every mistake names the file, profile and key."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(
            f"is not valid TOML: {exc}", file=source, hint="fix the syntax at that line"
        ) from None
    unknown = sorted(set(document) - {"profiles"})
    if unknown:
        raise ProfileError(
            f"unknown top-level table or key {unknown[0]!r}",
            file=source,
            key=unknown[0],
            hint="profiles live under [profiles.NAME]",
        )
    tables = document.get("profiles", {})
    if not isinstance(tables, dict):
        raise ProfileError("'profiles' must be a table", file=source, key="profiles",
                           hint="profiles live under [profiles.NAME] tables")
    profiles = {
        name: Profile.from_mapping(name, table, source=source) for name, table in tables.items()
    }
    return ProfileSet(profiles, source)


def check_profiles_file(path: Path) -> None:
    """Refuse a profiles file another user could have written, as ssh refuses such a config:
    a profile names where the stored token of its name is sent, so a planted or writable file
    (``./brokerauth.toml`` in a shared folder) would hand it to whoever wrote it.

    Owned by this user or root, and not writable by group or others; its folder likewise, unless
    the folder is sticky (as ``/tmp`` is), where others cannot replace a file they do not own.
    """
    if not hasattr(os, "getuid"):
        return  # Windows: access is by ACL, which the user's profile folder already restricts
    try:
        info = path.stat()
    except OSError:
        return  # reading it reports what is wrong
    me = os.getuid()
    if info.st_uid not in (me, 0):
        raise ProfileError(
            f"is owned by another user (uid {info.st_uid}): a profile in it could send your "
            "stored tokens anywhere, so it is not read",
            file=str(path),
            hint="delete it if you did not write it; if it is yours, "
            f"`chown {me} {path}` (or run from another folder, or pass --profiles)",
        )
    if info.st_mode & 0o022:
        raise ProfileError(
            "can be written by group or others: anyone who can change it could send your "
            "stored tokens anywhere, so it is not read",
            file=str(path),
            hint=f"chmod go-w {path}",
        )
    from brokerauth.toolkit.privatefiles import folder_problem

    folder = path.parent
    try:
        above = folder.stat()
    except OSError:
        return
    if folder_problem(above) is not None:
        raise ProfileError(
            f"is in {folder}, which another user owns or can write to: they could replace the "
            "file, so it is not read",
            file=str(path),
            hint=f"move it to a folder of your own, or `chmod go-w {folder}`",
        )


def load_profiles(explicit: str | os.PathLike[str] | None = None) -> ProfileSet:
    """Find and read the profiles file (checked: see :func:`check_profiles_file`); an empty
    set when there is none."""
    path = find_profiles_file(explicit)
    if path is None:
        return ProfileSet({}, None)
    return _read_profiles(path)


def other_definitions(
    name: str, used: str | None, explicit: str | os.PathLike[str] | None = None
) -> list[str]:
    """The other profiles files found that also define profile ``name`` (shadowed by the one
    used, ``used``): shown so nobody wonders which one applies. Files that cannot be read
    safely are left out."""
    others: list[str] = []
    seen = [used] if used is not None else []
    for _, path in candidate_files(explicit):
        # One file reached twice ($BROKERAUTH_PROFILES naming ./brokerauth.toml) is named once.
        if not path.is_file() or any(os.path.samefile(path, known) for known in seen):
            continue
        seen.append(str(path))
        try:
            if name in _read_profiles(path):
                others.append(str(path))
        except ConfigError:
            continue
    return others


def _read_profiles(path: Path) -> ProfileSet:
    check_profiles_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(
            f"cannot be read ({exc.strerror or type(exc).__name__})", file=str(path),
            hint="check the file's permissions",
        ) from None
    try:
        text = profiles_file_text(data, path)
    except ProfileError as exc:
        raise ProfileError(exc.problem, file=str(path), hint=exc.hint) from None
    # Line ends as text mode (universal newlines) reads them.
    return parse_profiles(text.replace("\r\n", "\n").replace("\r", "\n"), source=str(path))


_BOM = b"\xef\xbb\xbf"


def profiles_file_text(data: bytes, path: Path) -> str:
    """The text of the profiles file ``path`` holding ``data``, as TOML allows it: UTF-8
    without a byte order mark (which Python's ``tomllib`` and tomlkit refuse, and some
    editors write).

    :raises ~brokerauth.contract.errors.ProfileError: a mark, or bytes that are not UTF-8;
        ``problem`` names it without the file, ``hint`` says how to fix it."""
    if data.startswith(_BOM):
        raise ProfileError(
            "starts with a UTF-8 byte order mark (BOM), which TOML does not allow",
            hint="save it as UTF-8 without a BOM (most editors offer it; or "
            f"`sed -i '1s/^\\xEF\\xBB\\xBF//' {path}`)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProfileError(
            f"is not UTF-8 text (line {line})",
            hint="save it as UTF-8, as TOML requires (an editor's \"UTF-8\" encoding, or "
            "`iconv -f latin1 -t utf-8`)") from None
