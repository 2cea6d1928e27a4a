"""One thought of the search tree, as plain data, and how a new one is made.

Plain ``TypedDict`` data so any checkpointer can save it and any client can read it; no tensors or
model objects. The tree is flat: nodes keyed by id, each naming its parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from typing_extensions import TypedDict  # pydantic needs it for JSON schemas on Python < 3.12

from langgraph_specsearch.search.answers import extract_answer

if TYPE_CHECKING:
    from langgraph_specsearch.generators.base import Thought

Author = Literal["root", "drafter", "target"]
Status = Literal["root", "drafted", "accepted", "rejected", "corrected"]

ROOT_ID = "root"


class MctsStatistics(TypedDict, total=False):
    """What MCTS adds to a thought; absent from beam-search trees (see :class:`ThoughtNode`)."""

    visits: int
    value: float | None


class ThoughtNode(MctsStatistics):
    """One thought (reasoning step) and what became of it.

    ``visits`` and ``value`` are MCTS statistics (how many simulations passed through the thought,
    and the mean of the leaf values they backed up). Only MCTS writes them, so beam-search trees
    and checkpoints from 0.1.0 have neither: read them with ``node.get("visits", 0)`` and
    ``node.get("value")``.
    """

    id: str
    parent: str | None
    depth: int
    text: str
    score: float | None
    model: Author
    status: Status
    tokens: int
    selected: bool
    terminal: bool
    answer: str | None
    finish_reason: str


class _RecordNode(TypedDict, total=False):
    node: str


class ThresholdRecord(_RecordNode):
    """The threshold in force at one step, and what the step's target scores made of it.

    ``node`` names the one thought whose expansion the record describes when records are kept per
    node (MCTS, and the per-path history); a beam-search step under the per-depth history covers
    its whole frontier in one record and has no ``node``, as in 0.1.0.
    """

    step: int
    threshold: float | None
    target_scores: list[float]
    aggregate: float | None
    next_threshold: float | None


def root_node(question: str) -> ThoughtNode:
    """The tree's root: the question, with no step written yet."""
    return ThoughtNode(
        id=ROOT_ID,
        parent=None,
        depth=0,
        text=question,
        score=None,
        model="root",
        status="root",
        tokens=0,
        selected=True,
        terminal=False,
        answer=None,
        finish_reason="",
    )


def new_node(
    node_id: str,
    parent: ThoughtNode,
    path: Iterable[str],
    text: str,
    tokens: int,
    finish_reason: str,
    author: Author,
    status: Status,
) -> ThoughtNode:
    """A child of ``parent``; ``path`` is the parent's step texts (to mark repetitions).

    Empty thoughts and thoughts that repeat an earlier step of their path are marked by their
    ``finish_reason`` ("empty", "repeat") and never scored, so they can be neither accepted nor
    selected.
    """
    answer = extract_answer(text)
    reason = finish_reason if text.strip() else "empty"
    if reason != "empty" and normal_text(text) in {normal_text(step) for step in path}:
        reason = "repeat"
    return ThoughtNode(
        id=node_id,
        parent=parent["id"],
        depth=parent["depth"] + 1,
        text=text,
        score=None,
        model=author,
        status=status,
        tokens=tokens,
        selected=False,
        terminal=answer is not None,
        answer=answer,
        finish_reason=reason,
    )


def new_children(
    nodes: Mapping[str, ThoughtNode],
    parents: Sequence[str],
    paths: Sequence[Sequence[str]],
    groups: Sequence[Sequence[Thought]],
    author: Author,
    status: Status,
) -> dict[str, ThoughtNode]:
    """Children of ``parents[i]`` from ``groups[i]``, numbered after the existing ``nodes``."""
    created: dict[str, ThoughtNode] = {}
    for parent, path, group in zip(parents, paths, groups, strict=True):
        for thought in group:
            node_id = f"n{len(nodes) + len(created)}"
            created[node_id] = new_node(
                node_id, nodes[parent], path, thought.text, thought.tokens,
                thought.finish_reason, author, status,
            )  # fmt: skip
    return created


def scorable(node: ThoughtNode) -> bool:
    """Whether a scorer should rate this thought (not empty, not a repetition)."""
    return node["finish_reason"] not in ("empty", "repeat") and bool(node["text"].strip())


def mcts_label(node: ThoughtNode) -> str:
    """``N 3 · V 0.61`` for a thought MCTS visited; "" for any other (beam search, unvisited)."""
    if "visits" not in node:
        return ""
    value = node.get("value")
    shown = "n/a" if value is None else f"{value:.2f}"
    return f"N {node['visits']} · V {shown}"


def normal_text(text: str) -> str:
    """Text compared ignoring case and spacing (repetitions, duplicate paths)."""
    return " ".join(text.split()).lower()
