"""Thought generators: the protocol drafters and targets implement, and one module per backend.

``base`` (the protocol and its data), ``langchain`` (any LangChain chat model or LLM),
``transformers`` (in-process batched generation and assisted decoding), with its ``sampling`` and
``step_features``. Backends import only ``base``; nothing here imports the graph.
"""

from langgraph_specsearch.generators.base import (
    GenerationSettings,
    SpeculativeThoughtGenerator,
    Thought,
    ThoughtGenerator,
    can_speculate,
)
from langgraph_specsearch.generators.langchain import (
    LangChainThoughtGenerator,
    as_thought_generator,
)

__all__ = [
    "GenerationSettings",
    "LangChainThoughtGenerator",
    "SpeculativeThoughtGenerator",
    "Thought",
    "ThoughtGenerator",
    "as_thought_generator",
    "can_speculate",
]
