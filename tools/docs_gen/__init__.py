"""Generators of the documentation site's reference pages.

Every page that restates something the code or a README already says is generated from that
single source at build time (``mkdocs build`` calls :mod:`tools.docs_gen.mkdocs_hook`, which
runs :mod:`tools.docs_gen.build` with the project's interpreter), so the site never goes
stale: the profiles reference from the plugins' settings classes, the CLI reference from the
argparse parser, the guarantees and the guides from README.md and the plugins' READMEs.
"""
