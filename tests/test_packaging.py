"""Every distribution of the tree is ready for PyPI: the metadata a package index shows and
pip resolves by, the LICENSE each wheel and sdist carries, no development tool in a public
extra, and ``python -m brokerauth`` as the ``brokerauth`` script.  Fast and offline: the full
build, ``twine check --strict`` and the install of the wheels is tools/packaging_check.sh,
run by ``make packaging``."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from brokerauth._version import __version__
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
if (ROOT / "PKG-INFO").is_file():
    # An unpacked sdist of the core: these checks are of every distribution of the tree.
    pytest.skip("checks the whole source tree, not one unpacked sdist", allow_module_level=True)
FOLDERS = [ROOT, ROOT / "sandbox",
           *sorted(p.parent for pattern in ("plugins/*/pyproject.toml", "examples/*/pyproject.toml")
                   for p in ROOT.glob(pattern))]
IDS = [folder.relative_to(ROOT).as_posix() for folder in FOLDERS]
#: What a distribution of the project requires of another: they import each other's internals,
#: which may change in any minor release before 1.0.
CORE_RANGE = SpecifierSet(">=0.1,<0.2")
#: Tools for working on the project, which belong to the dev dependency group, never to an extra
#: a user can install.
DEV_ONLY = re.compile(r"^(mypy|ruff|types-.*|build|twine|pre-commit)$")
PYTHONS = ("3.11", "3.12", "3.13")
#: A link PyPI can follow: it renders the long description far from this tree.
ABSOLUTE = re.compile(r"^(https?://|mailto:)")


def _project(folder: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((folder / "pyproject.toml").read_text("utf-8"))[
        "project"]
    return project


def _requirements(project: dict[str, Any]) -> list[tuple[str, Requirement]]:
    found = [("dependencies", Requirement(line)) for line in project.get("dependencies", [])]
    for extra, lines in project.get("optional-dependencies", {}).items():
        found += [(f"[{extra}]", Requirement(line)) for line in lines]
    return found


def test_every_distribution_of_the_tree_is_checked() -> None:
    assert len(FOLDERS) >= 9, IDS
    names = [canonicalize_name(_project(folder)["name"]) for folder in FOLDERS]
    assert len(set(names)) == len(names), names


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_the_index_page_has_a_description_keywords_and_classifiers(folder: Path) -> None:
    project = _project(folder)
    readme = project.get("readme")
    assert isinstance(readme, str), f"{folder}: no readme (PyPI would show no description)"
    assert (folder / readme).is_file(), f"{folder}: readme {readme} is missing"
    assert project.get("description"), folder
    assert project.get("keywords"), f"{folder}: no keywords"
    classifiers = project.get("classifiers", [])
    assert "Typing :: Typed" in classifiers, folder
    assert any(c.startswith("Development Status :: ") for c in classifiers), folder
    assert any(c.startswith("Intended Audience :: ") for c in classifiers), folder
    for python in PYTHONS:
        assert f"Programming Language :: Python :: {python}" in classifiers, (folder, python)
    assert project.get("requires-python") == ">=3.11", folder


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_each_build_carries_the_mit_license(folder: Path) -> None:
    """The SPDX expression, and the LICENSE inside the distribution's own folder (a build
    reaches no file above it), matched by license-files; no ``License ::`` classifier,
    which setuptools>=77 refuses beside an expression."""
    project = _project(folder)
    assert project.get("license") == "MIT", folder
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")], folder
    patterns = project.get("license-files", ["LICEN[CS]E*"])
    assert all(".." not in Path(p).parts for p in patterns), patterns
    files = [p for p in folder.iterdir() if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    assert [p.name for p in files] == ["LICENSE"], f"{folder}: license-files match {files}"
    assert files[0].read_text("utf-8") == (ROOT / "LICENSE").read_text("utf-8"), folder


def test_the_license_is_mit_for_the_authors() -> None:
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the brokerauth authors\n"), text[:80]
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_a_distribution_of_the_project_is_required_within_the_minor_release(
        folder: Path) -> None:
    project = _project(folder)
    own = canonicalize_name(project["name"])
    others = [(where, r) for where, r in _requirements(project)
              if canonicalize_name(r.name).startswith("brokerauth") and
              canonicalize_name(r.name) != own]
    assert others or folder == ROOT, f"{folder} requires no brokerauth distribution"
    for where, requirement in others:
        assert requirement.specifier == CORE_RANGE, (
            f"{folder} {where}: {requirement} should require {requirement.name}{CORE_RANGE}")
        assert requirement.specifier.contains(__version__), (folder, requirement)


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_no_public_extra_names_a_development_tool(folder: Path) -> None:
    project = _project(folder)
    tools = [f"{where}: {r}" for where, r in _requirements(project)
             if DEV_ONLY.match(canonicalize_name(r.name))]
    assert tools == [], f"{folder}: move these to the dev dependency group: {tools}"


def test_the_dev_group_holds_the_tools() -> None:
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["dependency-groups"]
    names = {canonicalize_name(Requirement(line).name) for line in groups["dev"]}
    assert {"mypy", "ruff", "types-requests", "build", "twine"} <= names, names


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_each_sdist_carries_its_tests(folder: Path) -> None:
    """MANIFEST.in grafts the tests folder, so an unpacked sdist can test itself (the build
    itself is checked by tools/packaging_check.sh)."""
    if not (folder / "tests").is_dir():
        pytest.skip(f"{folder} has no tests folder")
    lines = (folder / "MANIFEST.in").read_text("utf-8").splitlines()
    assert "graft tests" in lines, folder
    assert any(line.startswith("global-exclude") and "__pycache__" in line for line in lines)


def _relative_links(readme: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", readme.read_text("utf-8"), flags=re.DOTALL)
    targets = re.findall(r"\]\(([^)\s]+)", text) + re.findall(r"^\[[^\]]+\]:\s*(\S+)", text,
                                                              flags=re.MULTILINE)
    targets += re.findall(r"(?:href|src)=\"([^\"]+)\"", text)
    return [t for t in targets if not ABSOLUTE.match(t) and not t.startswith("#")]


#: Long descriptions whose relative links are known and waiting for a fix (none now).
RELATIVE_LINKS_PENDING: dict[str, str] = {}


@pytest.mark.parametrize("folder", [
    pytest.param(folder, id=name, marks=[pytest.mark.xfail(
        strict=True, reason=RELATIVE_LINKS_PENDING[name])] if name in RELATIVE_LINKS_PENDING
        else []) for folder, name in zip(FOLDERS, IDS, strict=True)])
def test_the_long_description_links_work_on_pypi(folder: Path) -> None:
    """PyPI shows the readme away from the tree: a link relative to it leads nowhere."""
    links = _relative_links(folder / _project(folder)["readme"])
    assert links == [], f"{folder}: relative links {links}"


def test_the_version_is_one() -> None:
    versions = {IDS[i]: _project(folder)["version"] for i, folder in enumerate(FOLDERS)}
    assert set(versions.values()) == {__version__}, versions


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False,
                          env=env, cwd=ROOT)


def test_python_m_brokerauth_is_the_brokerauth_command() -> None:
    script = Path(sys.executable).with_name("brokerauth")
    assert script.is_file(), f"no brokerauth script beside {sys.executable}"
    module = _run(sys.executable, "-m", "brokerauth", "--help")
    command = _run(str(script), "--help")
    assert module.returncode == command.returncode == 0, module.stderr
    assert module.stdout.startswith("usage: brokerauth "), module.stdout[:80]
    assert module.stdout == command.stdout
    version = _run(sys.executable, "-m", "brokerauth", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.splitlines()[0] == f"brokerauth {__version__}", version.stdout
    # No command: the usage and exit code 2, as the script.
    bare = _run(sys.executable, "-m", "brokerauth")
    assert bare.returncode == _run(str(script)).returncode == 2
