"""Writes the API reference of graphrec from each package's ``__all__``.

At ``builder-inited`` this extension imports every package under ``graphrec`` (and
every top-level module or module named in a package's ``__all__`` that defines its
own ``__all__``), and writes one page per such module into ``docs/api/``: its
docstring, a summary table, then one autodoc entry per name in ``__all__``. Nothing
here lists members by hand: a name added to an ``__all__`` appears in the next build.

An object reachable from several public paths (``graphrec.nn.kmeans`` and
``graphrec.nn.cluster.kmeans``, ``graphrec.models.ModelConfig`` and
``graphrec.config.ModelConfig``) is documented once, on the page whose module is the
nearest to where it is defined; the other pages link to it.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "graphrec"
OUTDIR = "api"  # relative to the documentation's source folder; ignored by git


@dataclass
class Page:
    name: str
    module: ModuleType
    members: list[tuple[str, Any]] = field(default_factory=list)


def _public_modules(package: str) -> dict[str, ModuleType]:
    """Every package under ``package``, every direct child module that has an
    ``__all__``, and every module that a page's ``__all__`` names."""
    root = importlib.import_module(package)
    found: dict[str, ModuleType] = {package: root}
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        is_child = info.name.count(".") == 1
        if not (info.ispkg or is_child):
            continue
        module = importlib.import_module(info.name)
        if info.ispkg or hasattr(module, "__all__"):
            found[info.name] = module
    queue = list(found.values())
    while queue:
        module = queue.pop()
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if (inspect.ismodule(value) and value.__name__.startswith(f"{package}.")
                    and hasattr(value, "__all__") and value.__name__ not in found):
                found[value.__name__] = value
                queue.append(value)
    return dict(sorted(found.items()))


def _is_documented_object(value: Any) -> bool:
    """Classes and functions of graphrec get one home; constants and aliases do not."""
    return ((inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", "").startswith(f"{PACKAGE}."))


def _closeness(page: str, module: str) -> tuple[int, int]:
    """How near page ``page`` is to the module defining an object: the number of
    leading dotted components they share, then (fewer is better) the page's depth."""
    a, b = page.split("."), module.split(".")
    shared = 0
    while shared < min(len(a), len(b)) and a[shared] == b[shared]:
        shared += 1
    return shared, -len(a)


def _homes(pages: dict[str, Page]) -> dict[int, str]:
    """``id(object) -> 'page.name'`` where each class or function is documented."""
    seen: dict[int, list[tuple[str, str]]] = {}
    for page in pages.values():
        for _name, value in page.members:
            if _is_documented_object(value):
                seen.setdefault(id(value), []).append((page.name, value.__module__))
    return {key: max(places, key=lambda p: _closeness(p[0], p[1]))[0] for key, places in seen.items()}


def _underline(title: str, char: str) -> str:
    return f"{title}\n{char * len(title)}\n"


def _entry(qualified: str, value: Any) -> str:
    if inspect.isclass(value) and value.__module__.startswith(f"{PACKAGE}."):
        kind = "autoexception" if issubclass(value, BaseException) else "autoclass"
        return f".. {kind}:: {qualified}\n   :members:\n   :show-inheritance:\n"
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return f".. autofunction:: {qualified}\n"
    # constants, type aliases, capability flags (probed on the building machine: no value shown)
    options = "   :no-value:\n" if isinstance(value, bool) else ""
    return f".. autodata:: {qualified}\n{options}"


def _render(page: Page, pages: dict[str, Page], homes: dict[int, str]) -> str:
    lines = [_underline(page.name, "="), f".. automodule:: {page.name}\n   :no-members:\n",
             f".. currentmodule:: {page.name}\n"]
    children = sorted(n for n in pages if n.rsplit(".", 1)[0] == page.name and n != page.name)
    named_modules = [v.__name__ for _, v in page.members if inspect.ismodule(v) and v.__name__ in pages]
    sub = sorted(set(children) | set(named_modules))
    if sub:
        lines.append(_underline("Modules", "-"))
        lines += [f"* :doc:`{m}` -- {_summary(pages[m].module)}" for m in sub]
        lines.append("")
    own = [(n, v) for n, v in page.members
           if not inspect.ismodule(v) and homes.get(id(v), page.name) == page.name]
    elsewhere = [(n, v) for n, v in page.members
                 if not inspect.ismodule(v) and homes.get(id(v), page.name) != page.name]
    if own:
        lines.append(_underline("Summary", "-"))
        lines.append(".. autosummary::\n   :nosignatures:\n")
        lines += [f"   {name}" for name, _ in own]
        lines.append("")
    if elsewhere:
        lines.append(_underline("Also exported here", "-"))
        for name, value in elsewhere:
            home = homes[id(value)]
            role = "class" if inspect.isclass(value) else "func"
            lines.append(f"* ``{name}``: :py:{role}:`{home}.{name}` (documented in :doc:`{home}`)")
        lines.append("")
    if own:
        lines.append(_underline("Reference", "-"))
        lines += [_entry(f"{page.name}.{name}", value) for name, value in own]
    return "\n".join(lines)


def _summary(module: ModuleType) -> str:
    doc = inspect.getdoc(module) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return first.split(". ")[0].rstrip(".") if first else ""


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_api_pages(srcdir: Path) -> list[str]:
    """Write ``api/index.rst`` and one ``api/<module>.rst`` per public module;
    remove pages of modules that no longer exist. Returns the module names."""
    pages = {name: Page(name, module) for name, module in _public_modules(PACKAGE).items()}
    for page in pages.values():
        page.members = [(name, getattr(page.module, name)) for name in getattr(page.module, "__all__", ())]
    homes = _homes(pages)
    outdir = Path(srcdir) / OUTDIR
    outdir.mkdir(exist_ok=True)
    wanted = {f"{name}.rst" for name in pages} | {"index.rst"}
    for stale in outdir.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()
    for page in pages.values():
        _write_if_changed(outdir / f"{page.name}.rst", _render(page, pages, homes))
    index = [_underline("API reference", "="),
             "Generated from each module's ``__all__`` at build time (``docs/_ext/apiref.py``): "
             "one page per package, each name documented once, where it is defined nearest.\n",
             ".. toctree::\n   :maxdepth: 1\n"]
    index += [f"   {name}" for name in pages]
    _write_if_changed(outdir / "index.rst", "\n".join(index) + "\n")
    return list(pages)


def _on_builder_inited(app: Any) -> None:
    write_api_pages(Path(app.srcdir))


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
