"""The core and the test bench know no broker: no installed broker plugin's id, nor any of
its brokers', appears in their code (store plugins are named after technologies, which the
core may speak of).

Every broker's dialect (error codes, token files, demo hints) belongs to its plugin, which
hands it to the core as a parameter.  The source of ``core/brokerauth`` and
``sandbox/brokerauth_sandbox`` is read with :mod:`ast`: identifiers, imported module names,
attribute and argument names, and string literals (code held in a string too) must not name
one.  Comments and docstrings may, as examples.  The one place allowed is
:data:`brokerauth.engine.pluginhost.KNOWN_DISTRIBUTIONS`, the pip names of the plugins
published with the project.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from brokerauth.engine.pluginhost import BUILTIN, KNOWN_DISTRIBUTIONS, PluginHost

ROOT = Path(__file__).resolve().parents[1]
#: The test double's metadata (see conftest.py): a plugin of the tests, not a broker.
DOUBLES = ROOT / "tests" / "doubles" / "installed"
SOURCES = (ROOT / "core" / "brokerauth", ROOT / "sandbox" / "brokerauth_sandbox")
ALLOWED = (ROOT / "core" / "brokerauth" / "engine" / "pluginhost.py", "KNOWN_DISTRIBUTIONS")
PLUGIN_GROUPS = ("brokerauth", "brokerauth.sandbox")
STORE_DISTRIBUTIONS = frozenset(("brokerauth-redis", "brokerauth-sql", "brokerauth-keyring"))

# "WebullSandbox" is the words webull + sandbox, "brokerauth_futu" brokerauth + futu, and
# "future" is one word: an id is found as whole words, never inside one.
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def words(text: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(text)]


def installed_ids() -> set[str]:
    """The ids of every installed plugin (the test double aside) and of each broker they
    declare."""
    doubles = {dist.metadata["Name"]
               for dist in importlib.metadata.distributions(path=[str(DOUBLES)])}
    plugins = {ep.name for group in PLUGIN_GROUPS
               for ep in importlib.metadata.entry_points(group=group)
               if ep.dist is None or ep.dist.metadata["Name"] not in doubles}
    host = PluginHost.create()
    host.load_all()
    # Broker plugins and their brokers: a plugin that only stores tokens ("sql",
    # "keyring") is named after a technology the core may well speak of, not a broker.
    brokers = {(broker_id, owner) for broker_id, (_, owner) in host.brokers.items()
               if owner in plugins and owner != BUILTIN}
    ids = {name for pair in brokers for name in pair}
    # The published broker plugins' ids even where they are not installed (the core tested
    # alone).
    return ids | {name for name, distribution in KNOWN_DISTRIBUTIONS.items()
                  if name in ids or not _is_store(distribution)}


def _is_store(distribution: str) -> bool:
    # The published store plugins: brokerauth-redis, brokerauth-sql, brokerauth-keyring.
    return distribution in STORE_DISTRIBUTIONS


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                found.add(id(body[0].value))
    return found


def _allowed_nodes(tree: ast.AST, name: str) -> set[int]:
    """The nodes of the value assigned to ``name`` at module level."""
    skipped: set[int] = set()
    for node in getattr(tree, "body", ()):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            skipped |= {id(inner) for inner in ast.walk(node)}
    return skipped


def texts(tree: ast.AST, skipped: Iterable[int] = ()) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of every identifier and string literal in ``tree``, docstrings and
    the nodes in ``skipped`` aside."""
    skipped = set(skipped) | _docstrings(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield line, node.value
        elif isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield line, node.name
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            yield line, node.arg
        elif isinstance(node, ast.alias):
            yield line, node.name
            if node.asname:
                yield line, node.asname
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield line, node.module
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            yield line, node.name


def mentions(text: str, ids: Iterable[str]) -> list[str]:
    """The ids ``text`` names, each as its sequence of words."""
    found = words(text)
    named = []
    for broker_id in ids:
        wanted = words(broker_id)
        if wanted and any(found[i:i + len(wanted)] == wanted
                          for i in range(len(found) - len(wanted) + 1)):
            named.append(broker_id)
    return named


def knowledge(path: Path, ids: Iterable[str], *, allow: str | None = None) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    skipped = _allowed_nodes(tree, allow) if allow else set()
    return [f"{path.relative_to(ROOT)}:{line}: {text[:80]!r} names {', '.join(named)}"
            for line, text in texts(tree, skipped)
            for named in [mentions(text, ids)] if named]


def test_neither_the_core_nor_the_bench_names_an_installed_broker() -> None:
    ids = installed_ids()
    assert ids, "no broker plugin is installed: nothing to look for"
    found: list[str] = []
    for top in SOURCES:
        for path in sorted(top.rglob("*.py")):
            found += knowledge(path, ids, allow=ALLOWED[1] if path == ALLOWED[0] else None)
    assert found == [], "\n".join(found)


def test_the_allowed_table_is_seen_when_not_allowed() -> None:
    """The search does find ids where they are: in the table, read without its exemption."""
    ids = installed_ids()
    path, name = ALLOWED
    published = set(_literal_keys(path, name))
    assert published & ids
    tree = ast.parse(path.read_text("utf-8"))
    named = {broker_id for _, text in texts(tree) for broker_id in mentions(text, ids)}
    assert published & ids <= named
    assert knowledge(path, ids) and not knowledge(path, ids, allow=name)


def _literal_keys(path: Path, name: str) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return [key.value for node in ast.walk(tree)
            if id(node) in _allowed_nodes(tree, name) and isinstance(node, ast.Dict)
            for key in node.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)]


@pytest.mark.parametrize(("source", "named"), [
    ('hint = "pip install -e plugins/webull"', ["webull"]),
    ("from brokerauth_webull.sandbox.server import WebullSandbox", ["webull"]),
    ("_TOKEN_STORE_PARTS = ('.futu',)", ["futu"]),
    ("def futu_tokens(): pass", ["futu"]),
    ("x = 1  # webull, in a comment", []),
    ('def f():\n    """Webull\'s hosts, as an example."""', []),
    ("future = connection = 'a future connection'", []),
    ("broker = 'webull_connect'", ["webull", "webull_connect"]),
    ("f(webull_connect=1)", ["webull", "webull_connect"]),
])
def test_what_counts_as_naming_a_broker(source: str, named: list[str]) -> None:
    ids = ("webull", "webull_connect", "futu")
    hits = sorted({broker_id for _, text in texts(ast.parse(source))
                   for broker_id in mentions(text, ids)})
    assert hits == sorted(named)
