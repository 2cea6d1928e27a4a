"""The Studio graph's settings come from the environment and fail with a message naming them."""

from __future__ import annotations

import pytest

from langgraph_specsearch.studio import config_from_env, make_graph, models_from_env


def test_config_from_json() -> None:
    config = config_from_env({"SPECSEARCH_CONFIG": '{"width": 3, "max_depth": 5}'})
    assert config.width == 3 and config.max_depth == 5 and config.beam_width == 2
    assert config_from_env({}).width == 6


@pytest.mark.parametrize(
    ("raw", "match"), [("{", "not valid JSON"), ("[1]", "JSON object"), ('{"widht": 3}', "widht")]
)
def test_bad_config_names_the_problem(raw: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        config_from_env({"SPECSEARCH_CONFIG": raw})


def test_unknown_models_choice() -> None:
    with pytest.raises(ValueError, match="fake, default"):
        models_from_env({"SPECSEARCH_MODELS": "gpt"})


def test_fake_graph_answers_without_a_checkpointer() -> None:
    graph = make_graph({"SPECSEARCH_MODELS": "fake", "SPECSEARCH_CONFIG": '{"width": 3}'})
    assert graph.checkpointer is None
    assert graph.invoke({"question": "What is 6 * 7?"})["answer"] == "42"


def test_real_models_let_a_run_choose_the_logprob_ablation(monkeypatch) -> None:
    """Studio's real-model graph is built with the models' log-probs, so a run whose context asks
    for acceptance="logprob" runs (the fake graph, without them, refuses it by name)."""
    from langgraph_specsearch import presets, studio
    from langgraph_specsearch.testing import demo_models

    asked: list[tuple[str, str]] = []

    def likelihoods(drafter, target):
        asked.append((drafter.name, target.name))
        return (lambda question, steps: -2.0), (lambda question, steps: -1.0)

    monkeypatch.setattr(studio, "models_from_env", lambda env: demo_models())
    monkeypatch.setattr(presets, "make_draft_likelihoods", likelihoods)
    context = {"acceptance": "logprob", "width": 2, "max_depth": 3}
    graph = make_graph({"SPECSEARCH_MODELS": "default"})
    drafter, target, _ = demo_models()
    assert asked == [(drafter.name, target.name)]
    out = graph.invoke({"question": "What is 2 + 3?"}, context=context)
    assert out["stats"]["accepted"] > 0
    with pytest.raises(ValueError, match="draft_likelihoods"):
        make_graph({"SPECSEARCH_MODELS": "fake"}).invoke(
            {"question": "What is 2 + 3?"}, context=context
        )
