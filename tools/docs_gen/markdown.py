"""Cut sections out of the project's Markdown files and make them into site pages.

A README's links point at repository paths; on the site they must point at the page that now
holds the target (``plugins/futu/README.md`` -> ``getting-started/futu.md``), or become plain
text when the target is source code the site does not publish (mkdocs ``--strict`` fails on a
link to a missing page).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")


def read(repo_path: str) -> str:
    """The text of a file of the repository, by its path from the repository's root."""
    return (REPO / repo_path).read_text(encoding="utf-8")


def _lines_outside_fences(text: str) -> Iterator[tuple[int, str, bool]]:
    """``(index, line, in_code)`` for each line: headings count only outside code fences."""
    in_code = False
    for index, line in enumerate(text.splitlines()):
        if _FENCE.match(line):
            in_code = not in_code
            yield index, line, True
            continue
        yield index, line, in_code


def headings(text: str) -> list[tuple[int, int, str]]:
    """``(line index, level, title)`` of every heading outside code fences."""
    found = []
    for index, line, in_code in _lines_outside_fences(text):
        match = None if in_code else _HEADING.match(line)
        if match:
            found.append((index, len(match.group(1)), match.group(2)))
    return found


def section(text: str, title: str, *, level: int | None = None) -> str:
    """The section headed ``title`` (its heading included), up to the next heading of the same
    or a higher level; a ``KeyError`` naming the title when there is none, so a renamed README
    heading fails the build instead of leaving an empty page."""
    lines = text.splitlines()
    marks = headings(text)
    for position, (index, found_level, found_title) in enumerate(marks):
        if found_title == title and (level is None or found_level == level):
            end = len(lines)
            for later_index, later_level, _ in marks[position + 1:]:
                if later_level <= found_level:
                    end = later_index
                    break
            return "\n".join(lines[index:end]).strip() + "\n"
    raise KeyError(f"no heading {title!r}")


def between(text: str, start: str, end: str | None = None) -> str:
    """The text from the first line starting with ``start`` up to (not including) the first
    later line starting with ``end`` (or the end of ``text``)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(start):
            stop = len(lines)
            if end is not None:
                for later in range(index + 1, len(lines)):
                    if lines[later].startswith(end):
                        stop = later
                        break
            return "\n".join(lines[index:stop]).strip() + "\n"
    raise KeyError(f"no line starting with {start!r}")


def shift_headings(text: str, top: int = 1) -> str:
    """Move every heading so the highest one in ``text`` is at level ``top``."""
    marks = headings(text)
    if not marks:
        return text
    delta = top - min(level for _, level, _ in marks)
    lines = text.splitlines()
    for index, level, title in marks:
        lines[index] = "#" * max(1, min(6, level + delta)) + " " + title
    return "\n".join(lines) + "\n"


def slug(title: str) -> str:
    """The anchor GitHub and Python-Markdown's ``toc`` both give a heading."""
    text = re.sub(r"[^\w\s-]", "", title.strip().lower())
    return re.sub(r"\s", "-", text)


def relink(text: str, source: str, page: str, pages: Mapping[str, str],
           anchors: Mapping[str, str]) -> str:
    """Rewrite the links of ``text`` (from the repository file ``source``, now on the site page
    ``page``): a link to a file a page holds points at that page, an anchor of README.md at
    the page that holds its heading, web links stay, and any other repository path becomes its
    text (a code path the site does not publish)."""
    page_dir = posixpath.dirname(page)

    def to_page(target_page: str, anchor: str) -> str:
        if target_page == page:
            return f"#{anchor}" if anchor else posixpath.basename(page)
        relative = posixpath.relpath(target_page, page_dir or ".")
        return relative + (f"#{anchor}" if anchor else "")

    def replace(match: re.Match[str]) -> str:
        link_text, target = match.group("text"), match.group("target")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        if not path:
            repo_path = source
        else:
            repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        if repo_path == "README.md" and anchor and anchor in anchors:
            return f"[{link_text}]({to_page(anchors[anchor], anchor)})"
        if repo_path in pages:
            return f"[{link_text}]({to_page(pages[repo_path], anchor)})"
        if repo_path == source and anchor:
            return f"[{link_text}](#{anchor})"
        if link_text.strip("`") == repo_path or "`" in link_text:
            return link_text
        return f"{link_text} (`{repo_path}`)"

    out = []
    for _, line, in_code in _lines_outside_fences(text):
        out.append(line if in_code else _LINK.sub(replace, line))
    return "\n".join(out) + "\n"
