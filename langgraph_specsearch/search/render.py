"""A picture of one search: every thought a box, coloured by who wrote it and what became of it.

Drawn with matplotlib's Agg canvas directly (no pyplot, no global backend switch, no network), so it
works in scripts, notebooks and CI alike. Depth runs left to right; the threshold in force at each
step heads its column (or, when each expansion has its own bar, MCTS or the per-path history,
sits on the expanded thought); under MCTS each thought shows its visits N and value V; the path
the search returned has thick black borders and edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_specsearch.search.thoughts import ROOT_ID, ThoughtNode, ThresholdRecord, mcts_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from langgraph_specsearch.search.tree import SearchTree

# fate -> (fill, edge colour, line style, legend text)
FATES: dict[str, tuple[str, str, str, str]] = {
    "accepted": ("#d9f2d9", "#2e7d32", "solid", "draft accepted"),
    "rejected": ("#f8d7da", "#b71c1c", "dashed", "draft rejected"),
    "corrected": ("#dbe9ff", "#1565c0", "solid", "target correction"),
    "drafted": ("#eeeeee", "#757575", "dotted", "draft (not yet judged)"),
    "root": ("#fff3cd", "#8d6e00", "solid", "question"),
}
_MARK = {"accepted": "draft ✓", "rejected": "draft ✗", "corrected": "target", "drafted": "draft"}
ROW_INCHES = 0.42
COLUMN_INCHES = 2.9


def _short(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters; ``$`` escaped so matplotlib draws no mathtext."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def layout(nodes: Mapping[str, ThoughtNode]) -> dict[str, tuple[float, float]]:
    """(x, y) per node: x is the depth, leaves take one row each, a parent sits mid-children."""
    children: dict[str, list[str]] = {}
    for node in nodes.values():
        if node["parent"] is not None:
            children.setdefault(node["parent"], []).append(node["id"])
    place: dict[str, tuple[float, float]] = {}
    next_row = 0.0

    def visit(node_id: str) -> float:
        nonlocal next_row
        kids = children.get(node_id, [])
        if kids:
            rows = [visit(kid) for kid in kids]
            row = (rows[0] + rows[-1]) / 2
        else:
            row, next_row = next_row, next_row + 1
        place[node_id] = (float(nodes[node_id]["depth"]), row)
        return row

    roots = [n["id"] for n in nodes.values() if n["parent"] is None or n["parent"] not in nodes]
    for root in roots or [ROOT_ID]:
        if root in nodes:
            visit(root)
    return place


def _label(node: ThoughtNode, max_label: int, beta: float | None = None) -> str:
    """Fate, score and text; under MCTS also visits and value, and the bar its drafts faced."""
    extra = mcts_label(node)
    if beta is not None:
        extra = f"{extra}  β {beta:.3f}" if extra else f"β {beta:.3f}"
    extra = f"\n{extra}" if extra else ""
    if node["status"] == "root":
        return "question" + extra + "\n" + _short(node["text"], max_label)
    score = "n/a" if node["score"] is None else f"{node['score']:.2f}"
    kept = " ★" if node["selected"] else ""
    return f"{_MARK.get(node['status'], node['status'])}  {score}{kept}{extra}\n" + _short(
        node["text"], max_label
    )


def _header(step: int, thresholds: Mapping[int, float | None]) -> str:
    if step == 0:
        return "root"
    if step not in thresholds:
        return f"step {step}"
    beta = thresholds[step]
    return f"step {step}\nβ = n/a (warm-up)" if beta is None else f"step {step}\nβ = {beta:.3f}"


def draw_tree(
    tree: SearchTree,
    *,
    max_label: int = 34,
    title: str | None = None,
    font_size: float = 7.0,
) -> Figure:
    """The search tree as a matplotlib Figure (not attached to pyplot; save it or display it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    nodes = tree.nodes
    place = layout(nodes)
    on_path = {node["id"] for node in tree.path()}
    history: list[ThresholdRecord] = list(tree.threshold_history)
    # beam search under the per-depth history: one bar per step, shown over its column; records
    # per expanded node (MCTS, per-path history): each bar on the node whose drafts faced it
    thresholds = {r["step"]: r["threshold"] for r in history if "node" not in r}
    node_bars = {r["node"]: r["threshold"] for r in history if "node" in r}
    depth = max((int(x) for x, _ in place.values()), default=0)
    rows = max((y for _, y in place.values()), default=0.0) + 1

    figure = Figure(figsize=(COLUMN_INCHES * (depth + 1) + 0.6, ROW_INCHES * rows + 1.9))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.01, 0.01, 0.98, 0.98 - 1.0 / figure.get_figheight()))
    axes.set_xlim(-0.5, depth + 0.6)
    axes.set_ylim(rows + 0.2, -1.3)
    axes.axis("off")

    for node in nodes.values():
        parent = node["parent"]
        if parent is None or parent not in place:
            continue
        (x0, y0), (x1, y1) = place[parent], place[node["id"]]
        chosen = node["id"] in on_path
        xm = (x0 + x1) / 2
        axes.plot(
            [x0, xm, xm, x1],
            [y0, y0, y1, y1],
            color="black" if chosen else "#b0b0b0",
            linewidth=2.4 if chosen else 0.7,
            zorder=2 if chosen else 1,
        )

    for node in nodes.values():
        x, y = place[node["id"]]
        fill, edge, style, _ = FATES.get(node["status"], FATES["drafted"])
        chosen = node["id"] in on_path or node["status"] == "root"
        axes.text(
            x,
            y,
            _label(node, max_label, node_bars.get(node["id"])),
            ha="center",
            va="center",
            fontsize=font_size,
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.3",
                "facecolor": fill,
                "edgecolor": "black" if chosen else edge,
                "linewidth": 2.2 if chosen else (1.2 if node["selected"] else 0.8),
                "linestyle": "solid" if chosen else style,
            },
        )

    for step in range(depth + 1):
        axes.text(
            step,
            -0.9,
            _header(step, thresholds),
            ha="center",
            va="center",
            fontsize=font_size + 1,
            fontweight="bold",
        )

    handles = [
        Patch(facecolor=fill, edgecolor=edge, linestyle=style, label=text)
        for status, (fill, edge, style, text) in FATES.items()
        if status != "drafted" and any(n["status"] == status for n in nodes.values())
    ]
    handles.append(Line2D([], [], color="black", linewidth=2.4, label="returned path"))
    handles.append(Line2D([], [], linestyle="none", marker="$★$", color="black", label="kept"))
    figure.legend(
        handles=handles, loc="upper right", fontsize=font_size + 0.5, ncol=3, frameon=False
    )
    root = nodes.get(ROOT_ID)
    question = _short(root["text"], 90) if root else ""
    answer = next((n["answer"] for n in tree.path() if n["answer"]), None)
    figure.suptitle(
        title or f"{question}\nanswer: {answer if answer is not None else '—'}",
        x=0.01,
        ha="left",
        fontsize=font_size + 2,
    )
    return figure


def draw_png(tree: SearchTree, path: str | Path, *, dpi: int = 110, **options: Any) -> Path:
    """Write the picture of ``tree`` to ``path`` as a PNG and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure = draw_tree(tree, **options)
    figure.savefig(target, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return target
