"""Reading the flat search tree: paths from the root, and a view of one run's whole tree."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_specsearch.search.thoughts import ROOT_ID, ThoughtNode, ThresholdRecord, mcts_label


def path_to(nodes: Mapping[str, ThoughtNode], node_id: str) -> list[ThoughtNode]:
    """The thoughts from the root (excluded) down to ``node_id`` (included)."""
    path: list[ThoughtNode] = []
    current: str | None = node_id
    while current is not None and current != ROOT_ID:
        node = nodes[current]
        path.append(node)
        current = node["parent"]
    path.reverse()
    return path


def path_steps(nodes: Mapping[str, ThoughtNode], node_id: str) -> list[str]:
    """The step texts from the root down to ``node_id``."""
    return [node["text"] for node in path_to(nodes, node_id)]


_STYLE = {
    "accepted": "fill:#d9f2d9,stroke:#2e7d32",
    "rejected": "fill:#f8d7da,stroke:#b71c1c,stroke-dasharray: 3 3",
    "corrected": "fill:#dbe9ff,stroke:#1565c0",
    "drafted": "fill:#eeeeee,stroke:#757575",
    "root": "fill:#fff3cd,stroke:#8d6e00",
}


@dataclass
class SearchTree:
    """The whole search tree of one run, as plain data with convenient views."""

    nodes: dict[str, ThoughtNode]
    threshold_history: list[ThresholdRecord] = field(default_factory=list)
    best: str | None = None

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(parent id, child id) pairs, in creation order."""
        return [(n["parent"], n["id"]) for n in self.nodes.values() if n["parent"] is not None]

    def children(self, node_id: str) -> list[ThoughtNode]:
        """The thoughts written from ``node_id``."""
        return [node for node in self.nodes.values() if node["parent"] == node_id]

    def path(self, node_id: str | None = None) -> list[ThoughtNode]:
        """The path to ``node_id``, by default to the answer the search returned."""
        target = node_id or self.best
        return path_to(self.nodes, target) if target else []

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: nodes, edges, threshold history, best node."""
        return {
            "nodes": list(self.nodes.values()),
            "edges": [list(edge) for edge in self.edges],
            "threshold_history": list(self.threshold_history),
            "best": self.best,
        }

    def to_json(self, **kwargs: Any) -> str:
        """The tree as JSON text (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), **kwargs)

    def bars(self) -> dict[str, float | None]:
        """The threshold each drafted thought faced, by the thought's id.

        Read from the record of its parent's expansion when records name the expanded node
        (MCTS, per-path history), else from the record of its depth's step (beam search).
        """
        per_node = {r["node"]: r["threshold"] for r in self.threshold_history if "node" in r}
        per_step = {r["step"]: r["threshold"] for r in self.threshold_history if "node" not in r}
        bars = {}
        for node in self.nodes.values():
            if node["model"] != "drafter":
                continue
            parent = node["parent"]
            bars[node["id"]] = (
                per_node.get(parent) if parent in per_node else per_step.get(node["depth"])
            )
        return bars

    def to_mermaid(self, max_label: int = 48) -> str:
        """A Mermaid flowchart: colour by fate, thick borders on the returned path; under MCTS,
        each thought's visits (N) and backed-up value (V)."""
        on_path = {node["id"] for node in self.path()}
        bars = self.bars()
        lines = ["flowchart TD"]
        for node in self.nodes.values():
            label = _label(node, max_label, bars.get(node["id"]))
            lines.append(f'    {_mid(node["id"])}["{label}"]')
        for parent, child in self.edges:
            lines.append(f"    {_mid(parent)} --> {_mid(child)}")
        for status, style in _STYLE.items():
            members = [_mid(n["id"]) for n in self.nodes.values() if n["status"] == status]
            if members:
                lines.append(f"    classDef {status} {style}")
                lines.append(f"    class {','.join(members)} {status}")
        if on_path:
            lines.append("    classDef chosen stroke-width:4px")
            lines.append(f"    class {','.join(_mid(i) for i in sorted(on_path))} chosen")
        return "\n".join(lines)

    def draw_png(self, path: str | Path, **options: Any) -> Path:
        """Save a PNG picture of the tree (matplotlib, offline); see ``render.draw_tree``."""
        from langgraph_specsearch.search.render import draw_png

        return draw_png(self, path, **options)


def _mid(node_id: str) -> str:
    return node_id.replace("-", "_")


def _label(node: ThoughtNode, max_label: int, beta: float | None) -> str:
    stats = mcts_label(node)
    if node["status"] == "root":
        return "question" + (f"<br/>{stats}" if stats else "")
    text = " ".join(node["text"].split())
    if len(text) > max_label:
        text = text[: max_label - 1] + "…"
    text = text.replace('"', "'").replace("[", "(").replace("]", ")")
    score = "n/a" if node["score"] is None else f"{node['score']:.2f}"
    bar = "" if beta is None or node["model"] != "drafter" else f" / β {beta:.2f}"
    visited = f" · {stats}" if stats else ""
    return f"{node['model']} {node['status']} · {score}{bar}{visited}<br/>{text}"
