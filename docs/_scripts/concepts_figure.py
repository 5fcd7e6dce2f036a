"""Draw the heterogeneous graph every graphrec method shares (docs/concepts.md).

    python docs/_scripts/concepts_figure.py            # writes docs/_static/concepts_graph.png

The edge types are read from graphrec (``graphrec.data.CLICKS`` ...), so a renamed
relation shows up in the figure the next time it is drawn. One circle per node type,
one arrow per stored (forward) edge type; the reverse ``rev_*`` types that
``T.ToUndirected()`` adds are left out, and the held-out link labels, which are not
edges, are drawn dotted.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from graphrec.data import CLICKS, HAS_ATTR, HAS_REC_CODE, HAS_SEARCH_CODE, LEADS_TO, SEARCHES  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "_static" / "concepts_graph.png"

# node type -> (x, y), colour, what it stores
NODES = {
    "user": ((0.0, 0.0), "#4C72B0", "hist_ptr / hist_item\nsearch_ptr / search_query\nevent_* (joint timeline)"),
    "item": ((4.4, 0.0), "#DD8452", "x where the data has it;\nitem_title, item_category\n(graph-level lists)"),
    "query": ((2.2, 2.4), "#55A868", "token_ptr / token\n(query_words)"),
    "code": ((0.0, -3.0), "#C44E52", "domain / level / index\n(2 L N nodes)"),
    "attr": ((7.2, 0.0), "#8172B3", "field\n(category, brand)"),
}
# where each node type's note goes: (dx, dy, horizontal alignment, vertical alignment)
NOTES = {"user": (-0.55, 0.0, "right", "center"), "item": (0.25, -0.72, "center", "top"),
         "query": (0.0, 0.55, "center", "bottom"), "code": (0.6, 0.0, "left", "center"),
         "attr": (0.0, -0.6, "center", "top")}
RADIUS = 0.42

# edge type, curvature of its arrow (the two user-code types side by side)
EDGES = [
    (CLICKS, 0.0),
    (SEARCHES, 0.0),
    (LEADS_TO, 0.0),
    (HAS_ATTR, 0.0),
    (HAS_REC_CODE, 0.35),
    (HAS_SEARCH_CODE, -0.35),
]


def _arrow(ax, src, dst, rad, **style):
    (x0, y0), (x1, y1) = src, dst
    patch = FancyArrowPatch((x0, y0), (x1, y1), connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                            mutation_scale=16, shrinkA=RADIUS * 72 * 1.05, shrinkB=RADIUS * 72 * 1.05, **style)
    ax.add_patch(patch)
    # midpoint of the quadratic curve matplotlib draws for arc3: halfway to its control point
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = x1 - x0, y1 - y0
    return mx + rad * dy / 2, my - rad * dx / 2, math.degrees(math.atan2(dy, dx))


def draw(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(10.5, 7), dpi=110)
    ax.set_xlim(-3.2, 8.3)
    ax.set_ylim(-3.8, 3.6)
    ax.set_aspect("equal")
    ax.axis("off")
    # held-out pairs: graph-level link labels, never message-passing edges
    (ux, uy), (ix, iy) = NODES["user"][0], NODES["item"][0]
    x, y, _ = _arrow(ax, (ux, uy), (ix, iy), 0.5, color="#777777", linestyle=":", linewidth=1.4)
    ax.text(x, y - 0.15, "valid / test (user, item) pairs:\nlink labels, not edges", ha="center", va="top",
            fontsize=8.5, color="#555555", style="italic")
    for (src, rel, dst), rad in EDGES:
        x, y, angle = _arrow(ax, NODES[src][0], NODES[dst][0], rad, color="#333333", linewidth=1.6)
        if angle > 90 or angle < -90:
            angle -= 180
        ax.text(x, y, rel, ha="center", va="center", fontsize=10, rotation=angle, rotation_mode="anchor",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none"})
    for name, ((x, y), colour, stores) in NODES.items():
        ax.add_patch(plt.Circle((x, y), RADIUS, color=colour, zorder=3))
        ax.text(x, y, name, ha="center", va="center", fontsize=11, color="white", weight="bold", zorder=4)
        dx, dy, ha, va = NOTES[name]
        ax.text(x + dx, y + dy, stores, ha=ha, va=va, fontsize=8.5, color="#333333")
    ax.set_title("One HeteroData per dataset: node types, stored edge types (reverses rev_* not drawn)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT, help=f"PNG to write (default: {DEFAULT_OUT})")
    draw(parser.parse_args().output)


if __name__ == "__main__":
    main()
