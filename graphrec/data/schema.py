"""What a graph holds, and what a model needs from it.

:func:`require_types` is how a model states the node and edge types it reads: a
graph without one of them is refused before any training, with a message naming
the missing type, the model, and the types the graph does have. :func:`graph_schema`
describes any :class:`~torch_geometric.data.HeteroData` -- a bundled dataset's or
your own -- for ``graphrec data inspect``: every node type with its count and
attributes, every edge type with its count and degree statistics.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch_geometric.data import HeteroData

from graphrec.typing import EdgeType, NodeType


class GraphSchemaError(ValueError):
    """A graph lacks a node or edge type that a model (or layer) needs."""


def require_types(data: HeteroData, owner: str, node_types: Iterable[NodeType] = (),
                  edge_types: Iterable[EdgeType] = (), hint: str = "") -> None:
    """Raise :class:`GraphSchemaError` if ``data`` lacks one of ``node_types`` or
    ``edge_types`` (an edge type counts as present when it has an ``edge_index``).

    Args:
        data: the graph.
        owner: who needs the types (a model or layer name), for the message.
        node_types: node types that must exist (with a node count).
        edge_types: edge types that must exist.
        hint: appended to the message, e.g. which option asks for the type.
    """
    present_nodes = set(data.node_types)
    present_edges = {et for et in data.edge_types if "edge_index" in data[et]}
    for nt in node_types:
        if nt not in present_nodes:
            raise GraphSchemaError(
                f"{owner} needs node type '{nt}', which this graph does not have; it has node types "
                f"{sorted(present_nodes)}" + (f" ({hint})" if hint else ""))
    for et in edge_types:
        et = tuple(et)
        if et not in present_edges:
            raise GraphSchemaError(
                f"{owner} needs edge type {et}, which this graph does not have; it has edge types "
                f"{sorted(present_edges)}" + (f" ({hint})" if hint else ""))


def _degree_stats(index: torch.Tensor, num_nodes: int) -> dict[str, float]:
    deg = torch.bincount(index, minlength=num_nodes).float() if num_nodes else torch.zeros(0)
    if deg.numel() == 0:
        return {"mean": 0.0, "max": 0.0, "isolated": 0}
    return {"mean": round(float(deg.mean()), 3), "max": float(deg.max()), "isolated": int((deg == 0).sum())}


def graph_schema(data: HeteroData) -> dict[str, Any]:
    """The schema and statistics of ``data``: ``{"nodes": {type: {...}}, "edges":
    {"src__rel__dst": {...}}, "graph": [graph-level attribute names]}``; per node type
    its count and attributes (name, shape, dtype), per edge type its count, its
    per-edge attributes, and the degree of its source and destination nodes (mean,
    max, how many have none)."""
    nodes: dict[str, Any] = {}
    for nt in data.node_types:
        store = data[nt]
        attrs = {k: _describe(v) for k, v in store.items() if k != "num_nodes"}
        nodes[nt] = {"count": int(store.num_nodes or 0), "attributes": attrs}
    edges: dict[str, Any] = {}
    for et in data.edge_types:
        store = data[et]
        if "edge_index" not in store:
            continue
        ei = store.edge_index
        src, _, dst = et
        n_src, n_dst = nodes.get(src, {}).get("count", 0), nodes.get(dst, {}).get("count", 0)
        edges["__".join(et)] = {
            "count": int(ei.size(1)),
            "attributes": {k: _describe(v) for k, v in store.items() if k != "edge_index"},
            "source_degree": _degree_stats(ei[0], n_src),
            "destination_degree": _degree_stats(ei[1], n_dst),
        }
    graph = sorted(k for k in data.to_dict().get("_global_store", {}) if not k.startswith("_"))
    return {"nodes": nodes, "edges": edges, "graph": graph}


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, list):
        return f"list[{len(value)}]"
    return type(value).__name__


def schema_table(schema: dict[str, Any]) -> str:
    """``graph_schema`` as two markdown tables (nodes, edges)."""
    lines = ["| node type | count | attributes |", "|:---|---:|:---|"]
    for nt, info in schema["nodes"].items():
        attrs = ", ".join(f"{k} {v}" for k, v in info["attributes"].items()) or "-"
        lines.append(f"| {nt} | {info['count']} | {attrs} |")
    lines += ["", "| edge type | count | src degree mean / max / none | dst degree mean / max / none | attributes |",
              "|:---|---:|:---|:---|:---|"]
    for et, info in schema["edges"].items():
        s, d = info["source_degree"], info["destination_degree"]
        attrs = ", ".join(info["attributes"]) or "-"
        lines.append(f"| ({', '.join(et.split('__'))}) | {info['count']} | "
                     f"{s['mean']} / {s['max']:g} / {s['isolated']} | {d['mean']} / {d['max']:g} / {d['isolated']} "
                     f"| {attrs} |")
    return "\n".join(lines)


__all__ = ["GraphSchemaError", "require_types", "graph_schema", "schema_table"]
