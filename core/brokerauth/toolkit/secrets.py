"""Secret references: profiles name where a secret lives, never the secret itself.

A :class:`Secret` is resolved late, on first use, so listing or validating profiles needs no
secret, and its ``repr`` and ``str`` only ever say where it comes from.  A secret file is
checked like a token file before it is read (see
:func:`brokerauth.toolkit.privatefiles.read_secret_file`): a regular file of at most 64 KiB, owned
by the user or root, 0600 or stricter, reached through no link another user owns.  Surrounding
whitespace (the trailing newline) is stripped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Final

import attrs

from brokerauth.contract.errors import SecretUnavailableError

_resolve_lock = threading.Lock()

#: The largest secret file read; anything bigger is a wrong path, not a secret.
MAX_SECRET_FILE_BYTES = 64 * 1024


UNSET: Final = "is not set"


def env_problem(value: str | None) -> str | None:
    """What is wrong with an environment variable's ``value`` as a secret (``None``: nothing):
    unset, or set but empty or blank (`export X=`, or `X="$(cat f)"` of a missing file)."""
    if value is None:
        return UNSET
    if not value.strip():
        return "is set but empty"
    return None


@attrs.frozen(eq=False, repr=False)
class Secret:
    """A secret value referenced by environment variable, file, or (from code only) value."""

    env: str | None = None
    file: str | None = None
    _value: str | None = attrs.field(default=None, alias="value", repr=False)
    _cache: list[str] = attrs.field(factory=list, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        given = [x for x in (self.env, self.file, self._value) if x is not None]
        if len(given) != 1:
            raise ValueError("a secret takes exactly one of env=, file= or value=")

    @classmethod
    def from_value(cls, value: str) -> Secret:
        """A secret given directly by code (tests, sandboxes, platforms with their own vault)."""
        return cls(value=value)

    @property
    def source(self) -> str:
        """Where the secret comes from, safe to show: ``env:NAME``, ``file:PATH`` or ``value``."""
        if self.env is not None:
            return f"env:{self.env}"
        if self.file is not None:
            return f"file:{self.file}"
        return "value"

    def reveal(self) -> str:
        """The secret itself. Resolved once, then cached for the life of this object."""
        if self._cache:
            return self._cache[0]
        with _resolve_lock:
            if not self._cache:
                self._cache.append(self._resolve())
        return self._cache[0]

    def _resolve(self) -> str:
        if self._value is not None:
            return self._value
        if self.env is not None:
            value = os.environ.get(self.env)
            problem = env_problem(value)
            if problem == UNSET:
                raise SecretUnavailableError(
                    f"environment variable {self.env} {problem}",
                    hint=f"export {self.env}=... before running, or point the profile at a file",
                )
            if problem is not None:
                raise SecretUnavailableError(
                    f"environment variable {self.env} {problem}",
                    hint=f"give {self.env} the secret's value (check what set it), or point "
                    "the profile at a file",
                )
            assert value is not None
            return value
        assert self.file is not None
        # Imported here: only file secrets need it, and signing with env secrets should not pay.
        from brokerauth.toolkit.privatefiles import read_secret_file

        path = Path(os.path.expanduser(self.file))
        # Checked like a token file (owner, mode, a regular file, size): the content is sent
        # to a broker, so a file others can read, change or point elsewhere must not be used.
        data = read_secret_file(path, limit=MAX_SECRET_FILE_BYTES)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # The codec's message quotes a byte of the content; this names only the file.
            raise SecretUnavailableError(
                f"secret file {str(path)!r} is not UTF-8 text",
                hint="write the secret into the file as text",
            ) from None
        value = text.strip()
        if not value:
            raise SecretUnavailableError(
                f"secret file {str(path)!r} is empty", hint="write the secret into the file"
            )
        return value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return (self.env, self.file, self._value) == (other.env, other.file, other._value)

    def __hash__(self) -> int:
        return hash((self.env, self.file, self._value))

    def __repr__(self) -> str:
        if self._value is not None:
            return "Secret(<hidden>)"
        return f"Secret({self.source})"

    __str__ = __repr__
