"""brokerauth.engine.entrypoints gives what importlib.metadata gives, which it stands in for so
that a command starts without the ``email`` package.

Compared on what is installed (every group brokerauth reads, and every group of every
installed distribution), on distributions laid out to hit each rule, and on generated
``entry_points.txt`` and ``METADATA`` files.  The two differences the module documents (a
line without ``=``, metadata without a Name or Version: files the packaging specs call
invalid) are checked as documented.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
from brokerauth.engine import entrypoints
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: The groups brokerauth reads: plugins, their sandboxes, other distributions' commands.
GROUPS = ("brokerauth", "brokerauth.sandbox", "brokerauth.commands")

Key = tuple[str, str, str | None, str | None]


def key(entry_point: Any) -> Key:
    dist = entry_point.dist
    return (entry_point.name, entry_point.value, dist and dist.name, dist and dist.version)


def library(group: str) -> list[Key]:
    return [key(ep) for ep in importlib.metadata.entry_points(group=group)]


def shadow(group: str) -> list[Key]:
    return [key(ep) for ep in entrypoints.entry_points(group)]


def test_the_shadow_is_what_runs_here() -> None:
    # Otherwise it defers to importlib.metadata, and every comparison below is one with itself.
    assert entrypoints._paths_are_plain()
    assert all(type(ep) is entrypoints.EntryPoint for ep in entrypoints.entry_points(GROUPS[0]))


@pytest.mark.parametrize("group", GROUPS)
def test_brokerauth_s_groups_are_the_same(group: str) -> None:
    assert shadow(group) == library(group)
    assert shadow(group), f"nothing installed in {group}: the comparison proves nothing"
    loaded = {ep.name: ep.load() for ep in importlib.metadata.entry_points(group=group)}
    assert {ep.name: ep.load() for ep in entrypoints.entry_points(group)} == loaded


def test_every_group_of_every_installed_distribution_is_the_same() -> None:
    groups = {ep.group for dist in importlib.metadata.distributions()
              for ep in dist.entry_points}
    assert len(groups) > len(GROUPS)
    for group in sorted(groups):
        assert shadow(group) == library(group), group


def test_every_installed_distribution_s_name_and_version_are_read_the_same() -> None:
    seen = 0
    for dist in importlib.metadata.distributions():
        path = getattr(dist, "_path", None)
        if path is None or not Path(path).is_dir():
            continue
        name, version = dist.metadata.get("Name"), dist.metadata.get("Version")
        assert (name, version) != (None, None)
        found = entrypoints.EntryPoint("x", "m:x", "g", str(path)).dist
        assert (found.name, found.version) == (name, version), path
        seen += 1
    assert seen > 10


# -- distributions laid out for each rule -------------------------------------------------
def _dist(folder: Path, metadata: str | None, entry_points: str | None = None,
          metadata_name: str = "METADATA") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if metadata is not None:
        (folder / metadata_name).write_text(metadata, "utf-8", newline="")
    if entry_points is not None:
        (folder / "entry_points.txt").write_text(entry_points, "utf-8", newline="")


@pytest.fixture
def odd_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first / "lower_case-1.0.dist-info", "name: Lower-Case\nversion: 1.0\n\nbody\n",
          "[g]\na = m:a\n")
    _dist(second / "lower_case-2.0.dist-info", "Name: lower-case\nVersion: 2.0\n\n",
          "[g]\nshadowed = m:a\n")  # a later path's copy of the same name: never read
    _dist(first / "Lower.Case-3.0.dist-info", "Name: x\nVersion: 3\n\n",
          "[g]\nshadowed_too = m:a\n")  # the same name, normalised
    _dist(first / "folded-1.0.dist-info", "Name: folded\nSummary: one\n two\nVersion: 1.0\n\n",
          "[g]\nb = m:b\n")
    _dist(first / "twice-1.0.dist-info", "Name: first\nName: second\nVersion: 1\n\n",
          "[g]\nc = m:c\n")
    _dist(first / "empty_metadata-1.0.dist-info", "", "[g]\nd = m:d\n")
    _dist(first / "empty_metadata-1.0.dist-info", "Name: from-pkg-info\nVersion: 3\n\n",
          metadata_name="PKG-INFO")
    _dist(first / "comments-1.0.dist-info", "Name: comments\nVersion: 1\n\n",
          "# g\n[g]\n; semi = m:s\n# hash = m:h\n e = m:e \n[ g ]\nf = m:f\n[[g]]\nh = m:h\n")
    _dist(first / "values-1.0.dist-info", "Name: values\nVersion: 1\n\n",
          "[g]\ni = m:attr [extra1, extra2]\nj=m.sub:attr.inner\n  k  =  m : a  \nl==m:l\n")
    _dist(first / "Upper-1.0.DIST-INFO", "Name: upper-other\nVersion: 1\n\n", "[g]\nm = m:u\n")
    _dist(first / "blanks-1.0.dist-info", "Name:   spaced  \r\nVersion:1.0\r\n\r\n",
          "[g]\r\nn = m:n\r\n")
    _dist(first / "egg-1.0.egg-info", "Name: egg\nVersion: 0.1\n\n", "[g]\np = m:p\n",
          metadata_name="PKG-INFO")
    (first / "file.egg-info").write_text("Name: file\nVersion: 1\n\n")
    for path in (second, first):
        monkeypatch.syspath_prepend(str(path))


@pytest.mark.usefixtures("odd_distributions")
@pytest.mark.parametrize("group", ["g", " g ", "[g]", "h"])
def test_odd_distributions_are_read_the_same(group: str) -> None:
    assert shadow(group) == library(group)


@pytest.mark.usefixtures("odd_distributions")
def test_the_odd_distributions_are_seen() -> None:
    assert ("shadowed", "m:a", "lower-case", "2.0") not in shadow("g")
    assert len(shadow("g")) >= 13


def test_what_the_shadow_does_with_invalid_files(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _dist(tmp_path / "bare-1.0.dist-info", "Summary: no name, no version\n\n",
          "[g]\nno equals sign\nq = m:q\n")
    # The headers end at the first line that is not one: this Version is the body's.
    _dist(tmp_path / "ends-1.0.dist-info", "Name: ends\nnot a header\nVersion: 8\n",
          "[g]\nr = m:r\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises((TypeError, ValueError)):
        importlib.metadata.entry_points(group="g")
    assert sorted(shadow("g")) == [("q", "m:q", "bare", "?"), ("r", "m:r", "ends", "?")]


# -- generated files ----------------------------------------------------------------------
_ENTRY_LINES = st.one_of(
    st.sampled_from(["[g]", "[ g ]", "[[g]]", "[h]", "[g", "#[h]", "# c = m:c", "; s = m:s",
                     "", "  ", "=", "a=b", " a = m:a [x] ", "b = c = d", "\x0c", "é = m:é"]),
    st.text(alphabet="ab =[]#;:.\t-_\r\x1c\u2028\x85", max_size=12),
)
_HEADER_LINES = st.one_of(
    st.sampled_from(["Name: n1", "name: n2", "NAME:n3", "Version: 1", "version:  2 ", " folded",
                     "\tfolded", "From x", ":x", "", " ", "Summary: s", "junk", "Name : bad",
                     "Name:", "Version:\t3\t", "Name: é"]),
    st.text(alphabet="NamVers: \t-1x\r\x1c\u2028\x85\x0c", max_size=12),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry_lines=st.lists(_ENTRY_LINES, max_size=8),
       header_lines=st.lists(_HEADER_LINES, max_size=6),
       pkg_info=st.none() | st.lists(_HEADER_LINES, max_size=3),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_generated_files_are_read_the_same(
    tmp_path: Path, entry_lines: list[str], header_lines: list[str],
    pkg_info: list[str] | None, newline: str,
) -> None:
    folder = tmp_path / "generated-1.0.dist-info"
    _dist(folder, newline.join(header_lines), newline.join(entry_lines))
    (folder / "PKG-INFO").unlink(missing_ok=True)  # tmp_path is the same for every example
    if pkg_info is not None:
        _dist(folder, newline.join(pkg_info), metadata_name="PKG-INFO")
    dist = importlib.metadata.PathDistribution(folder)
    try:
        expected = list(dist.entry_points)
    except (TypeError, ValueError):  # a line without "=": documented, and checked above
        expected = None
    if expected is not None:
        for group in {"g", "h", *(ep.group for ep in expected)}:
            assert [(ep.name, ep.value) for ep in entrypoints._group_entries(str(folder), group)
                    ] == [(ep.name, ep.value) for ep in expected if ep.group == group], group
    read = entrypoints.EntryPoint("x", "m:x", "g", str(folder)).dist
    name, version = dist.metadata.get("Name"), dist.metadata.get("Version")
    assert read.name == (name or "generated")
    assert read.version == (version if version is not None else "?")
