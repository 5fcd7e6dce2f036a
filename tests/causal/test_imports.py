"""graphrec.causal works on any representation: it imports no model, layer, trainer or dataset."""
from __future__ import annotations

import ast
from pathlib import Path

import graphrec.causal

FORBIDDEN = ("graphrec.models", "graphrec.train", "graphrec.nn", "graphrec.data", "graphrec.ops", "torch")


def test_causal_imports_nothing_above_numpy():
    root = Path(graphrec.causal.__file__).parent
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"
