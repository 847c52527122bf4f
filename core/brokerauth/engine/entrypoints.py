"""Finding one entry-point group without importing :mod:`importlib.metadata` (internal: the
plugin host's and the command line's, not an API).

``importlib.metadata`` imports the ``email`` package to parse distribution metadata, which costs
``brokerauth sign`` about 18 ms of a 75 ms start.  The entry points of one group are found here
by reading only the ``entry_points.txt`` of each distribution on ``sys.path``, with
importlib.metadata's rules: paths in ``sys.path`` order, ``*.dist-info`` and ``*.egg-info``
folders in listing order, the first distribution of a (normalised) name wins, the name and
version read from the metadata headers as its email parser reads them.  Two differences, both
about files the packaging specs call invalid: a line without ``=`` is skipped (importlib.metadata
fails for every group), and metadata without a Name or Version gives the folder's name and
``"?"`` (importlib.metadata gives None).  ``tests/test_entrypoints_shadow.py`` holds the two
side by side.  Where something else could provide distributions (a zip archive or an ``.egg``
on the path, an import hook with its own ``find_distributions``), :func:`entry_points` defers
to importlib.metadata itself.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # protocols for the type checker only: they are costly to create at import
    from typing import Protocol

    class DistributionLike(Protocol):
        @property
        def name(self) -> str: ...

        @property
        def version(self) -> str: ...

    class EntryPointLike(Protocol):
        """What the plugin host uses of an entry point: :class:`EntryPoint` here, or
        ``importlib.metadata.EntryPoint`` (given by code that embeds the host)."""

        @property
        def name(self) -> str: ...

        @property
        def value(self) -> str: ...

        @property
        def dist(self) -> DistributionLike | None: ...

        def load(self) -> Any: ...


class Distribution:
    """A distribution's name and version."""

    __slots__ = ("name", "version")

    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version


class EntryPoint:
    """One entry point, shaped as ``importlib.metadata.EntryPoint`` where the host uses it."""

    def __init__(self, name: str, value: str, group: str, metadata_dir: str) -> None:
        self.name = name
        self.value = value
        self.group = group
        self._metadata_dir = metadata_dir

    def load(self) -> Any:
        """Import the module and follow the attribute path, as importlib.metadata does."""
        target = self.value.partition("[")[0]  # extras are not used here
        module, _, attribute = (part.strip() for part in target.partition(":"))
        obj = importlib.import_module(module)
        for name in filter(None, attribute.split(".")):
            obj = getattr(obj, name)
        return obj

    @cached_property
    def dist(self) -> Distribution:
        """The distribution's name and version, read from its metadata headers."""
        headers = _headers(self._metadata_dir)
        # The core metadata spec requires both; importlib.metadata would give None for a
        # missing one, which the host could only show as "None".
        name = headers.get("name") or os.path.basename(self._metadata_dir).partition("-")[0]
        return Distribution(name, headers.get("version", "?"))

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def entry_points(group: str) -> list[EntryPointLike]:
    """Every installed entry point of ``group``, in importlib.metadata's order."""
    if not _paths_are_plain():
        import importlib.metadata

        return list(importlib.metadata.entry_points(group=group))
    found: list[EntryPointLike] = []
    seen: set[str] = set()
    for path in sys.path:
        for metadata_dir, normalized in _distributions(path or "."):
            if normalized in seen:
                continue
            seen.add(normalized)
            found.extend(_group_entries(metadata_dir, group))
    return found


def _paths_are_plain() -> bool:
    """Whether every distribution importlib.metadata would see sits in a folder on sys.path."""
    from importlib.machinery import PathFinder

    if any(hasattr(finder, "find_distributions") and finder is not PathFinder
           for finder in sys.meta_path):
        return False
    return all(
        not path.lower().endswith(".egg") and (os.path.isdir(path) or not os.path.exists(path))
        for path in sys.path if path
    )


_SEPARATORS = re.compile(r"[-_.]+")


def _distributions(folder: str) -> Iterator[tuple[str, str]]:
    """``(metadata folder, normalised name)`` of each distribution in ``folder``."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.lower().endswith((".dist-info", ".egg-info")):
            path = os.path.join(folder, name)
            yield path, _normalized_name(path, name)


def _normalized_name(path: str, name: str) -> str:
    # As importlib.metadata tells two distributions apart: by the folder's name, or by the
    # metadata's Name when the suffix is not spelled in lower case (or the folder's name
    # gives none).
    stem, suffix = os.path.splitext(name)
    if suffix in (".dist-info", ".egg-info"):
        normalized = _SEPARATORS.sub("_", stem.partition("-")[0]).lower()
        if normalized:
            return normalized
    return _SEPARATORS.sub("_", _headers(path).get("name", "")).lower()


def _group_entries(metadata_dir: str, group: str) -> Iterator[EntryPoint]:
    """The entries of ``group`` in the folder's ``entry_points.txt``, read as
    importlib.metadata reads them: stripped lines, ``#`` comments, a section named by what is
    inside its brackets.  A line without ``=`` is skipped, where importlib.metadata fails
    for every group."""
    try:
        with open(os.path.join(metadata_dir, "entry_points.txt"), encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            name, sep, value = line.partition("=")
            if sep:
                yield EntryPoint(name.strip(), value.strip(), group, metadata_dir)


# A header line as the email parser sees one (RFC 5322 field name, a colon), a folded line,
# or a mbox "From " line; anything else ends the headers.
_HEADER_LINE = re.compile(r"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
_WANTED = ("name", "version")


def _headers(metadata_dir: str) -> dict[str, str]:
    """The first ``Name`` and ``Version`` of the folder's ``METADATA`` (``PKG-INFO`` if that
    is missing or empty), keyed in lower case, as importlib.metadata's email parser reads
    them: names in any case, the value's leading blanks dropped, folded lines joined."""
    text = ""
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(metadata_dir, filename), encoding="utf-8") as file:
                text = file.read()
        except OSError:
            continue
        if text:
            break
    found: dict[str, str] = {}
    current: list[str] = []

    def keep() -> None:
        key, _, value = current[0].partition(":")
        key = key.lower()
        if key in _WANTED and key not in found:
            found[key] = _unfolded("\n".join([value.lstrip(" \t"), *current[1:]]))
        current.clear()

    # Lines end at "\n" only, as the parser's: reading translated "\r\n" and "\r" already, and
    # other line breaks of str.splitlines are text to it.
    for line in text.split("\n"):
        if not _HEADER_LINE.match(line):
            break
        if line[0] in " \t":
            if current:
                current.append(line)
            continue
        if current:
            keep()
        if not line.startswith("From ") and not line.startswith(":"):
            current.append(line)
    if current:
        keep()
    return found


def _unfolded(value: str) -> str:
    """A folded header's value as importlib.metadata gives it: dedented as if its first line
    were indented eight spaces (its fix for RFC 822 indentation)."""
    if "\n" not in value:
        return value
    import textwrap  # only for a folded header, which Name and Version never are in practice

    return textwrap.dedent(" " * 8 + value)
