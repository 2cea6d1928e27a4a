"""Which engine a command runs on (issue 16.2): llama.cpp by default where it is installed
(docs/engines.md says why), transformers where only it is, transformers where only it can do the
job, and a clear refusal, before any model loads, of an engine that cannot run what was asked."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest

from langgraph_specsearch import cli
from langgraph_specsearch.presets import models as presets_models
from langgraph_specsearch.presets import resolve_engine


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch):
    """Pretend exactly the given engine packages are installed (torch and transformers count
    as one: "transformers")."""
    real = importlib.util.find_spec
    monkeypatch.delenv("SPECSEARCH_ENGINE", raising=False)

    def choose(*engines: str) -> None:
        present = {"llama_cpp": "llamacpp" in engines}
        present["torch"] = present["transformers"] = "transformers" in engines

        def find_spec(name: str, *args: object):
            if name in present:
                return real("json") if present[name] else None
            return real(name, *args)

        monkeypatch.setattr(presets_models.importlib.util, "find_spec", find_spec)

    return choose


@pytest.fixture
def llamacpp_installed(installed):
    """Both engines installed, or (False) transformers alone."""
    return lambda yes: installed("transformers", "llamacpp") if yes else installed("transformers")


def test_llamacpp_is_the_default_where_installed_else_transformers(installed) -> None:
    """Measured faster at equal accuracy here (docs/engines.md): llama.cpp, where installed."""
    installed("transformers", "llamacpp")
    assert resolve_engine(None, "likelihood-target") == "llamacpp"
    installed("llamacpp")
    assert resolve_engine(None, "likelihood-target") == "llamacpp"
    assert resolve_engine(None, "likelihood-target", ["specsearch", "target_only"]) == "llamacpp"
    installed("transformers")
    assert resolve_engine(None, "likelihood-target") == "transformers"


def test_what_only_transformers_can_run_picks_it_by_itself(llamacpp_installed) -> None:
    llamacpp_installed(True)
    assert resolve_engine(None, "prm-head") == "transformers"
    assert resolve_engine(None, "likelihood-target", ["target_speculative"]) == "transformers"


def test_loading_without_an_engine_picks_the_one_the_scorer_needs(
    llamacpp_installed, monkeypatch
) -> None:
    """load_real_models(engine=None) with llama.cpp as the default and the PRM head (hidden
    states): it loads on transformers instead of failing."""
    from langgraph_specsearch.presets import assets

    class LoadedError(Exception):
        pass

    def loader(engine: str):
        def load(key: str) -> None:
            raise LoadedError(engine)

        return load

    llamacpp_installed(True)
    monkeypatch.setenv("SPECSEARCH_ENGINE", "llamacpp")
    monkeypatch.setattr(assets, "load_default_generator", loader("transformers"))
    monkeypatch.setattr(assets, "load_default_llamacpp_generator", loader("llamacpp"))
    with pytest.raises(LoadedError, match=r"^transformers$"):
        presets_models.load_real_models("prm-head")
    with pytest.raises(LoadedError, match=r"^llamacpp$"):
        presets_models.load_real_models("likelihood-target")


def test_a_named_engine_that_cannot_run_the_request_is_refused(llamacpp_installed) -> None:
    llamacpp_installed(True)
    with pytest.raises(ValueError, match=r"hidden states.*--engine transformers"):
        resolve_engine("llamacpp", "prm-head")
    with pytest.raises(ValueError, match=r"token-level speculative.*--engine transformers"):
        resolve_engine("llamacpp", "likelihood-target", ["target_only", "target_speculative"])
    with pytest.raises(ValueError, match="unknown engine 'vllm'"):
        resolve_engine("vllm", "likelihood-target")
    assert resolve_engine("transformers", "likelihood-target") == "transformers"


def test_llamacpp_without_the_package_names_the_extra(llamacpp_installed) -> None:
    llamacpp_installed(False)
    with pytest.raises(ValueError, match=r"langgraph-specsearch\[llamacpp\]"):
        resolve_engine("llamacpp", "likelihood-target")


def test_the_environment_chooses_the_default(llamacpp_installed, monkeypatch) -> None:
    llamacpp_installed(True)
    monkeypatch.setenv("SPECSEARCH_ENGINE", "llamacpp")
    assert resolve_engine(None, "likelihood-target") == "llamacpp"
    monkeypatch.setenv("SPECSEARCH_ENGINE", "onnx")
    with pytest.raises(ValueError, match="SPECSEARCH_ENGINE='onnx'"):
        resolve_engine(None, "likelihood-target")


def test_solve_refuses_an_impossible_engine_before_loading(
    llamacpp_installed, monkeypatch, capsys
) -> None:
    llamacpp_installed(True)

    def refuse(*args: object) -> None:
        raise AssertionError("models were loaded for settings that should have been refused")

    monkeypatch.setattr(cli, "load_real_models", refuse)
    assert cli.main(["solve", "2+2?", "--engine", "llamacpp", "--scorer", "prm-head"]) == 2
    err = capsys.readouterr().err
    assert "--engine transformers" in err and "Traceback" not in err


def test_solve_loads_on_the_resolved_engine_and_reports_it(
    llamacpp_installed, monkeypatch, capsys
) -> None:
    from langgraph_specsearch.testing import demo_models

    llamacpp_installed(True)
    engines: list[str | None] = []

    def load(scorer: str, drafter: str, engine: str | None = None):
        engines.append(engine)
        return demo_models()

    monkeypatch.setattr(cli, "load_real_models", load)
    solve = ["solve", "2+2?", "--json", "--max-depth", "2"]
    assert cli.main(solve) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == "llamacpp"
    assert cli.main([*solve, "--engine", "transformers"]) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == "transformers"
    assert engines == ["llamacpp", "transformers"]


def test_bench_records_the_engine_and_refuses_sps_on_llamacpp(
    llamacpp_installed, monkeypatch, tmp_path: Path
) -> None:
    from langgraph_specsearch.bench import runner
    from langgraph_specsearch.testing import DEMO_PROBLEMS, DemoModel, DemoScorer

    demo_data = tmp_path / "problems.jsonl"
    problem = DEMO_PROBLEMS[0]
    demo_data.write_text(
        json.dumps({"question": problem.question, "answer": f"#### {problem.answer}"})
    )

    llamacpp_installed(True)
    loaded: list[str | None] = []

    def load(scorer: str, drafter: str, engine: str | None = None):
        loaded.append(engine)
        return DemoModel("drafter", 0.7), DemoModel("target", 0.9), DemoScorer()

    monkeypatch.setattr(runner, "load_real_models", load)
    args = ["bench", "--data", str(demo_data), "--n", "1", "--out-dir", str(tmp_path)]
    args += ["--width", "2", "--no-plots", "--max-depth", "2"]
    with pytest.raises(SystemExit, match="--engine transformers"):
        cli.main([*args, "--run-name", "sps", "--engine", "llamacpp"])  # all modes: SpS too
    assert loaded == []
    modes = ["--modes", "target_only", "specsearch", "--engine", "llamacpp"]
    assert cli.main([*args, "--run-name", "ar", *modes]) == 0
    summary = json.loads((tmp_path / "ar" / "summary.json").read_text())
    assert loaded == ["llamacpp"]
    assert summary["engine"] == "llamacpp" == summary["models"]["engine"]
    assert summary["models"]["weights"] == "GGUF as shipped"


def test_make_scorer_scores_on_the_generators_engine(tmp_path: Path) -> None:
    from extras import require_extra

    require_extra("llama_cpp", "llamacpp")
    require_extra("gguf", "transformers")
    from llamacpp_tiny import write_tiny_gguf

    from langgraph_specsearch.generators.llamacpp import LlamaCppThoughtGenerator
    from langgraph_specsearch.presets import make_scorer
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

    generator = LlamaCppThoughtGenerator.from_gguf(write_tiny_gguf(tmp_path / "t.gguf"), n_ctx=512)
    scorer = make_scorer("likelihood-target", generator, generator)
    assert isinstance(scorer, LlamaCppLikelihoodScorer) and scorer.generator is generator
    with pytest.raises(ValueError, match="--engine transformers"):
        make_scorer("prm-head", generator, generator)


def test_bench_runs_ar_on_other_engines_as_baselines(
    llamacpp_installed, monkeypatch, tmp_path: Path
) -> None:
    from langgraph_specsearch.bench import runner
    from langgraph_specsearch.testing import DEMO_PROBLEMS, DemoModel, DemoScorer

    llamacpp_installed(True)
    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(
            json.dumps({"question": p.question, "answer": f"#### {p.answer}"}) + "\n"
            for p in DEMO_PROBLEMS[:2]
        )
    )
    loaded: list[str | None] = []

    def load(scorer: str, drafter: str, engine: str | None = None):
        loaded.append(engine)
        return DemoModel(f"d-{engine}", 0.7), DemoModel(f"t-{engine}", 0.9), DemoScorer()

    monkeypatch.setattr(runner, "load_real_models", load)
    args = ["bench", "--data", str(data), "--n", "2", "--out-dir", str(tmp_path), "--no-plots"]
    args += ["--run-name", "x", "--width", "2", "--max-depth", "2", "--engine", "transformers"]
    args += ["--modes", "target_only", "specsearch", "--baseline-engines", "llamacpp"]
    assert cli.main(args) == 0
    assert loaded == ["transformers", "llamacpp"]
    summary = json.loads((tmp_path / "x" / "summary.json").read_text())
    assert summary["baseline_modes"] == ["target_only", "target_only@llamacpp"]
    assert summary["n_runs"]["target_only@llamacpp"] == 2
    assert summary["models"]["target@llamacpp"] == "t-llamacpp (llamacpp)"
    assert summary["engine"] == "transformers"


def test_draft_likelihoods_are_each_models_raw_log_prob_on_its_engine(tmp_path: Path) -> None:
    """What ``acceptance="logprob"`` compares: the mean log-prob of a step under the drafter and
    under the target, each on its model's engine (the scorer's value, not exponentiated)."""
    from extras import require_extra

    require_extra("llama_cpp", "llamacpp")
    require_extra("gguf", "transformers")
    require_extra("torch", "transformers")
    from llamacpp_tiny import write_tiny_gguf
    from tiny_models import tiny_qwen2, tiny_tokenizer

    from langgraph_specsearch.generators.llamacpp import LlamaCppThoughtGenerator
    from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator
    from langgraph_specsearch.presets import make_draft_likelihoods, make_scorer
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    llama = LlamaCppThoughtGenerator.from_gguf(write_tiny_gguf(tmp_path / "t.gguf"), n_ctx=512)
    tokenizer = tiny_tokenizer()
    torch_model = TransformersThoughtGenerator(
        tiny_qwen2(len(tokenizer), seed=5, logit_scale=3.0), tokenizer, name="tiny"
    )
    steps = ["1 + 2 = 3", "The answer is 3"]
    make_draft_likelihoods(llama, torch_model)
    # nothing is added to the models' generation calls for an ablation a run may never use
    assert llama.self_scores is None and torch_model.step_features is None
    for drafter, target, kind in (
        (llama, torch_model, (LlamaCppLikelihoodScorer, LikelihoodScorer)),
        (torch_model, llama, (LikelihoodScorer, LlamaCppLikelihoodScorer)),
    ):
        pair = make_draft_likelihoods(drafter, target)
        assert [type(s) for s in pair] == list(kind)
        for scorer, model in zip(pair, (drafter, target), strict=True):
            assert scorer.raw and scorer.generator is model
            plain = make_scorer("likelihood-target", model, model)
            value = scorer("What is 1 + 2?", steps)
            assert value < 0
            assert math.exp(value) == pytest.approx(plain("What is 1 + 2?", steps), rel=1e-5)


def test_bench_gives_the_logprob_ablation_its_log_probs(monkeypatch, tmp_path: Path) -> None:
    """A ``--variant`` with acceptance=logprob runs with the models' log-probs (and their caches
    are emptied between runs like the scorer's); --fake models have none and say so."""
    from langgraph_specsearch.bench import runner
    from langgraph_specsearch.testing import DEMO_PROBLEMS, DemoModel, DemoScorer

    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(
            json.dumps({"question": p.question, "answer": f"#### {p.answer}"}) + "\n"
            for p in DEMO_PROBLEMS[:2]
        )
    )
    built: list[tuple[Any, Any]] = []

    class LogProb:
        def __init__(self, model: Any, value: float) -> None:
            self.model, self.value, self.cleared = model, value, 0

        def __call__(self, question: str, steps: list[str]) -> float:
            return self.value

        def clear_prefix_cache(self) -> None:
            self.cleared += 1

    def likelihoods(drafter: Any, target: Any) -> tuple[Any, Any]:
        built.append((LogProb(drafter, -2.0), LogProb(target, -1.0)))  # the target always wins
        return built[-1]

    def load(scorer: str, drafter: str, engine: str | None = None):
        return DemoModel("d", 0.7), DemoModel("t", 0.9), DemoScorer()

    monkeypatch.setattr(runner, "load_real_models", load)
    monkeypatch.setattr(runner, "make_draft_likelihoods", likelihoods)
    args = ["bench", "--data", str(data), "--n", "2", "--out-dir", str(tmp_path), "--no-plots"]
    args += ["--run-name", "x", "--width", "2", "--max-depth", "2", "--engine", "transformers"]
    args += ["--modes", "target_only", "--variant", "lp:acceptance=logprob"]
    assert cli.main(args) == 0
    assert len(built) == 1 and built[0][0].model.name == "d" and built[0][1].model.name == "t"
    assert all(s.cleared == 4 for s in built[0])  # before each of the 4 runs
    records = [json.loads(line) for line in (tmp_path / "x" / "records.jsonl").open()]
    logprob = [r for r in records if r["mode"] == "specsearch-lp"]
    assert len(logprob) == 2 and not any("error" in r for r in logprob)
    assert sum(r["accepted"] for r in logprob) > 0  # every draft clears the log-prob bar

    with pytest.raises(SystemExit, match="drop --fake"):
        cli.main(
            [
                *args[:-4],
                "--fake",
                "--run-name",
                "y",
                "--modes",
                "target_only",
                "--variant",
                "lp:acceptance=logprob",
            ]
        )
