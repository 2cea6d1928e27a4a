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
from langgraph_specsearch.runnable import SpecSearch
from langgraph_specsearch.testing import DEMO_PROBLEMS, DemoModel, DemoScorer

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
    reset = lambda: again.calls.append("reset")  # noqa: E731
    run_benchmark(PROBLEMS, modes, again, path, progress=False, before_each=reset)
    assert again.calls[::2] == ["reset"] * 3  # before every run, so no run inherits a cache
    assert len(again.calls) == 6  # only the new problem ran
    assert len(read_records(path)) == 9


def test_cli_bench_with_fake_models(tmp_path: Path, demo_data: Path) -> None:
    code = main(
        [
            "bench",
            "--fake",
            "--data",
            str(demo_data),
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


def test_report_only_summarises_a_stopped_run_without_running(
    tmp_path: Path, demo_data: Path
) -> None:
    common = ["--fake", "--data", str(demo_data), "--out-dir", str(tmp_path), "--run-name", "t"]
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


class _SpeculatingDemo(DemoModel):
    """A demo target whose token-level assistant must share its vocabulary (only "qwen-0.5b")."""

    assistants: list[str]

    def supports_assistant(self, assistant: object) -> bool:
        return getattr(assistant, "name", None) == "qwen-0.5b"

    def generate_speculative(self, question, paths, counts, settings, assistant, strategy="auto"):
        self.assistants.append(assistant.name)
        return self.generate(question, paths, counts, settings), "speculative"


def test_sps_keeps_a_shared_vocabulary_assistant_when_the_drafter_has_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_data: Path
) -> None:
    """With --drafter smollm2-135m, SpS corrects with the default 0.5B; the others use SmolLM2."""
    from langgraph_specsearch.bench import runner
    from langgraph_specsearch.presets import assets as model_assets

    target = _SpeculatingDemo("target", 0.9)
    target.assistants = []
    drafter = DemoModel("smollm2", 0.6)
    loaded: list[str] = []

    def fake_models(scorer: str, drafter_name: str, engine: str | None = None) -> tuple:
        loaded.append(drafter_name)
        return drafter, target, DemoScorer()

    def fake_default(role: str) -> DemoModel:
        loaded.append(role)
        return DemoModel("qwen-0.5b", 0.7)

    monkeypatch.setattr(runner, "load_real_models", fake_models)
    monkeypatch.setattr(model_assets, "load_default_generator", fake_default)
    args = ["bench", "--data", str(demo_data), "--n", "1", "--out-dir", str(tmp_path)]
    args += ["--run-name", "s", "--width", "2", "--no-plots", "--drafter", "smollm2-135m"]
    assert main([*args, "--sps-strategy", "speculative"]) == 0
    assert loaded == ["smollm2-135m", "drafter"]
    assert target.assistants and set(target.assistants) == {"qwen-0.5b"}
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["models"]["drafter"] == "SmolLM2-135M-Instruct"
    assert summary["models"]["sps_assistant"] == "qwen-0.5b"
    records = read_records(tmp_path / "s" / "records.jsonl")
    assert {record["mode"] for record in records} == {
        "target_only",
        "target_speculative",
        "specsearch",
        "drafter_only",
    }


def test_the_prm_head_refuses_a_drafter_it_was_not_trained_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from langgraph_specsearch.presets import assets as model_assets

    def never(role: str) -> None:
        raise AssertionError("no model may load before the settings are checked")

    monkeypatch.setattr(model_assets, "load_default_generator", never)
    with pytest.raises(SystemExit, match="use --scorer likelihood-target"):
        main(["solve", "2+2?", "--drafter", "smollm2-135m", "--scorer", "prm-head"])


def test_every_run_starts_with_empty_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_data: Path
) -> None:
    """Before each run the bench empties the models' prompt caches and the scorer's prefix and
    free-score caches: a mode run second on a problem must not find the first one's work."""
    from langgraph_specsearch.bench import runner
    from langgraph_specsearch.generators.self_scores import StepCache

    cleared: list[str] = []

    class Cached(DemoModel):
        def clear_prefix_cache(self) -> None:
            cleared.append(self.name)

    drafter, target, scorer = Cached("drafter", 0.7), Cached("target", 0.9), DemoScorer()
    kept: StepCache[float] = StepCache()
    scorer.generated = kept  # type: ignore[attr-defined]

    def fake_models(scorer_name: str, drafter_name: str, engine: str | None = None) -> tuple:
        return drafter, target, scorer

    seen: list[int] = []  # the free-score cache's size at each generate call

    def run_and_remember(*args: object, **kwargs: object) -> None:
        seen.append(len(kept))
        kept.put(f"prompt {len(seen)}", "a thought this run wrote", -0.5)
        return real_run(*args, **kwargs)

    real_run = DemoModel.generate
    monkeypatch.setattr(DemoModel, "generate", run_and_remember)
    monkeypatch.setattr(runner, "load_real_models", fake_models)
    args = ["bench", "--data", str(demo_data), "--n", "2", "--out-dir", str(tmp_path)]
    args += ["--run-name", "c", "--width", "2", "--no-plots", "--modes", "target_only", "auto"]
    assert main(args) == 0
    runs = 2 * 2
    assert cleared.count("drafter") == runs and cleared.count("target") == runs
    assert seen.count(0) == runs  # every run's first call found it empty
