"""Step scorers (process reward models): the interfaces the search accepts, and implementations.

``base`` (search-and-learn's ``score(questions, step_lists) -> score_lists`` and the simpler
shapes), ``transformers`` (the target's likelihood, Math-Shepherd and Qwen PRMs), ``prm_head`` (a
linear head on the drafter's states), ``judge`` (a LangChain chat model as judge), ``llamacpp``
(the target's likelihood on llama.cpp), ``openai_compatible`` (the target's likelihood from a
server's prompt log-probabilities, and a PRM on vLLM's pooling API). The torch-based modules are
imported only when asked for.
"""

from langgraph_specsearch.scorers.base import (
    LastStepScorer,
    Scorer,
    ScorerError,
    StepScorer,
    check_scorer,
    score_last_steps,
)

__all__ = [
    "LastStepScorer",
    "Scorer",
    "ScorerError",
    "StepScorer",
    "check_scorer",
    "score_last_steps",
]
