"""The shape of the code a newcomer relies on: layers that import only downwards, no import
cycle, a core that stays out of other people's test runs, plugins that never load a server
by being imported, and hook implementations that never guard on other plugins' names."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "brokerauth"
#: Which layers each layer of the core may import, besides itself.
LAYERS = {
    "contract": set(),
    "toolkit": {"contract"},
    "builtin": {"contract", "toolkit"},
    "engine": {"contract", "toolkit", "builtin"},
    "adapters": {"contract", "toolkit", "engine"},
    "cli": {"contract", "toolkit", "engine", "builtin"},
}
PLUGIN_PACKAGES = sorted(
    path for path in [*ROOT.glob("plugins/*/brokerauth_*"), *ROOT.glob("examples/*/brokerauth_*")]
    if (path / "plugin.py").exists()
)


def modules(package_dir: Path) -> dict[str, Path]:
    found = {}
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path: Path, known: dict[str, Path] | None = None) -> Iterator[str]:
    """Every module ``path`` names in an import: at the top, inside functions and under
    ``TYPE_CHECKING`` alike, as each is a dependency of the design.  ``from package import
    module`` names the module only (a package is always imported before its modules)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield full if known is None or full in known else node.module


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    known = modules(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target in imports(path, known):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a path that ends where it starts), or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", [CORE, ROOT / "sandbox" / "brokerauth_sandbox",
                                     *PLUGIN_PACKAGES], ids=lambda path: path.name)
def test_no_import_cycle(package: Path) -> None:
    assert cycle_in(import_graph(package)) is None


def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = []
    for name, targets in import_graph(CORE).items():
        parts = name.split(".")
        if len(parts) < 3 or parts[1] not in LAYERS:
            continue
        allowed = LAYERS[parts[1]] | {parts[1]}
        wrong += [f"{name} -> {target}" for target in targets
                  if target.count(".") >= 1 and target.split(".")[1] in LAYERS
                  and target.split(".")[1] not in allowed]
    assert wrong == []


def test_the_core_never_imports_the_test_bench_or_a_plugin() -> None:
    outside = sorted(
        f"{path.relative_to(ROOT)}: {target}"
        for path in CORE.rglob("*.py") for target in imports(path)
        if target.split(".")[0] != "brokerauth" and target.startswith("brokerauth")
    )
    assert outside == []


def guards(path: Path) -> Iterator[str]:
    """``if <first argument> != X: return None`` (or ``not in``) at the top of a hook
    implementation: a plugin answering "not mine" for another plugin's strategy."""
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef) or not any(
            "hookimpl" in ast.unparse(decorator) for decorator in node.decorator_list
        ):
            continue
        names = {arg.arg for arg in node.args.args} - {"self"}
        for statement in ast.walk(node):
            if not (isinstance(statement, ast.If) and any(
                isinstance(line, ast.Return) for line in statement.body
            )):
                continue
            for test in ast.walk(statement.test):
                if (isinstance(test, ast.Compare)
                        and isinstance(test.left, ast.Name) and test.left.id in names
                        and test.left.id in ("signer", "flow", "store", "broker")
                        and any(isinstance(op, ast.NotEq | ast.NotIn) for op in test.ops)):
                    yield f"{path.relative_to(ROOT)}:{statement.lineno} {ast.unparse(test)}"


def test_the_guard_finder_finds_a_guard(tmp_path: Path) -> None:
    sample = ROOT / "tests" / "_guard_sample.py"
    try:
        sample.write_text(textwrap.dedent('''
            @hookimpl
            def sign_request(signer, request):
                if signer != SIGNER:
                    return None
                return {}
        '''))
        assert [line.split(" ", 1)[1] for line in guards(sample)] == ["signer != SIGNER"]
    finally:
        sample.unlink()


def test_no_hook_implementation_guards_on_other_plugins_names() -> None:
    found = [guard for package in [*PLUGIN_PACKAGES, ROOT / "plugins" / "redis_store",
                                   CORE / "builtin"]
             for path in package.rglob("*.py") for guard in guards(path)]
    assert found == []


@pytest.mark.parametrize("package", [p.name for p in PLUGIN_PACKAGES
                                     if importlib.util.find_spec(p.name) is not None])
def test_importing_a_plugin_imports_no_server(package: str) -> None:
    code = (f"import sys, {package}.plugin; "
            "print(sorted(m for m in ('http.server', 'socketserver', 'brokerauth_sandbox') "
            "if any(n == m or n.startswith(m + '.') for n in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_installing_brokerauth_leaves_other_projects_test_runs_alone(tmp_path: Path) -> None:
    """pytest in a project that merely has brokerauth installed: no brokerauth module is
    imported, and no option or fixture of ours appears."""
    (tmp_path / "test_unrelated.py").write_text(textwrap.dedent('''
        import sys

        def test_nothing_of_brokerauth(request):
            ours = sorted(name for name in sys.modules if name.startswith("brokerauth"))
            assert ours == []
            assert not [name for name in request.fixturenames if "sandbox" in name]
    '''))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--fixtures",
         "test_unrelated.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert "token_home" not in run.stdout and "sandbox_factory" not in run.stdout, run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_unrelated.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "secret-canary" not in subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=tmp_path, capture_output=True,
        text=True, timeout=120,
    ).stdout
