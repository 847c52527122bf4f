"""Dependency floors exclude versions with known problems, and the test environment is
installed from constraints.txt, so what is tested is what is pinned (QUALITY item 32)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = [ROOT / "pyproject.toml", *sorted((ROOT / "plugins").glob("*/pyproject.toml"))]

#: A release with the known problem, which every floor must exclude.
KNOWN_BAD = {
    "urllib3": "2.5.0",        # decompression not bounded while streaming
    "redis": "5.2.1",          # rediss:// host names not checked by default
    "cryptography": "42.0.3",  # bundled OpenSSL and code with published vulnerabilities
}


def _requirements(projects: list[Path] | None = None) -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    for path in projects or PROJECTS:
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        for line in project.get("dependencies", []):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


@pytest.mark.parametrize(("name", "bad"), KNOWN_BAD.items())
def test_a_floor_excludes_the_known_bad_release(name: str, bad: str) -> None:
    requirements = _requirements()
    if name not in requirements and not (ROOT / "plugins").is_dir():
        # The core's unpacked sdist (tools/wheel_tests.sh) carries no plugin's pyproject.toml.
        pytest.skip(f"{name} is a plugin's dependency: needs the source tree's plugins/")
    requirement = requirements[name]
    assert not requirement.specifier.contains(bad), f"{requirement} admits {bad}"


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def test_every_installed_dependency_is_the_pinned_version() -> None:
    pins = _pins()
    core = _requirements([ROOT / "pyproject.toml"])
    for name in _requirements():
        if name.startswith("brokerauth"):
            continue  # the project's own distributions
        assert name in pins, f"{name} is a dependency but not pinned in constraints.txt"
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            # Only a plugin's, where that plugin is not installed (its tests run elsewhere).
            assert name not in core, f"{name}, a dependency of the core, is not installed"
            continue
        assert version == pins[name], (
            f"{name} {version} is installed, constraints.txt pins {pins[name]}: "
            "run `make constraints` or reinstall")


def test_the_pins_satisfy_the_floors() -> None:
    pins = _pins()
    for name, requirement in _requirements().items():
        if name in pins:
            assert requirement.specifier.contains(pins[name]), (requirement, pins[name])
