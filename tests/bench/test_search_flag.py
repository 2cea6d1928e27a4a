"""``specsearch bench --search mcts``: every mode runs under MCTS and the summary says so."""

from __future__ import annotations

import json
from pathlib import Path

from langgraph_specsearch.bench.records import read_records
from langgraph_specsearch.cli import main


def test_bench_runs_every_mode_under_mcts(tmp_path: Path, demo_data: Path) -> None:
    common = ["--fake", "--data", str(demo_data), "--out-dir", str(tmp_path), "--no-plots"]
    flags = ["--n", "2", "--width", "2", "--n-drafts", "2", "--max-depth", "6"]
    code = main(
        ["bench", *common, *flags, "--run-name", "m", "--search", "mcts", "--simulations", "3"]
    )
    assert code == 0
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["search"] == "mcts"
    assert summary["settings"]["search"] == "mcts" and summary["settings"]["mcts_simulations"] == 3
    records = read_records(tmp_path / "m" / "records.jsonl")
    assert {r["mode"] for r in records} == {"target_only", "specsearch", "drafter_only"}
    assert not [r for r in records if r.get("error")]

    assert main(["bench", *common, *flags, "--run-name", "b"]) == 0
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["search"] == "beam"
