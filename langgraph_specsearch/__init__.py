"""Speculative Search (SpecSearch, ICML 2025) for LangChain and LangGraph."""

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.generators.base import GenerationSettings, Thought, ThoughtGenerator
from langgraph_specsearch.generators.langchain import LangChainThoughtGenerator
from langgraph_specsearch.graph import create_specsearch_graph
from langgraph_specsearch.runnable import SearchResult, SpecSearch
from langgraph_specsearch.scorers.base import LastStepScorer, StepScorer
from langgraph_specsearch.search.answers import extract_answer
from langgraph_specsearch.search.tree import SearchTree

__all__ = [
    "GenerationSettings",
    "LangChainThoughtGenerator",
    "LastStepScorer",
    "SearchResult",
    "SearchTree",
    "SpecSearch",
    "SpecSearchConfig",
    "StepScorer",
    "Thought",
    "ThoughtGenerator",
    "create_specsearch_graph",
    "extract_answer",
]
