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
