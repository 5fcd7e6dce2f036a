"""Sphinx configuration of graphrec's documentation site.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

The pages stay markdown (MyST); the API reference is generated from each package's
``__all__`` by ``_ext/apiref.py`` into ``api/`` (ignored by git); the CLI reference is
generated from ``graphrec.cli.build_parser()`` by sphinx-argparse; each model page's
options table is generated from the model's ``Config`` by ``_ext/modelopts.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
from typing import Any  # noqa: E402

import graphrec  # noqa: E402

project = "graphrec"
author = "graphrec developers"
copyright = "graphrec developers"
release = graphrec.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
    "apiref",
    "modelopts",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_scripts", "_ext", "Thumbs.db", ".DS_Store"]

# MyST: $...$ / $$...$$ math as the pages are written, anchors for "page.md#heading" links.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Math is typeset in the browser by MathJax from its CDN. For a page read offline (or a
# screenshot, docs/_scripts/screenshot.py), point GRAPHREC_DOCS_MATHJAX2 at a local MathJax 2,
# e.g. Debian's libjs-mathjax: /usr/share/javascript/mathjax/MathJax.js. Only the elements
# MyST marks as math are typeset, as with the CDN's MathJax.
if os.environ.get("GRAPHREC_DOCS_MATHJAX2"):
    mathjax_path = Path(os.environ["GRAPHREC_DOCS_MATHJAX2"]).resolve().as_uri() + "?config=TeX-AMS_SVG"
    mathjax2_config = {"tex2jax": {"processClass": "math|tex2jax_process",
                                   "ignoreClass": "tex2jax_ignore|mathjax_ignore"}}

# autodoc + napoleon: graphrec's docstrings are Google style (Args:, Returns:, Shapes:, Example:).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = ["Shapes"]
# "Attributes:" as :ivar: fields, not attribute entries that would repeat a NamedTuple's own fields.
napoleon_use_ivar = True

html_theme = "furo"
html_title = f"graphrec {release}"
html_static_path = ["_static"]
html_show_sourcelink = False
# Curly quotes and ellipses, but "--output" stays two hyphens (the CLI reference, code-like prose).
smartquotes_action = "qe"


# graphrec's config dataclasses open their docstring with the section itself
# ('"""Args:' then the entries, which ``graphrec models show`` reads). Once autodoc has
# removed the common indentation the entries sit level with "Args:", and napoleon would
# not see them as the section's body: indent that first block before napoleon reads it,
# and give the class the summary line it lacks.
_SECTION = re.compile(r"^(Args|Arguments|Attributes|Parameters):\s*$")


def _indent_leading_section(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if len(lines) < 2 or not _SECTION.match(lines[0]) or lines[1][:1].isspace() or not lines[1].strip():
        return
    for i in range(1, len(lines)):
        if not lines[i].strip():
            break
        lines[i] = "    " + lines[i]
    if what == "class":  # a one-line summary for the API tables, which would otherwise be empty
        lines[:0] = ["A settings dataclass: one field per hyperparameter, its default in the signature.", ""]


# Optional pages are included through toctree globs: docs/distributed.md ("distributed*" in
# index.md) and the tutorials ("*" in tutorials/index.md). Until such a page exists its glob
# matches nothing, which is expected. Sphinx gives that warning no type, so suppress_warnings
# cannot name it: drop it for these patterns only, and let every other glob still warn.
OPTIONAL_GLOBS = {"distributed*", "*"}


class _OptionalGlobFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (str(record.msg).startswith("toctree glob pattern") and record.args
                    and record.args[0] in OPTIONAL_GLOBS)


def setup(app: Any) -> None:
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_OptionalGlobFilter())
    app.connect("autodoc-process-docstring", _indent_leading_section, priority=400)
