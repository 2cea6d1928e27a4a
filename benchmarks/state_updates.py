"""How much state the graph writes per run: the bytes of its ``updates`` stream and checkpoints.

Nodes return only what they changed (reducers merge them into the tree), so the ``updates``
stream and each checkpoint's pending writes grow with the step, not with the whole tree. Runs
scripted models whose steps never answer (the state's size does not depend on which models
wrote it) with the
default configuration for ``--depth`` steps, and reports the bytes of every ``updates`` chunk
(JSON) and of the SQLite checkpoint database.

    python benchmarks/state_updates.py [--depth 5] [--out benchmarks/results/state_updates.json]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from langgraph_specsearch import (
    GenerationSettings,
    SpecSearchConfig,
    Thought,
    create_specsearch_graph,
)


class _Steps:
    """Writes numbered steps that never answer, so a run takes exactly ``max_depth`` steps."""

    def __init__(self, name: str) -> None:
        self.name = name

    def generate(
        self, question: str, paths: Any, counts: Any, settings: GenerationSettings
    ) -> list[list[Thought]]:
        return [
            [
                Thought(f"{self.name} step {len(path) + 1}, thought {i}: " + "x = y + 1; " * 20, 60)
                for i in range(count)
            ]
            for path, count in zip(paths, counts, strict=True)
        ]


def _score(question: str, steps: list[str]) -> float:
    return (hash(steps[-1]) % 1000) / 1000


def measure(depth: int) -> dict[str, Any]:
    """Bytes written by one run that takes ``depth`` steps."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    drafter, target, scorer = _Steps("drafter"), _Steps("target"), _score
    config = SpecSearchConfig(max_depth=depth)
    question = (
        "Natalia sold clips to 48 of her friends in April, and half as many in May. How many?"
    )
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "checkpoints.sqlite"
        with SqliteSaver.from_conn_string(str(db)) as saver:
            graph = create_specsearch_graph(
                drafter, target, scorer, config=config, checkpointer=saver
            )
            run = {"configurable": {"thread_id": "t"}}
            chunks = [
                len(json.dumps(chunk, default=repr))
                for chunk in graph.stream({"question": question}, run, stream_mode="updates")
            ]
            final = graph.get_state(run).values
        with sqlite3.connect(db) as conn:
            tables = {
                name: conn.execute(f"select count(*) from {name}").fetchone()[0]
                for (name,) in conn.execute("select name from sqlite_master where type='table'")
            }
        database_bytes = db.stat().st_size
    return {
        "steps": final["stats"]["steps"],
        "nodes": len(final["nodes"]),
        "updates_bytes": sum(chunks),
        "largest_update_bytes": max(chunks),
        "update_chunks": len(chunks),
        "final_tree_bytes": len(json.dumps(final["nodes"])),
        "sqlite_bytes": database_bytes,
        "sqlite_rows": tables,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = {"depth": args.depth, **measure(args.depth)}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
