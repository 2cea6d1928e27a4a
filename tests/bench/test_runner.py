"""The benchmark runner: interleaved modes, one record per run, resume without rerunning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_specsearch.bench.data import Problem
from langgraph_specsearch.bench.records import read_records
from langgraph_specsearch.bench.runner import run_benchmark
from langgraph_specsearch.cli import main
from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.demo_models import DEMO_PROBLEMS, DemoModel, DemoScorer
from langgraph_specsearch.runnable import SpecSearch

PROBLEMS = [Problem(f"p{i}", p.question, p.answer, "") for i, p in enumerate(DEMO_PROBLEMS[:3])]


class Counting:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, mode: str) -> SpecSearch:
        calls = self.calls

        class Recorder(SpecSearch):
            def invoke(self, input, config=None, **kwargs):
                calls.append(f"{input[:12]}|{mode}")
                if mode == "drafter_only" and "Weng" in input:
                    raise RuntimeError("boom")
                return super().invoke(input, config, **kwargs)

        return Recorder(
            DemoModel("drafter", 0.7),
            DemoModel("target", 0.9),
            DemoScorer(),
            config=SpecSearchConfig(mode=mode, width=2, n_drafts=2),
        )


def test_runs_interleave_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    modes = ["target_only", "specsearch", "drafter_only"]
    factory = Counting()
    run_benchmark(PROBLEMS[:2], modes, factory, path, progress=False)
    assert [c.split("|")[1] for c in factory.calls] == modes * 2  # A, B, C, then next problem
    records = read_records(path)
    assert len(records) == 6
    errors = [r for r in records if r.get("error")]
    assert len(errors) == 1 and errors[0]["mode"] == "drafter_only"
    assert all(r["correct"] for r in records if r["mode"] == "target_only")

    again = Counting()
    run_benchmark(PROBLEMS, modes, again, path, progress=False)
    assert len(again.calls) == 3  # only the new problem ran
    assert len(read_records(path)) == 9


def _demo_problems(tmp_path: Path) -> Path:
    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(
            json.dumps({"question": p.question, "answer": f"#### {p.answer}"}) + "\n"
            for p in DEMO_PROBLEMS
        )
    )
    return data


def test_cli_bench_with_fake_models(tmp_path: Path) -> None:
    data = _demo_problems(tmp_path)
    code = main(
        [
            "bench",
            "--fake",
            "--data",
            str(data),
            "--n",
            "3",
            "--out-dir",
            str(tmp_path),
            "--run-name",
            "t",
            "--width",
            "2",
            "--no-plots",
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["n_problems"] == 3
    for key in (
        "accuracy",
        "speedup_vs_ar",
        "speedup_vs_sps",
        "speedup_vs_best_baseline",
        "ideal_speedup",
        "acceptance_rate",
        "models",
        "command",
    ):
        assert key in summary
    assert set(summary["accuracy"]) == {"target_only", "specsearch", "drafter_only"}


def test_report_only_summarises_a_stopped_run_without_running(tmp_path: Path) -> None:
    data = _demo_problems(tmp_path)
    common = ["--fake", "--data", str(data), "--out-dir", str(tmp_path), "--run-name", "t"]
    common += ["--width", "2", "--no-plots"]
    with pytest.raises(SystemExit, match="no records"):
        main(["bench", *common, "--n", "3", "--report-only"])
    assert main(["bench", *common, "--n", "2"]) == 0
    full = json.loads((tmp_path / "t" / "summary.json").read_text())
    records = (tmp_path / "t" / "records.jsonl").read_text()
    # asking for more problems than were run summarises what is there, and runs nothing
    assert main(["bench", *common, "--n", "3", "--report-only"]) == 0
    assert (tmp_path / "t" / "records.jsonl").read_text() == records
    again = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert again["n_problems"] == full["n_problems"] == 2
    assert again["accuracy"] == full["accuracy"]
    assert again["speedup_vs_ar"] == full["speedup_vs_ar"]
