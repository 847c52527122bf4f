"""The mkdocs hook that adds the generated pages to every build (``hooks:`` in mkdocs.yml).

mkdocs runs in its own environment (``.docs-venv``, the pinned docs tools only); the
generators need the project's, where brokerauth, its plugins and their commands are
installed.  So the hook runs :mod:`tools.docs_gen.build` with the project's interpreter
(``$BROKERAUTH_DOCS_PYTHON``, else ``.venv/bin/python``) and adds its pages in memory: nothing
generated is written into ``docs/``, and every build, ``mkdocs serve``'s rebuilds included,
reads the code as it is now.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def project_python() -> str:
    """The interpreter that has brokerauth and its plugins installed."""
    chosen = os.environ.get("BROKERAUTH_DOCS_PYTHON")
    if chosen:
        return chosen
    venv = REPO / ".venv" / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    if not venv.exists():
        raise RuntimeError(f"{venv} is missing: run `make venv` first (or set "
                           "BROKERAUTH_DOCS_PYTHON to a Python with brokerauth installed)")
    return str(venv)


def generated_pages() -> dict[str, str]:
    """``{page path: Markdown}`` from the generators, run in the project's environment."""
    result = subprocess.run(  # noqa: S603 - the project's interpreter, our own module
        [project_python(), "-m", "tools.docs_gen.build", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if result.returncode != 0:
        raise RuntimeError("the docs generators failed:\n" + result.stderr.strip())
    pages: dict[str, str] = json.loads(result.stdout)
    return pages


def on_files(files: Any, config: Any) -> Any:
    """mkdocs' ``on_files`` event: add (or replace) each generated page."""
    from mkdocs.structure.files import File  # type: ignore[import-not-found,unused-ignore]

    for path, text in generated_pages().items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=text))
    return files
