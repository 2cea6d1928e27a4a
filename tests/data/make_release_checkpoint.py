"""Make ``checkpoint_0_1_0.sqlite`` and its expected result with release 0.1.0 (commit ad7fbc0).

The checkpoint stops a run in the middle of its second step (drafts scored, not yet judged), in
the state format of 0.1.0 (whole tree per write, no ``candidates``). ``test_checkpoint_compat``
resumes it with the current code and expects the uninterrupted 0.1.0 result. Rerun with that
release on the path:

    git archive ad7fbc0 langgraph_specsearch | tar -x -C /tmp/release
    PYTHONPATH=/tmp/release python tests/data/make_release_checkpoint.py
"""

from __future__ import annotations

import json
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from langgraph_specsearch import SpecSearchConfig, create_specsearch_graph
from langgraph_specsearch.demo_models import DEMO_PROBLEMS, demo_models

HERE = Path(__file__).resolve().parent
CONFIG = SpecSearchConfig(beam_width=2, width=3, n_drafts=4, max_depth=6, seed=7)
QUESTION = DEMO_PROBLEMS[1].question


def main() -> None:
    database = HERE / "checkpoint_0_1_0.sqlite"
    database.unlink(missing_ok=True)
    with SqliteSaver.from_conn_string(str(database)) as saver:
        graph = create_specsearch_graph(*demo_models(), config=CONFIG, checkpointer=saver)
        thread = {"configurable": {"thread_id": "release-0.1.0"}}
        graph.invoke({"question": QUESTION}, thread, interrupt_before=["reject"])
        graph.invoke(None, thread, interrupt_before=["reject"])
        paused = graph.get_state(thread)
    whole = create_specsearch_graph(*demo_models(), config=CONFIG).invoke({"question": QUESTION})
    expected = {
        "question": QUESTION,
        "config": CONFIG.model_dump(),
        "paused_before": list(paused.next),
        "paused_at_depth": paused.values["depth"],
        "answer": whole["answer"],
        "steps": whole["steps"],
        "best": whole["best"],
        "nodes": whole["nodes"],
        "threshold_history": whole["threshold_history"],
    }
    (HERE / "checkpoint_0_1_0.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
