"""A griffe extension (mkdocstrings' ``extensions:``) that reads the project's docstrings as
Markdown: they use Sphinx cross-reference roles (``:class:`~brokerauth.x.Y```) and ``::``
before a literal block, which Markdown would show as written.  A role becomes the code span
of its target (``~`` keeps the last name, as Sphinx shows it); ``::`` ending a line, one colon.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    Extension = object
else:
    try:  # in .docs-venv, where mkdocstrings runs; .venv's tests need only markdown_text
        from griffe import Extension
    except ImportError:
        Extension = object

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(\S)::$", re.MULTILINE)


def markdown_text(docstring: str) -> str:
    """The docstring with its Sphinx roles and literal-block markers made Markdown."""
    def role(match: re.Match[str]) -> str:
        target = match.group(2)
        return f"`{target.rsplit('.', 1)[-1]}`" if match.group(1) else f"`{target}`"

    return _LITERAL.sub(r"\1:", _ROLE.sub(role, docstring))


class SphinxRoles(Extension):
    """Rewrite every docstring griffe reads (see :func:`markdown_text`)."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_text(obj.docstring.value)
