"""``create_specsearch_graph``: the SpecSearch stages wired into one compiled LangGraph graph.

prepare -> draft -> evaluate -> reject -> correct -> select, then back to draft or to finalize.
Every mode runs through the same nodes, so baselines are measured by the same code:
``target_only`` and ``target_speculative`` draft nothing and let ``correct`` write every child;
``drafter_only`` accepts every draft.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    config: SpecSearchConfig | None = None,
    checkpointer: Checkpointer | BaseCheckpointSaver | None = None,
    name: str = "specsearch",
    retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,
    drafter_retry: RetryPolicy = DEFAULT_DRAFTER_RETRY,
    debug: bool = False,
) -> CompiledStateGraph:
    """Build the compiled SpecSearch graph.

    ``drafter`` and ``target`` are LangChain language models or :class:`ThoughtGenerator` objects;
    ``scorer`` is a callable ``(question, steps) -> float`` or a search-and-learn style PRM.
    ``retry_policy`` applies to the ``evaluate`` stage (LangGraph retries the node) and, inside
    ``correct``, to the target's writing and to the scoring apart; the drafter is retried inside
    ``draft`` under ``drafter_retry`` and, if it still fails, the target writes that step
    (``config.drafter_fallback``).
    """
    config = config or SpecSearchConfig()
    check_scorer(scorer)
    deps = SearchDeps(
        drafter=as_thought_generator(drafter, "drafter"),
        target=as_thought_generator(target, "target"),
        scorer=scorer,
        config=config,
        drafter_retry=drafter_retry,
        retry_policy=retry_policy,
    )
    builder = StateGraph(
        SpecSearchState,
        context_schema=SpecSearchOverrides,
        input_schema=InputState,
        output_schema=OutputState,
    )
    builder.add_node("prepare", make_prepare(deps))
    builder.add_node("draft", make_draft(deps))
    builder.add_node("evaluate", make_evaluate(deps), retry_policy=retry_policy)
    builder.add_node("reject", make_reject(deps))
    builder.add_node("correct", make_correct(deps))  # retries its writing and scoring apart
    builder.add_node("select", make_select(deps))
    builder.add_node("finalize", finalize)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "draft")
    builder.add_edge("draft", "evaluate")
    builder.add_edge("evaluate", "reject")
    builder.add_edge("reject", "correct")
    builder.add_edge("correct", "select")
    builder.add_edge("finalize", END)
    graph = builder.compile(checkpointer=checkpointer, name=name, debug=debug)
    return graph.with_config(recursion_limit=config.recursion_limit)
