"""The ``model-options`` directive: a model's hyperparameters, read from its ``Config``.

Used in a page as (MyST)::

    ```{model-options} lightgcn
    ```

The argument is a registered model name (``graphrec models list``), resolved with
:func:`graphrec.resolver.model_resolver`. The directive emits what ``graphrec models
show NAME`` prints, as a table made at build time: one row per field of
``dataclasses.fields(cls.Config)`` (field, default, and its full entry from
:func:`graphrec.config.config_docs`), then the trainer settings of the model's
``train_defaults``. Nothing is copied by hand: a field added to a config appears in the
next build, and an unknown name or a field without documentation is a build warning
(the site builds with ``-W``).

Documentation text keeps its reST inline markup: double back-quotes become literals and
``:class:`~a.B``` (and the other Python roles) a cross-reference into the API reference.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from functools import lru_cache
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

# ``literal`` or :role:`target` / :py:role:`~target` (graphrec's docstrings use no other inline markup)
_INLINE = re.compile(r"``(?P<literal>.+?)``"
                     r"|:(?:py:)?(?P<role>class|func|meth|mod|attr|data|obj|exc):`(?P<target>[^`]+)`")


@lru_cache(maxsize=1)
def _api_homes() -> dict[int, str]:
    """``id(object) -> page`` of every class documented in the generated API reference
    (``apiref``'s own rule: one home per object, nearest to where it is defined)."""
    import apiref

    pages = {name: apiref.Page(name, module) for name, module in apiref._public_modules(apiref.PACKAGE).items()}
    for page in pages.values():
        page.members = [(name, getattr(page.module, name)) for name in getattr(page.module, "__all__", ())]
    return apiref._homes(pages)


def _api_name(obj: Any) -> str:
    """The dotted name under which ``obj`` is documented in the API reference, or its
    defining path when it is not there (the reference then renders as plain code)."""
    if inspect.ismodule(obj):
        return obj.__name__
    home = _api_homes().get(id(obj))
    if home:
        return f"{home}.{obj.__name__}"
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}".strip(".")


def _import(dotted: str) -> Any:
    """The object at ``dotted`` (``package.module.Name``), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


class ModelOptions(SphinxDirective):
    """``model-options NAME``: the hyperparameter table and trainer defaults of one model."""

    required_arguments = 1
    optional_arguments = 0
    has_content = False

    def run(self) -> list[nodes.Node]:
        from graphrec.config import config_docs
        from graphrec.resolver import model_resolver

        name = self.arguments[0].strip()
        try:
            cls = model_resolver(name)
        except ValueError as err:
            raise self.error(f"model-options: {err}") from None
        config = getattr(cls, "Config", None)
        if config is None or not dataclasses.is_dataclass(config):
            raise self.error(f"model-options: {cls.__qualname__} has no Config dataclass")
        for klass in (cls, *config.__mro__):  # rebuild the page when a model or its config changes
            source = inspect.getsourcefile(klass) if klass.__module__.startswith("graphrec.") else None
            if source:
                self.env.note_dependency(source)

        fields = dataclasses.fields(config)
        docs = config_docs(config)
        undocumented = [f.name for f in fields if f.name not in docs]
        if undocumented:
            logger.warning(f"model-options {name}: {config.__name__}'s docstring has no entry for "
                           f"{', '.join(undocumented)}", location=self.get_location())

        intro = nodes.paragraph()
        intro += [self._xref(cls), nodes.Text(" is registered as "), nodes.literal(text=cls.registry_name)]
        out: list[nodes.Node] = [intro]
        if fields:
            intro += [nodes.Text("; its hyperparameters are the fields of "), self._xref(config),
                      nodes.Text(", set with "), nodes.literal(text="--set model.NAME=VALUE"),
                      nodes.Text(" or a YAML "), nodes.literal(text="model:"), nodes.Text(" section ("),
                      nodes.literal(text=f"graphrec models show {cls.registry_name}"),
                      nodes.Text(" prints the same list):")]
            rows = [([nodes.literal(text=f.name)], [nodes.literal(text=repr(_default(f)))],
                     self._inline(docs.get(f.name, ""))) for f in fields]
            out.append(self._table(("field", "default", "meaning"), rows, widths=(18, 16, 66)))
        else:
            intro += [nodes.Text("; it has no hyperparameters ("), self._xref(config),
                      nodes.Text(" has no fields).")]

        train = dict(getattr(cls, "train_defaults", {}) or {})
        para = nodes.paragraph()
        if train:
            para += [nodes.Text("Trainer settings the model's paper uses ("), nodes.literal(text="train_defaults"),
                     nodes.Text("; they replace the "), nodes.literal(text="TrainConfig"),
                     nodes.Text(" defaults, and a YAML "), nodes.literal(text="train:"), nodes.Text(" section or "),
                     nodes.literal(text="--set train.NAME=VALUE"), nodes.Text(" overrides them):")]
            out.append(para)
            rows = [([nodes.literal(text=key)], [nodes.literal(text=repr(value))]) for key, value in train.items()]
            out.append(self._table(("setting", "value"), rows, widths=(30, 70)))
        else:
            para += [nodes.Text("Trainer settings: the "), nodes.literal(text="TrainConfig"),
                     nodes.Text(" defaults (the model sets no "), nodes.literal(text="train_defaults"),
                     nodes.Text(").")]
            out.append(para)
        return out

    def _xref(self, obj: Any) -> nodes.Node:
        target = _api_name(obj)
        ref = addnodes.pending_xref("", refdomain="py", reftype="class", reftarget=target, refexplicit=True,
                                    refwarn=False, refdoc=self.env.docname)
        ref += nodes.literal(text=obj.__name__, classes=["xref", "py", "py-class"])
        return ref

    def _inline(self, text: str) -> list[nodes.Node]:
        """``text`` as docutils inline nodes: literals and Python cross-references."""
        out: list[nodes.Node] = []
        pos = 0
        for m in _INLINE.finditer(text):
            if m.start() > pos:
                out.append(nodes.Text(text[pos:m.start()]))
            if m["literal"] is not None:
                out.append(nodes.literal(text=m["literal"]))
            else:
                target = m["target"]
                shown = target.lstrip("~").rsplit(".", 1)[-1] if target.startswith("~") else target
                obj = _import(target.lstrip("~"))
                target = _api_name(obj) if obj is not None else target.lstrip("~")
                ref = addnodes.pending_xref("", refdomain="py", reftype=m["role"], reftarget=target,
                                            refexplicit=True, refwarn=False, refdoc=self.env.docname)
                ref += nodes.literal(text=shown, classes=["xref", "py", f"py-{m['role']}"])
                out.append(ref)
            pos = m.end()
        if pos < len(text):
            out.append(nodes.Text(text[pos:]))
        return out

    @staticmethod
    def _table(header: tuple[str, ...], rows: list[tuple[list[nodes.Node], ...]],
               widths: tuple[int, ...]) -> nodes.table:
        table = nodes.table(classes=["model-options"])
        group = nodes.tgroup(cols=len(header))
        table += group
        group += [nodes.colspec(colwidth=w) for w in widths]

        def row(cells: list[list[nodes.Node]]) -> nodes.row:
            tr = nodes.row()
            for content in cells:
                entry = nodes.entry()
                para = nodes.paragraph()
                para += content
                entry += para
                tr += entry
            return tr

        head = nodes.thead()
        head += row([[nodes.Text(h)] for h in header])
        body = nodes.tbody()
        body += [row(list(cells)) for cells in rows]
        group += [head, body]
        return table


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("model-options", ModelOptions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
