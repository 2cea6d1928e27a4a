"""What a run accepts: the question, from ``{"question": ...}`` or a chat history, within a limit.

Shared by the Runnable and the graph's ``prepare`` node, so a LangGraph server (Studio sends
``{"messages": [...]}``), an agent tool and ``invoke`` refuse bad input with the same words, before
any model is called. It imports nothing from the graph, so the graph may import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

from langgraph_specsearch.config import SpecSearchConfig

EXPECTED = 'expected {"question": "..."} or {"messages": [...]}'
_USER_ROLES = ("user", "human")


def validate_question(question: object) -> str:
    """The question as a non-empty string, or a ValueError/TypeError that says what is wrong."""
    if not isinstance(question, str):
        raise TypeError(f"question must be a string, got {type(question).__name__}")
    if not question.strip():
        raise ValueError("question is empty: give the problem to solve")
    return question


def question_from_input(state: Mapping[str, Any]) -> str:
    """The last user message of ``{"messages": [...]}``, or the question of ``{"question": str}``.

    Messages may be LangChain messages, ``{"role": ..., "content": ...}`` dicts (or the
    ``{"type": "human", ...}`` dicts a LangGraph server stores) or ``(role, text)`` pairs. Given
    messages win over a question: in a reused thread ``question`` is the last run's, while
    ``prepare`` clears ``messages`` after reading them, so present messages are always new.
    """
    messages = state.get("messages")
    if messages:
        return validate_question(_last_user_text(messages))
    if state.get("question") is not None:
        return validate_question(state["question"])
    if messages is not None:
        return validate_question(_last_user_text(messages))  # an empty list: says so
    keys = sorted(str(key) for key in state)
    raise ValueError(
        f"input needs a 'question' key or a 'messages' list: {EXPECTED}, got keys {keys}"
    )


def check_question_length(question: str, config: SpecSearchConfig) -> None:
    """Refuse a question above ``config.max_question_chars``: every model call would send it."""
    limit = config.max_question_chars
    if limit is not None and len(question) > limit:
        raise ValueError(
            f"question is {len(question)} characters; the limit is {limit} "
            "(SpecSearchConfig.max_question_chars)"
        )


def _last_user_text(messages: object) -> object:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ValueError(f"messages must be a list of messages: {EXPECTED}")
    for message in reversed(messages):
        role, content = _role_and_content(message)
        if role in _USER_ROLES:
            return _text(content)
    raise ValueError(
        "the message list has no user message (a human message, or role 'user') to take the "
        "question from"
    )


def _role_and_content(message: object) -> tuple[str | None, object]:
    """(role, content) of any message form; role None when it cannot be told."""
    if isinstance(message, BaseMessage):
        return message.type, message.content
    if isinstance(message, Mapping):
        return message.get("role") or message.get("type"), message.get("content")
    if isinstance(message, (tuple, list)) and len(message) == 2:
        return str(message[0]), message[1]
    return None, None


def _text(content: object) -> object:
    """The text of a message's content: a string, or the text blocks of a content list."""
    if isinstance(content, list):
        return "".join(_block_text(block) for block in content)
    return content


def _block_text(block: object) -> str:
    if isinstance(block, str):
        return block
    if isinstance(block, Mapping) and block.get("type") == "text":
        return str(block.get("text", ""))
    return ""  # images, tool calls and other blocks carry no question text
