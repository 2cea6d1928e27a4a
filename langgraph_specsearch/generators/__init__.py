"""Thought generators: the protocol drafters and targets implement, and one module per backend.

``base`` (the protocol and its data), ``langchain`` (any LangChain chat model or LLM),
``openai_compatible`` (an OpenAI-compatible server: vLLM, SGLang, llama-server, TGI),
``transformers`` (in-process batched generation and assisted decoding), with its ``sampling`` and
``step_features``, and ``llamacpp`` (in-process llama.cpp); ``merging`` runs concurrent calls to
the in-process engines as shared batches, with the models on one device taking turns. Backends
import only ``base`` and ``prompts``; nothing here imports the graph.
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
from langgraph_specsearch.generators.merging import DeviceQueue, device_queue
from langgraph_specsearch.generators.openai_compatible import OpenAICompatibleThoughtGenerator

__all__ = [
    "DeviceQueue",
    "GenerationSettings",
    "LangChainThoughtGenerator",
    "OpenAICompatibleThoughtGenerator",
    "SpeculativeThoughtGenerator",
    "Thought",
    "ThoughtGenerator",
    "as_thought_generator",
    "can_speculate",
    "device_queue",
]
