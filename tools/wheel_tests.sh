#!/usr/bin/env bash
# Each distribution's own tests against its built WHEEL, as a user who downloads the sdist to
# test what pip installed would run them: proof that the wheels (not the source tree) carry
# what the tests exercise, and that the sdists carry tests that run outside the tree.
#
#   tools/wheel_tests.sh                            build (tools/packaging_check.sh), test all
#   tools/wheel_tests.sh plugins/futu core ...      only these distributions
#   WHEELS=FOLDER tools/wheel_tests.sh ...          test the sdists and wheels already in FOLDER
#                                                   (DIST_DIR=FOLDER tools/packaging_check.sh)
#
# For each distribution: a fresh virtual environment with its wheel and its [test] extra, the
# wheels of the distributions of this tree it needs (read from the wheels' metadata), and
# nothing else of the tree; the pins of constraints.txt and the exact versions of the built
# files; --find-links the folder (PyPI still gives the third-party dependencies). Its tests
# then run from the tests/ folder unpacked from its sdist, beside which nothing of the source
# is unpacked but the sdist's conftest.py and pyproject.toml (the core's: its pytest settings
# and the test bench's plugin). Where the tree's root conftest.py loads the test bench's
# fixtures, `-p brokerauth_sandbox.pytest_plugin` loads them, and the root's pytest settings
# (warnings are errors, strict markers) are given on the command line. Always
# `--secret-canary -m "not stress"`; BROKERAUTH_WEBULL_SDK_PYTHON passes through when set.
#
# BUILD_PYTHON (default .venv/bin/python) builds and reads the wheels' metadata; its base
# interpreter makes the environments. KEEP=1 keeps the temporary folder. Prints one line per
# distribution (time, outcome) and exits non-zero if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_PYTHON=${BUILD_PYTHON:-$ROOT/.venv/bin/python}
BASE=$("$BUILD_PYTHON" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
STARTED=$SECONDS

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brokerauth-wheels.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "wheel_tests: keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi

if [ -n "${WHEELS:-}" ]; then
    DIST=$(cd "$WHEELS" && pwd) || exit 2
else
    DIST="$WORK/dist"
    echo "== building and checking every distribution (tools/packaging_check.sh)"
    KEEP=0 DIST_DIR="$DIST" BUILD_PYTHON="$BUILD_PYTHON" "$ROOT/tools/packaging_check.sh" || exit 1
    echo "== built and checked in $((SECONDS - STARTED))s"
fi

# Every distribution of the tree: its folder (as tools/test_alone.sh names it) and its name.
mapfile -t TABLE < <("$BUILD_PYTHON" - "$ROOT" <<'EOF'
import sys, tomllib
from pathlib import Path

root = Path(sys.argv[1])
folders = [root, root / "sandbox", *sorted(p.parent for pattern in
           ("plugins/*/pyproject.toml", "examples/*/pyproject.toml") for p in root.glob(pattern))]
for folder in folders:
    name = tomllib.loads((folder / "pyproject.toml").read_text("utf-8"))["project"]["name"]
    print("core" if folder == root else folder.relative_to(root).as_posix(), name)
EOF
)
declare -A NAME_OF
ALL=()
for row in "${TABLE[@]}"; do
    read -r folder name <<<"$row"
    NAME_OF[$folder]=$name
    ALL+=("$folder")
done
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

# The exact versions of the built files, so pip takes this tree's distributions from the folder
# and never an index's file of the same name.
"$BUILD_PYTHON" - "$DIST" >"$WORK/built.txt" <<'EOF' || { echo "wheel_tests: no wheels in $DIST" >&2; exit 2; }
import sys
from pathlib import Path

wheels = sorted(Path(sys.argv[1]).glob("*.whl"))
for wheel in wheels:
    name, version = wheel.name.split("-")[:2]
    print(f"{name.replace('_', '-')}=={version}")
sys.exit(0 if wheels else 1)
EOF

# The wheels a distribution's [test] installation needs from the folder: its own (with [test])
# first, then those its requirements name, transitively, with the extras they ask for.
wheels_for() {
    "$BUILD_PYTHON" - "$DIST" "$1" <<'EOF'
import re, sys, zipfile
from email.parser import Parser
from pathlib import Path
from packaging.requirements import Requirement

dist, target = Path(sys.argv[1]), sys.argv[2]
def canonical(name: str) -> str: return re.sub(r"[-_.]+", "-", name).lower()
wheels = {canonical(w.name.split("-")[0]): w for w in dist.glob("*.whl")}
def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(meta).decode()).get_all("Requires-Dist") or []
needed: dict[str, set[str]] = {}
def visit(name: str, extras: set[str]) -> None:
    known = needed.setdefault(name, set())
    if needed[name] and extras <= known:
        return
    known |= extras
    for line in requirements(wheels[name]):
        req = Requirement(line)
        other = canonical(req.name)
        if other in wheels and (req.marker is None or any(
                req.marker.evaluate({"extra": e}) for e in (known or {""}))):
            visit(other, set(req.extras))
top = canonical(target)
if top not in wheels:
    sys.exit(f"no wheel of {target} in {dist}")
visit(top, {"test"})
for name in [top, *sorted(set(needed) - {top})]:
    print(f"{wheels[name]}[test]" if name == top else wheels[name])
EOF
}

names=() results=() seconds=()
failed=0
for target in "${TARGETS[@]}"; do
    started=$SECONDS
    name=${NAME_OF[$target]:-}
    if [ -z "$name" ]; then
        echo "wheel_tests: no distribution at $target (one of: ${ALL[*]})" >&2
        exit 2
    fi
    slug=${target//\//-}
    venv="$WORK/venv-$slug" log="$WORK/$slug.log"
    stem=$(echo "$name" | tr - _)
    echo "== $target: a fresh environment with the wheel of $name[test] and the wheels it needs"
    outcome=
    mapfile -t installs < <(wheels_for "$name")
    [ "${#installs[@]}" -gt 0 ] || outcome="could not read the wheels' dependencies"
    sdist=$(ls "$DIST/$stem"-*.tar.gz 2>/dev/null | head -1)
    [ -n "$outcome" ] || [ -n "$sdist" ] || outcome="no sdist of $name in $DIST"
    if [ -z "$outcome" ] && ! {
        "$BASE" -m venv "$venv" &&
        "$venv/bin/python" -m pip install -q --disable-pip-version-check \
            -c "$ROOT/constraints.txt" -c "$WORK/built.txt" --find-links "$DIST" "${installs[@]}"
    } >"$log" 2>&1; then
        outcome="install failed"
        tail -20 "$log"
    fi
    if [ -z "$outcome" ]; then
        mkdir -p "$WORK/sdist-$slug"
        tar -C "$WORK/sdist-$slug" -xzf "$sdist"
        run=$(ls -d "$WORK/sdist-$slug"/*/ | head -1)
        run=${run%/}
        [ -d "$run/tests" ] || outcome="its sdist carries no tests/ folder"
    fi
    if [ -z "$outcome" ]; then
        # Only these distributions of the tree are installed, each from the folder's wheel, and
        # each of their modules is imported from the environment, on the path pytest will give
        # the tests (their folder; the sdist's root too where a conftest.py there is loaded),
        # never from the sdist's sources.
        expected=$(for w in "${installs[@]}"; do basename "${w%\[test\]}" | cut -d- -f1 | tr _ -; done |
                   sort | tr '\n' ' ')
        installed=$(cd "$run/tests" && env -u PYTHONPATH "$venv/bin/python" - "$run" 2>&1 <<'EOF'
import importlib, importlib.metadata as m, re, sys
from pathlib import Path

if (Path(sys.argv[1]) / "conftest.py").is_file():
    sys.path.insert(0, sys.argv[1])
names = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d for d in m.distributions()}
ours = sorted(name for name in names if name.startswith("brokerauth"))
for name in ours:
    tops = {f.parts[0].removesuffix(".py") for f in names[name].files or ()
            if len(f.parts) > 1 or f.suffix == ".py"} - {".."}
    for top in sorted(t for t in tops if not t.endswith((".dist-info", ".data"))):
        where = str(getattr(importlib.import_module(top), "__file__", None))
        if not where.startswith(sys.prefix):
            sys.exit(f"{top} (of {name}) is imported from {where}, not the environment")
print(" ".join(ours) + " ")
EOF
) || outcome="a module of the tree not from its wheel: $installed"
        [ -n "$outcome" ] || [ "$installed" = "$expected" ] ||
            outcome="installed $installed, expected $expected"
    fi
    if [ -z "$outcome" ]; then
        options=()
        if [ ! -f "$run/conftest.py" ]; then
            # What the tree's root conftest.py and pyproject.toml give these tests there.
            options=(-p brokerauth_sandbox.pytest_plugin -p no:cacheprovider -ra --strict-markers
                     -W error -o "markers=stress: long soak variants, run by \`make test-stress\`")
            # Hypothesis's "ci" profile is the root conftest.py's: derandomized, no deadline,
            # no database, too_slow not a failure.
            if "$venv/bin/python" -c 'import hypothesis' 2>/dev/null; then
                options+=(--hypothesis-profile=ci)
            fi
        fi
        (cd "$run/tests" && env -u PYTHONPATH PATH="$venv/bin:$PATH" "$venv/bin/pytest" -q \
            -m "not stress" --secret-canary "${options[@]}" .) 2>&1 | tee "$log"
        code=${PIPESTATUS[0]}
        summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped|deselected)|no tests ran' \
                  "$log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
        case $code in
            0) outcome="passed: $summary" ;;
            5) outcome="no tests: $summary" ;;
            *) outcome="FAILED (exit $code): $summary" ;;
        esac
    fi
    case $outcome in passed:* | "no tests:"*) ;; *) failed=1 ;; esac
    names+=("$target") results+=("$outcome") seconds+=($((SECONDS - started)))
done

echo
echo "== each distribution's tests against its wheel (python: $("$BASE" --version 2>&1))"
for i in "${!names[@]}"; do
    printf '%-24s %4ss  %s\n' "${names[$i]}" "${seconds[$i]}" "${results[$i]}"
done
echo "total: $((SECONDS - STARTED))s"
exit $failed
