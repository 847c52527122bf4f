"""Finding one entry-point group without importing :mod:`importlib.metadata`.

``importlib.metadata`` imports the ``email`` package to parse distribution metadata, which costs
a command such as ``brokerauth sign`` a tenth of its start-up.  The entry points of one group
are found here by reading only the ``entry_points.txt`` of each distribution on ``sys.path``,
with importlib.metadata's rules: paths in ``sys.path`` order, ``*.dist-info`` and
``*.egg-info`` folders in listing order, the first distribution of a (normalised) name wins.
Where something else could provide distributions (a zip archive or an ``.egg`` on the path, an
import hook with its own ``find_distributions``), :func:`entry_points` defers to
importlib.metadata itself.
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
        fields = {"Name": "", "Version": "?"}
        for filename in ("METADATA", "PKG-INFO"):
            try:
                with open(os.path.join(self._metadata_dir, filename), encoding="utf-8") as file:
                    for line in file:
                        if not line.strip():
                            break  # the headers end at the first empty line
                        key, sep, value = line.partition(":")
                        if sep and key in fields:
                            fields[key] = value.strip()
            except OSError:
                continue
            break
        name = fields["Name"] or os.path.basename(self._metadata_dir).partition("-")[0]
        return Distribution(name, fields["Version"])

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
        low = name.lower()
        if low.endswith((".dist-info", ".egg-info")):
            stem = low.rpartition(".")[0].partition("-")[0]
            yield os.path.join(folder, name), _SEPARATORS.sub("_", stem)


def _group_entries(metadata_dir: str, group: str) -> Iterator[EntryPoint]:
    try:
        with open(os.path.join(metadata_dir, "entry_points.txt"), encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group:
            name, sep, value = line.partition("=")
            if sep:
                yield EntryPoint(name.strip(), value.strip(), group, metadata_dir)
