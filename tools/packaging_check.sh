#!/usr/bin/env bash
# Every distribution as PyPI would get it and a user would install it:
#
#   1. builds each sdist, and each wheel from that sdist (python -m build), from a snapshot of
#      the working tree, so stale build/ folders and egg-info play no part;
#   2. checks every file with `twine check --strict` (the long description renders on PyPI),
#      and that each carries the LICENSE and each sdist its tests;
#   3. installs the published distributions' WHEELS (not the tree) into a fresh virtual
#      environment, with the pins of constraints.txt, and runs there, from an empty folder
#      with an empty HOME: `brokerauth plugins`, `brokerauth --help`,
#      `python -m brokerauth --help` and `brokerauth demo`.
#
#   tools/packaging_check.sh
#
# BUILD_PYTHON is the interpreter that has build and twine (default .venv/bin/python, which
# `make venv` gives the dev group of pyproject.toml); its base interpreter makes the fresh
# environment. KEEP=1 keeps the temporary folder. Exits non-zero, naming the step, on any
# failure. DIST_DIR=FOLDER copies the built sdists and wheels there once every check passed
# (tools/wheel_tests.sh tests them).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_PYTHON=${BUILD_PYTHON:-$ROOT/.venv/bin/python}
STARTED=$(date +%s)
elapsed() { echo $(($(date +%s) - STARTED)); }
say() { printf '[packaging %3ss] %s\n' "$(elapsed)" "$*"; }
fail() {
    printf '[packaging %3ss] FAILED: %s\n' "$(elapsed)" "$1" >&2
    if [ -n "${2:-}" ] && [ -f "$2" ]; then
        echo "---- last lines of $2" >&2
        tail -40 "$2" >&2
    fi
    exit 1
}

"$BUILD_PYTHON" -c 'import build, twine' 2>/dev/null ||
    fail "$BUILD_PYTHON has no build or twine: install the dev group (make venv, or pip install --group dev -c constraints.txt)"

# Every distribution of the tree: its folder, its name, and whether it is published (the
# examples say "Private :: Do Not Upload": built and checked, never published nor installed).
mapfile -t TABLE < <("$BUILD_PYTHON" - "$ROOT" <<'EOF'
import sys, tomllib
from pathlib import Path

root = Path(sys.argv[1])
folders = [root, root / "sandbox", *sorted(p.parent for pattern in
           ("plugins/*/pyproject.toml", "examples/*/pyproject.toml") for p in root.glob(pattern))]
for folder in folders:
    project = tomllib.loads((folder / "pyproject.toml").read_text("utf-8"))["project"]
    private = "Private :: Do Not Upload" in project.get("classifiers", [])
    print(folder.relative_to(root).as_posix(), project["name"],
          "private" if private else "published")
EOF
)
DISTS=() PUBLISHED=()
for row in "${TABLE[@]}"; do
    read -r folder name state <<<"$row"
    DISTS+=("$folder")
    if [ "$state" = published ]; then PUBLISHED+=("$name"); fi
done
[ "${#DISTS[@]}" -gt 0 ] || fail "could not read the distributions' pyproject.toml files"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brokerauth-packaging.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then say "keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
DIST="$WORK/dist"
mkdir -p "$WORK/src" "$DIST" "$WORK/logs" "$WORK/home" "$WORK/run"

# The snapshot: the files git tracks (as they are in the working tree), so nothing a
# developer left in a tests/ folder (a .env, a real token saved by hand) is ever packed.
# Outside a git checkout (an unpacked source archive), everything but environments and
# build leftovers.
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached |
        tar --null --ignore-failed-read -T - -cf -) 2>/dev/null | tar -C "$WORK/src" -xf - ||
        fail "could not copy the tracked files to $WORK/src"
else
    tar -C "$ROOT" -cf - \
        --exclude=./.git --exclude='./.*venv' --exclude=build --exclude=dist \
        --exclude='*.egg-info' --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache \
        --exclude=.pytest_cache --exclude=.hypothesis --exclude=./site . |
        tar -C "$WORK/src" -xf - || fail "could not copy the tree to $WORK/src"
fi

# 1. Build: each in its own isolated build environment, two at a time (build environments
# install setuptools, pinned by constraints.txt when it names it).
export PIP_CONSTRAINT="$ROOT/constraints.txt" PIP_DISABLE_PIP_VERSION_CHECK=1
say "building ${#DISTS[@]} sdists and wheels (python -m build, two at a time)"
build_one() {
    local dist=$1 slug log
    slug=$(echo "$dist" | tr '/.' '--'); log="$WORK/logs/build$slug.log"
    if "$BUILD_PYTHON" -m build --outdir "$DIST" "$WORK/src/$dist" >"$log" 2>&1; then
        say "built $dist"
    else
        say "BUILD FAILED: $dist (log below)"
        tail -30 "$log"
        return 1
    fi
}
export -f build_one say elapsed
export WORK DIST BUILD_PYTHON STARTED
printf '%s\n' "${DISTS[@]}" | xargs -P 2 -I{} bash -c 'build_one "$1"' _ {} ||
    fail "python -m build failed for at least one distribution (see above)"
wheels=("$DIST"/*.whl) sdists=("$DIST"/*.tar.gz)
[ "${#wheels[@]}" -eq "${#DISTS[@]}" ] && [ "${#sdists[@]}" -eq "${#DISTS[@]}" ] ||
    fail "expected ${#DISTS[@]} wheels and sdists, found ${#wheels[@]} and ${#sdists[@]} in $DIST"

# 2. What PyPI checks, and what each file must carry.
say "twine check --strict on ${#wheels[@]} wheels and ${#sdists[@]} sdists"
NO_COLOR=1 COLUMNS=200 "$BUILD_PYTHON" -m twine check --strict "$DIST"/* >"$WORK/logs/twine.log" 2>&1 ||
    fail "twine check --strict rejected a file" "$WORK/logs/twine.log"
say "every file carries the LICENSE, every sdist its whole tests/ folder"
"$BUILD_PYTHON" - "$DIST" "$WORK/src" "${TABLE[@]}" >"$WORK/logs/contents.log" 2>&1 <<'EOF' ||
import re, sys, tarfile, zipfile
from pathlib import Path

dist, src, rows = Path(sys.argv[1]), Path(sys.argv[2]), [r.split() for r in sys.argv[3:]]
problems = []
for folder, name, _ in rows:
    stem = re.sub(r"[-_.]+", "_", name).lower()
    wheels = list(dist.glob(f"{stem}-*.whl"))
    sdists = list(dist.glob(f"{stem}-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        problems.append(f"{name}: expected one wheel and one sdist, found {wheels + sdists}")
        continue
    if not any(n.endswith(".dist-info/licenses/LICENSE")
               for n in zipfile.ZipFile(wheels[0]).namelist()):
        problems.append(f"{wheels[0].name}: no .dist-info/licenses/LICENSE")
    with tarfile.open(sdists[0]) as archive:
        packed = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    if "LICENSE" not in packed:
        problems.append(f"{sdists[0].name}: no LICENSE")
    if any("__pycache__" in p or p.endswith(".pyc") for p in packed):
        problems.append(f"{sdists[0].name}: carries compiled files")
    # Every file of the tests folder (helpers, conftest.py, data), so the sdist can test itself,
    # but those its MANIFEST.in names in an `exclude` line (tests that need the whole tree).
    tests = src / folder / "tests"
    wanted = {p.relative_to(src / folder).as_posix() for p in tests.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts} if tests.is_dir() else set()
    manifest = src / folder / "MANIFEST.in"
    for line in manifest.read_text("utf-8").splitlines() if manifest.is_file() else []:
        if line.startswith("exclude "):
            wanted -= set(line.split()[1:])
    if missing := sorted(wanted - packed):
        problems.append(f"{sdists[0].name}: lacks {len(missing)} file(s) of tests/: "
                        + ", ".join(missing[:5]))
print("\n".join(problems) or "ok")
sys.exit(1 if problems else 0)
EOF
    fail "a wheel or sdist lacks its LICENSE or tests" "$WORK/logs/contents.log"

# 3. A user's installation: the published wheels, and nothing of the tree.
VENV="$WORK/venv"
BASE=$("$BUILD_PYTHON" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
say "fresh environment ($("$BASE" --version 2>&1)); installing the published wheels"
install=()
for name in "${PUBLISHED[@]}"; do
    file=$(ls "$DIST/$(echo "$name" | tr - _)"-*.whl 2>/dev/null | head -1)
    [ -n "$file" ] || fail "no wheel for $name in $DIST"
    install+=("$file")
done
{ "$BASE" -m venv "$VENV" &&
  "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" --find-links "$DIST" \
      "${install[@]}"; } >"$WORK/logs/install.log" 2>&1 ||
    fail "installing the wheels into a fresh environment failed" "$WORK/logs/install.log"

# From an empty folder with an empty HOME: no profile, token or source of the tree in reach.
in_venv() {
    (cd "$WORK/run" && env -u PYTHONPATH -u BROKERAUTH_PROFILES HOME="$WORK/home" \
        XDG_CONFIG_HOME="$WORK/home/.config" XDG_DATA_HOME="$WORK/home/.local/share" \
        XDG_CACHE_HOME="$WORK/home/.cache" PATH="$VENV/bin:$PATH" "$@")
}
where=$(in_venv python -c 'import brokerauth; print(brokerauth.__file__)')
case $where in
    "$VENV"/*) ;;
    *) fail "brokerauth is imported from $where, not from the fresh environment" ;;
esac

check() {  # check NAME COMMAND...: run it in the fresh environment, log its output
    local name=$1 log="$WORK/logs/$1.log"
    shift
    say "run: $*"
    in_venv "$@" >"$log" 2>&1 || fail "\`$*\` exited $? in the fresh environment" "$log"
}
check plugins brokerauth plugins
for name in "${PUBLISHED[@]}"; do
    [ "$name" = brokerauth-sandbox ] && continue  # it adds commands (checked below), no plugin
    grep -qE -- "[[:space:]]$name[[:space:]]" "$WORK/logs/plugins.log" ||
        fail "\`brokerauth plugins\` lists no plugin of $name" "$WORK/logs/plugins.log"
done
grep -qE "^builtin[[:space:]]+brokerauth[[:space:]]" "$WORK/logs/plugins.log" ||
    fail "\`brokerauth plugins\` lists no plugin of the core" "$WORK/logs/plugins.log"
check help brokerauth --help
check module-help python -m brokerauth --help
cmp -s "$WORK/logs/help.log" "$WORK/logs/module-help.log" ||
    fail "\`python -m brokerauth --help\` differs from \`brokerauth --help\`" "$WORK/logs/module-help.log"
grep -q "demo" "$WORK/logs/help.log" ||
    fail "\`brokerauth --help\` lists no demo command: the test bench's entry points are missing" \
        "$WORK/logs/help.log"
check demo brokerauth demo
grep -q "all steps passed" "$WORK/logs/demo.log" ||
    fail "\`brokerauth demo\` did not report all steps passed" "$WORK/logs/demo.log"

if [ -n "${DIST_DIR:-}" ]; then
    mkdir -p "$DIST_DIR" && cp "$DIST"/* "$DIST_DIR"/ || fail "could not copy the files to $DIST_DIR"
    say "the sdists and wheels are in $DIST_DIR"
fi
say "ok: ${#DISTS[@]} sdists and wheels built and checked; the published wheels install and run"
