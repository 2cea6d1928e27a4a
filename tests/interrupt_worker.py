"""Runs one search with a SQLite checkpointer and slow fake models, for the kill-and-resume test.

Usage: python interrupt_worker.py DB THREAD_ID  (prints "step N" as checkpoints are written)
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fakes import AuthorScorer, ScriptedGenerator
from langgraph.checkpoint.sqlite import SqliteSaver

from langgraph_specsearch import SpecSearchConfig, create_specsearch_graph

QUESTION = "A train travels 60 km per hour for 3 hours. How far does it go?"
CONFIG = SpecSearchConfig(width=3, n_drafts=4, max_depth=8, seed=11)


class SlowGenerator(ScriptedGenerator):
    def generate(self, *args, **kwargs):
        time.sleep(0.15)
        return super().generate(*args, **kwargs)


def build(db: str, slow: bool):
    kind = SlowGenerator if slow else ScriptedGenerator
    saver = SqliteSaver(sqlite3.connect(db, check_same_thread=False))
    return create_specsearch_graph(
        kind("small", answer_depth=6),
        kind("large", answer_depth=6),
        AuthorScorer({"small": 0.55, "large": 0.6}, jitter=0.2),
        config=CONFIG,
        checkpointer=saver,
    )


if __name__ == "__main__":
    db, thread = sys.argv[1], sys.argv[2]
    graph = build(db, slow=True)
    for update in graph.stream(
        {"question": QUESTION}, {"configurable": {"thread_id": thread}}, stream_mode="updates"
    ):
        print(next(iter(update)), flush=True)
