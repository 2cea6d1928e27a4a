"""The graph that ``langgraph dev`` serves (see ``langgraph.json``), built from the environment.

The LangGraph server brings its own checkpointer, so the graph is compiled without one.
Settings:

- ``SPECSEARCH_MODELS``: ``fake`` (default; the scripted demo models, offline and instant) or
  ``default`` (the real Qwen2.5-Coder pair; needs the ``[models]`` extra, loads in about a minute).
- ``SPECSEARCH_SCORER``: for the real pair, ``likelihood-target`` (default), ``prm-head`` or
  ``likelihood-drafter``.
- ``SPECSEARCH_ENGINE``: for the real pair, ``llamacpp`` (the default where installed) or
  ``transformers``; the PRM head and mode ``target_speculative`` need transformers; see
  docs/engines.md.
- ``SPECSEARCH_CONFIG``: JSON with any :class:`SpecSearchConfig` fields, e.g.
  ``{"width": 3, "max_depth": 8}``; unset fields keep their defaults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.graph import create_specsearch_graph

MODEL_CHOICES = ("fake", "default")


def config_from_env(env: Mapping[str, str] | None = None) -> SpecSearchConfig:
    """A validated config from ``SPECSEARCH_CONFIG`` (JSON), or the defaults."""
    env = os.environ if env is None else env
    raw = env.get("SPECSEARCH_CONFIG", "").strip()
    if not raw:
        return SpecSearchConfig()
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"SPECSEARCH_CONFIG is not valid JSON: {error}") from error
    if not isinstance(values, dict):
        raise ValueError("SPECSEARCH_CONFIG must be a JSON object of SpecSearchConfig fields")
    return SpecSearchConfig(**values)


def _models_choice(env: Mapping[str, str]) -> str:
    return env.get("SPECSEARCH_MODELS", "fake").strip().lower() or "fake"


def models_from_env(env: Mapping[str, str] | None = None) -> tuple[Any, Any, Any]:
    """``(drafter, target, scorer)`` as ``SPECSEARCH_MODELS`` asks; real models load lazily."""
    env = os.environ if env is None else env
    choice = _models_choice(env)
    if choice == "fake":
        from langgraph_specsearch.testing import demo_models

        return demo_models(simulate_latency=env.get("SPECSEARCH_DEMO_LATENCY", "") == "1")
    if choice == "default":
        from langgraph_specsearch.presets import (
            DEFAULT_DRAFTER,
            DEFAULT_SCORER,
            SCORERS,
            load_real_models,
            resolve_engine,
        )

        scorer_name = env.get("SPECSEARCH_SCORER", DEFAULT_SCORER)
        if scorer_name not in SCORERS:
            raise ValueError(f"SPECSEARCH_SCORER={scorer_name!r}: use one of {', '.join(SCORERS)}")
        engine = env.get("SPECSEARCH_ENGINE", "").strip().lower() or None
        mode = config_from_env(env).mode
        engine = resolve_engine(engine, scorer_name, [mode])
        return load_real_models(scorer_name, DEFAULT_DRAFTER, engine)
    raise ValueError(f"SPECSEARCH_MODELS={choice!r}: choose one of {', '.join(MODEL_CHOICES)}")


def make_graph(env: Mapping[str, str] | None = None) -> CompiledStateGraph:
    """The SpecSearch graph for the LangGraph server: no checkpointer, the server has its own.

    With the real models the graph also gets their log-probabilities, so a run can choose the
    ``acceptance="logprob"`` ablation in its context (they cost nothing until used).
    """
    env = os.environ if env is None else env
    drafter, target, scorer = models_from_env(env)
    likelihoods = None
    if _models_choice(env) == "default":
        from langgraph_specsearch.presets import make_draft_likelihoods

        likelihoods = make_draft_likelihoods(drafter, target)
    return create_specsearch_graph(
        drafter, target, scorer, config=config_from_env(env), draft_likelihoods=likelihoods
    )


graph = make_graph()
