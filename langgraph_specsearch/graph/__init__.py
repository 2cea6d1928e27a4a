"""The SpecSearch stages as LangGraph nodes, their state and events, and the graph factory.

May import ``search``, ``generators``, ``scorers`` and ``config``; nothing in the package below
``runnable``, ``cli`` and ``studio`` imports it.
"""

from langgraph_specsearch.graph.deps import DEFAULT_DRAFTER_RETRY, SearchDeps
from langgraph_specsearch.graph.factory import create_specsearch_graph
from langgraph_specsearch.graph.state import InputState, OutputState, SpecSearchState
from langgraph_specsearch.graph.stats import RunStats
from langgraph_specsearch.inputs import validate_question

__all__ = [
    "DEFAULT_DRAFTER_RETRY",
    "InputState",
    "OutputState",
    "RunStats",
    "SearchDeps",
    "SpecSearchState",
    "create_specsearch_graph",
    "validate_question",
]
