"""The search algorithm without LangGraph: the tree, the threshold, beam search, MCTS, answers.

Pure functions over plain data; imports only ``config``. The two tree searches, ``beam`` and
``mcts``, are siblings around the same speculative generator.
"""

from langgraph_specsearch.search.answers import extract_answer
from langgraph_specsearch.search.thoughts import ROOT_ID, ThoughtNode, ThresholdRecord
from langgraph_specsearch.search.tree import SearchTree, path_steps, path_to

__all__ = [
    "ROOT_ID",
    "SearchTree",
    "ThoughtNode",
    "ThresholdRecord",
    "extract_answer",
    "path_steps",
    "path_to",
]
