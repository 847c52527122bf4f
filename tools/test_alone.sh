#!/usr/bin/env bash
# Each distribution's tests in a fresh virtual environment that holds only the core, the test
# bench, the distribution's own local dependencies and its [test] extra: proof that the extra
# names everything the tests need, and that no test leans on another distribution of this
# tree being installed (as `make test`'s one shared environment would hide).
#
#   tools/test_alone.sh                          every distribution
#   tools/test_alone.sh plugins/futu core ...    only these
#
# Distributions are installed as a user installs them (built, not editable) from a snapshot
# of the working tree, so stale build/ folders and egg-info in the tree play no part. The
# tests themselves run from the tree, from the repository root, as `make test` runs them.
# PYTHON picks the interpreter (default python3); KEEP=1 keeps the temporary folder.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
ALL=(core sandbox plugins/webull plugins/webull_connect plugins/futu plugins/redis_store
     plugins/sql_store plugins/keyring_store examples/acme examples/platform)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brokerauth-alone.XXXXXX")
if [ "${KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi

# The snapshot: what would be committed or packed, without environments and build leftovers.
mkdir "$WORK/src"
tar -C "$ROOT" -cf - \
    --exclude=.git --exclude=.venv --exclude=.bench-venv --exclude=build --exclude=dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache \
    --exclude=.pytest_cache --exclude=.hypothesis . | tar -C "$WORK/src" -xf -

# The local distributions DIR depends on, dependencies first, through [project].dependencies
# (none of them is on a package index, so pip cannot fetch them by name).
local_dependencies() {
    "$PYTHON" - "$WORK/src" "$1" <<'EOF'
import re, sys, tomllib
from pathlib import Path

src, target = Path(sys.argv[1]), sys.argv[2]
folders = [Path("."), Path("sandbox"), *(p.parent.relative_to(src) for pattern in
           ("plugins/*/pyproject.toml", "examples/*/pyproject.toml") for p in src.glob(pattern))]
def canonical(name): return re.sub(r"[-_.]+", "-", name).lower()
projects = {canonical(tomllib.loads((src / f / "pyproject.toml").read_text())["project"]["name"]): f
            for f in folders}
order = []
def visit(folder):
    project = tomllib.loads((src / folder / "pyproject.toml").read_text())["project"]
    for line in project.get("dependencies", []):
        name = canonical(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0])
        if name in projects and projects[name] not in order:
            visit(projects[name])
            order.append(projects[name])
visit(Path("." if target == "core" else target))
print(" ".join(str(f) for f in order if str(f) not in (".", "sandbox")))
EOF
}

names=() results=() seconds=()
failed=0
for target in "${TARGETS[@]}"; do
    started=$SECONDS
    slug=${target//\//-}
    venv="$WORK/venv-$slug"
    log="$WORK/$slug.log"
    if [ "$target" = core ]; then dist="."; tests=tests; else dist=$target; tests=$target; fi
    if [ ! -f "$ROOT/$dist/pyproject.toml" ]; then
        echo "test_alone: no distribution at $target" >&2
        exit 2
    fi
    echo "== $target: a fresh environment with the core, the test bench, $dist[test]"
    outcome=
    deps=$(local_dependencies "$target") || outcome="could not read the dependencies"
    installs=("$WORK/src" "$WORK/src/sandbox")
    for dep in $deps; do installs+=("$WORK/src/$dep"); done
    if [ -z "$outcome" ] && ! {
        "$PYTHON" -m venv "$venv" &&
        "$venv/bin/python" -m pip install -q -c "$ROOT/constraints.txt" "${installs[@]}" &&
        "$venv/bin/python" -m pip install -q -c "$ROOT/constraints.txt" "$WORK/src/$dist[test]"
    } >"$log" 2>&1; then
        outcome="install failed"
        tail -20 "$log"
    fi
    if [ -z "$outcome" ]; then
        # From the root, as `make test` runs: the root conftest and pyproject's settings apply.
        (cd "$ROOT" && env -u PYTHONPATH "$venv/bin/python" -m pytest -q -m "not stress" \
            "$tests") 2>&1 | tee "$log"
        code=${PIPESTATUS[0]}
        summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped|deselected)|no tests ran' \
                  "$log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
        case $code in
            0) outcome="passed: $summary" ;;
            5) outcome="no tests: $summary" ;;  # the distribution has no tests of its own
            *) outcome="FAILED (exit $code): $summary" ;;
        esac
    fi
    case $outcome in passed:* | "no tests:"*) ;; *) failed=1 ;; esac
    names+=("$target") results+=("$outcome") seconds+=($((SECONDS - started)))
done

echo
echo "== each distribution alone (python: $("$PYTHON" --version 2>&1))"
for i in "${!names[@]}"; do
    printf '%-24s %4ss  %s\n' "${names[$i]}" "${seconds[$i]}" "${results[$i]}"
done
exit $failed
