"""``create_specsearch_graph``: the SpecSearch stages wired into one compiled LangGraph graph.

Beam search: prepare -> draft -> evaluate -> reject -> correct -> select, then back to draft or
to finalize. MCTS (``config.search="mcts"``): prepare -> select_leaf -> draft -> evaluate ->
reject -> correct -> backup, then another simulation, a move (choose_move) or finalize; a
simulation whose leaf needs no children goes from select_leaf straight to backup. Every mode runs
through the same four generator nodes under either search, so baselines are measured by the same
code: ``target_only`` and ``target_speculative`` draft nothing and let ``correct`` write every
child; ``drafter_only`` accepts every draft.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, RetryPolicy

from langgraph_specsearch.config import SpecSearchConfig, SpecSearchOverrides
from langgraph_specsearch.generators.langchain import as_thought_generator
from langgraph_specsearch.graph.correct import make_correct
from langgraph_specsearch.graph.deps import DEFAULT_DRAFTER_RETRY, SearchDeps
from langgraph_specsearch.graph.draft import make_draft
from langgraph_specsearch.graph.evaluate import make_evaluate
from langgraph_specsearch.graph.mcts import (
    make_backup,
    make_choose_move,
    make_finalize,
    make_select_leaf,
)
from langgraph_specsearch.graph.prepare import make_prepare
from langgraph_specsearch.graph.reject import make_reject
from langgraph_specsearch.graph.select import finalize, make_select
from langgraph_specsearch.graph.state import InputState, OutputState, SpecSearchState
from langgraph_specsearch.scorers.base import Scorer, check_scorer


def create_specsearch_graph(
    drafter: object,
    target: object,
    scorer: Scorer,
    *,
    config: SpecSearchConfig | Mapping[str, Any] | None = None,
    checkpointer: Checkpointer | BaseCheckpointSaver | None = None,
    name: str = "specsearch",
    retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
    drafter_retry: RetryPolicy = DEFAULT_DRAFTER_RETRY,
    draft_likelihoods: tuple[Scorer, Scorer] | None = None,
    debug: bool = False,
) -> CompiledStateGraph:
    """Build the compiled SpecSearch graph.

    ``drafter`` and ``target`` are LangChain language models or :class:`ThoughtGenerator` objects;
    ``scorer`` is a callable ``(question, steps) -> float`` or a search-and-learn style PRM.
    ``retry_policy`` applies to the ``evaluate`` stage (LangGraph retries the node) and, inside
    ``correct``, to the target's writing and to the scoring apart; the drafter is retried inside
    ``draft`` under ``drafter_retry`` and, if it still fails, the target writes that step
    (``config.drafter_fallback``). ``draft_likelihoods`` is ``(drafter_scorer, target_scorer)``,
    each returning a step's log-probability under its model (e.g. ``LikelihoodScorer`` with
    ``raw=True``): only the ``acceptance="logprob"`` ablation needs it.
    """
    config = SpecSearchConfig.model_validate(config or {})
    check_scorer(scorer)
    deps = SearchDeps(
        drafter=as_thought_generator(drafter, "drafter"),
        target=as_thought_generator(target, "target"),
        scorer=scorer,
        config=config,
        drafter_retry=drafter_retry,
        retry_policy=retry_policy,
        draft_likelihoods=draft_likelihoods,
    )
    builder = StateGraph(
        SpecSearchState,
        context_schema=SpecSearchOverrides,
        input_schema=InputState,
        output_schema=OutputState,
    )
    builder.add_node("prepare", make_prepare(deps))
    if config.search == "mcts":
        builder.add_node("select_leaf", make_select_leaf(deps))
    builder.add_node("draft", make_draft(deps))
    builder.add_node("evaluate", make_evaluate(deps), retry_policy=retry_policy)
    builder.add_node("reject", make_reject(deps))
    builder.add_node("correct", make_correct(deps))  # retries its writing and scoring apart
    if config.search == "mcts":
        builder.add_node("backup", make_backup(deps))
        builder.add_node("choose_move", make_choose_move(deps))
        builder.add_node("finalize", make_finalize(deps))
    else:
        builder.add_node("select", make_select(deps))
        builder.add_node("finalize", finalize)
    first, last = ("select_leaf", "backup") if config.search == "mcts" else ("draft", "select")
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", first)
    builder.add_edge("draft", "evaluate")
    builder.add_edge("evaluate", "reject")
    builder.add_edge("reject", "correct")
    builder.add_edge("correct", last)
    builder.add_edge("finalize", END)
    graph = builder.compile(checkpointer=checkpointer, name=name, debug=debug)
    return graph.with_config(recursion_limit=config.recursion_limit)
