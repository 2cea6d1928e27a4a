"""The SpecSearch graph: draft -> evaluate -> reject -> correct -> select, one loop per step.

Every search mode runs through the same nodes, so baselines are measured by the same code:
``target_only`` and ``target_speculative`` draft nothing and let ``correct`` write every child;
``drafter_only`` accepts every draft. Models and the scorer live in this module's closures; the
state holds only plain data.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from copy import deepcopy
from typing import Any, Literal, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer, Command, RetryPolicy

from langgraph_specsearch.answers import extract_answer
from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.generation import (
    GenerationSettings,
    Thought,
    ThoughtGenerator,
    can_speculate,
)
from langgraph_specsearch.langchain_generator import as_thought_generator
from langgraph_specsearch.scoring import Scorer, check_scorer, score_last_steps
from langgraph_specsearch.state import (
    Author,
    InputState,
    OutputState,
    RunStats,
    SpecSearchState,
    ThoughtNode,
    ThresholdRecord,
    initial_state,
)
from langgraph_specsearch.threshold import (
    decide,
    needs_target_warmup,
    next_threshold,
    threshold_in_force,
)
from langgraph_specsearch.tree import path_steps

DEFAULT_DRAFTER_RETRY = RetryPolicy(max_attempts=2, initial_interval=0.2, retry_on=Exception)

T = TypeVar("T")
Stage = Literal["draft", "evaluate", "reject", "correct", "select"]
_ROLE_SEED = {"draft": 1, "correct": 2, "reject": 3}


def validate_question(question: object) -> str:
    """The question as a non-empty string, or a ValueError/TypeError that says what is wrong."""
    if not isinstance(question, str):
        raise TypeError(f"question must be a string, got {type(question).__name__}")
    if not question.strip():
        raise ValueError("question is empty: give the problem to solve")
    return question


class _Stages:
    """The node functions, closed over the models, the scorer and the configuration."""

    def __init__(
        self,
        drafter: ThoughtGenerator,
        target: ThoughtGenerator,
        scorer: Scorer,
        config: SpecSearchConfig,
        drafter_retry: RetryPolicy = DEFAULT_DRAFTER_RETRY,
    ) -> None:
        self.drafter = drafter
        self.target = target
        self.scorer = scorer
        self.config = config
        self.drafter_retry = drafter_retry
        self.speculative = can_speculate(target, drafter)
        if config.mode == "target_speculative" and not self.speculative:
            raise ValueError(
                "mode='target_speculative' needs a target that supports token-level speculative "
                f"decoding with this drafter; {type(target).__name__} does not (use the "
                "transformers backend for both models, with a shared tokenizer)"
            )
        if config.correction == "speculative" and not self.speculative:
            raise ValueError(
                "correction='speculative' needs a target that supports speculative decoding "
                f"with this drafter; {type(target).__name__} does not"
            )

    # -- helpers -------------------------------------------------------------------------------

    def settings(self, step: int, role: str) -> GenerationSettings:
        """Sampling settings with a seed fixed by (run seed, step, role): runs are repeatable."""
        c = self.config
        return GenerationSettings(
            delimiter=c.step_delimiter,
            max_new_tokens=c.max_step_tokens,
            temperature=c.temperature,
            top_p=c.top_p,
            seed=(c.seed * 1_000_003 + step * 101 + _ROLE_SEED[role]) % (2**31),
        )

    def drafts_per_node(self, state: SpecSearchState) -> int:
        mode = self.config.mode
        if mode == "drafter_only":
            return self.config.width
        if mode != "specsearch" or needs_target_warmup(state["threshold"], self.config):
            return 0
        return self.config.drafts_per_node

    @staticmethod
    def _checked(
        groups: list[list[Thought]], counts: Sequence[int], who: str
    ) -> list[list[Thought]]:
        if len(groups) != len(counts) or any(
            len(group) != count for group, count in zip(groups, counts, strict=False)
        ):
            got = [len(group) for group in groups]
            raise ValueError(f"{who} returned {got} thoughts per path, expected {list(counts)}")
        return groups

    def _score(
        self, state: SpecSearchState, nodes: dict[str, ThoughtNode], ids: list[str], stats: RunStats
    ) -> None:
        """Score the thoughts ``ids`` in one batched call.

        Empty thoughts and thoughts that repeat an earlier step of their path are never scored, so
        they can be neither accepted nor selected.
        """
        scorable = [
            i
            for i in ids
            if nodes[i]["finish_reason"] not in ("empty", "repeat") and nodes[i]["text"].strip()
        ]
        scores = score_last_steps(
            self.scorer, state["question"], [path_steps(nodes, i) for i in scorable]
        )
        for node_id, score in zip(scorable, scores, strict=True):
            if math.isfinite(score):
                nodes[node_id]["score"] = score
            else:
                stats["invalid_scores"] += 1

    def _new_node(
        self,
        nodes: dict[str, ThoughtNode],
        parent: str,
        thought: Thought,
        author: Author,
        status: Literal["drafted", "corrected"],
    ) -> ThoughtNode:
        node_id = f"n{len(nodes)}"
        answer = extract_answer(thought.text)
        reason = thought.finish_reason if thought.text.strip() else "empty"
        if reason != "empty" and _normal(thought.text) in {
            _normal(step) for step in path_steps(nodes, parent)
        }:
            reason = "repeat"  # degenerate repetition: marked, never scored
        node = ThoughtNode(
            id=node_id,
            parent=parent,
            depth=nodes[parent]["depth"] + 1,
            text=thought.text,
            score=None,
            model=author,
            status=status,
            tokens=thought.tokens,
            selected=False,
            terminal=answer is not None,
            answer=answer,
            finish_reason=reason,
        )
        nodes[node_id] = node
        return node

    # -- stages --------------------------------------------------------------------------------

    def prepare(self, state: InputState) -> dict[str, Any]:
        """Validate the question, before any model is called, and plant a fresh tree."""
        question = validate_question(state.get("question"))
        for generator in (self.drafter, self.target):
            check = getattr(generator, "check_question", None)
            if check is not None:
                check(question)  # e.g. longer than the model's context: a clear ValueError
        return initial_state(question)

    def draft(self, state: SpecSearchState, config: RunnableConfig) -> dict[str, Any]:
        """The drafter writes M thoughts from every frontier node, in one batched call."""
        stats, nodes = deepcopy(state["stats"]), dict(state["nodes"])
        step = state["depth"] + 1
        count = self.drafts_per_node(state)
        frontier = state["frontier"]
        created: list[ThoughtNode] = []
        with _timed(stats, "draft"):
            if count and frontier:
                counts = [count] * len(frontier)
                groups = self._draft_with_fallback(
                    state["question"],
                    [path_steps(nodes, f) for f in frontier],
                    counts,
                    self.settings(step, "draft"),
                    config,
                    stats,
                    step,
                )
                for parent, group in zip(frontier, groups, strict=True):
                    for thought in group:
                        created.append(self._new_node(nodes, parent, thought, "drafter", "drafted"))
                        _count_tokens(stats, "drafter", thought)
        stats["drafted"] += len(created)
        _emit("draft", step, [_brief(n) for n in created])
        return {"nodes": nodes, "stats": stats}

    def _draft_with_fallback(
        self,
        question: str,
        paths: list[list[str]],
        counts: list[int],
        settings: GenerationSettings,
        config: RunnableConfig,
        stats: RunStats,
        step: int,
    ) -> list[list[Thought]]:
        """Call the drafter under its retry policy; if it still fails, the target takes the step.

        Falling back means drafting nothing: ``correct`` then fills every slot with the target.
        """

        def attempt() -> list[list[Thought]]:
            return self._checked(
                _call(self.drafter, question, paths, counts, settings, config), counts, "drafter"
            )

        try:
            return _with_retry(attempt, self.drafter_retry, self.config.draft_timeout_s)
        except Exception as error:
            if not self.config.drafter_fallback or self.config.mode == "drafter_only":
                raise
            stats["failures"].append(
                {
                    "stage": "draft",
                    "step": step,
                    "error": f"{type(error).__name__}: {error}",
                    "fallback": "target",
                }
            )
            return [[] for _ in counts]

    def evaluate(self, state: SpecSearchState) -> dict[str, Any]:
        """The scorer rates every draft of this step, in one batched call."""
        stats, nodes = deepcopy(state["stats"]), deepcopy(state["nodes"])
        step = state["depth"] + 1
        drafts = [i for i, n in nodes.items() if n["depth"] == step and n["model"] == "drafter"]
        with _timed(stats, "evaluate"):
            self._score(state, nodes, drafts, stats)
        _emit("evaluate", step, [{"id": i, "score": nodes[i]["score"]} for i in drafts])
        return {"nodes": nodes, "stats": stats}

    def reject(self, state: SpecSearchState) -> dict[str, Any]:
        """Keep drafts that clear the threshold (at most N per node, best first)."""
        stats, nodes = deepcopy(state["stats"]), deepcopy(state["nodes"])
        step = state["depth"] + 1
        beta = threshold_in_force(state["threshold"], self.config)
        rng = random.Random(self.settings(step, "reject").seed)
        decisions = []
        with _timed(stats, "reject"):
            for parent in state["frontier"]:
                drafts = [
                    n for n in nodes.values() if n["parent"] == parent and n["model"] == "drafter"
                ]
                scores = [-math.inf if n["score"] is None else n["score"] for n in drafts]
                keep = decide(scores, self.config.width, self.config, beta, rng)
                for node, accepted in zip(drafts, keep, strict=True):
                    node["status"] = "accepted" if accepted else "rejected"
                    decisions.append(
                        {"id": node["id"], "accepted": accepted, "score": node["score"]}
                    )
        accepted_now = sum(1 for d in decisions if d["accepted"])
        stats["accepted"] += accepted_now
        stats["rejected"] += len(decisions) - accepted_now
        _emit("reject", step, decisions, threshold=beta)
        return {"nodes": nodes, "stats": stats}

    def correct(self, state: SpecSearchState, config: RunnableConfig) -> dict[str, Any]:
        """The target fills every empty slot, with speculative decoding when it can; then scores."""
        stats, nodes = deepcopy(state["stats"]), dict(state["nodes"])
        step = state["depth"] + 1
        frontier = state["frontier"]
        accepted = {
            parent: sum(
                1 for n in nodes.values() if n["parent"] == parent and n["status"] == "accepted"
            )
            for parent in frontier
        }
        counts = [
            0 if self.config.mode == "drafter_only" else self.config.width - accepted[parent]
            for parent in frontier
        ]
        created: list[ThoughtNode] = []
        with _timed(stats, "correct"):
            if sum(counts):
                paths = [path_steps(nodes, f) for f in frontier]
                groups, strategy = self._write_corrections(
                    state["question"], paths, counts, self.settings(step, "correct"), config
                )
                self._checked(groups, counts, "target")
                strategies = stats["correction_strategies"]
                strategies[strategy] = strategies.get(strategy, 0) + 1
                for parent, group in zip(frontier, groups, strict=True):
                    for thought in group:
                        created.append(
                            self._new_node(nodes, parent, thought, "target", "corrected")
                        )
                        _count_tokens(stats, "target", thought)
        nodes = deepcopy(nodes)
        with _timed(stats, "evaluate"):
            self._score(state, nodes, [n["id"] for n in created], stats)
        stats["corrected"] += len(created)
        update = self._update_threshold(state, nodes, step, [nodes[n["id"]] for n in created])
        _emit("correct", step, [_brief(nodes[n["id"]]) for n in created])
        return {"nodes": nodes, "stats": stats, **update}

    def _write_corrections(
        self,
        question: str,
        paths: list[list[str]],
        counts: list[int],
        settings: GenerationSettings,
        config: RunnableConfig,
    ) -> tuple[list[list[Thought]], str]:
        mode, choice = self.config.mode, self.config.correction
        wants_speculative = mode == "target_speculative" or (
            mode == "specsearch" and choice != "batched"
        )
        if wants_speculative and self.speculative:
            return self.target.generate_speculative(  # type: ignore[attr-defined]
                question, paths, counts, settings, assistant=self.drafter, strategy=choice
            )
        return _call(self.target, question, paths, counts, settings, config), "batched"

    def _update_threshold(
        self,
        state: SpecSearchState,
        nodes: dict[str, ThoughtNode],
        step: int,
        corrections: list[ThoughtNode],
    ) -> dict[str, Any]:
        """beta_{k+1} = theta * beta_k + (1 - theta) * Agg(target scores at step k)."""
        scores = [n["score"] for n in corrections if n["score"] is not None]
        if self.config.include_accepted_in_ema:
            scores += [
                n["score"]
                for n in nodes.values()
                if n["depth"] == step and n["status"] == "accepted" and n["score"] is not None
            ]
        current = state["threshold"]
        aggregate, upcoming = next_threshold(current, scores, self.config)
        record = ThresholdRecord(
            step=step,
            threshold=threshold_in_force(current, self.config),
            target_scores=scores,
            aggregate=aggregate,
            next_threshold=upcoming,
        )
        return {"threshold": upcoming, "threshold_history": [*state["threshold_history"], record]}

    def select(self, state: SpecSearchState) -> Command[Literal["draft", "finalize"]]:
        """Beam search: keep the best B children of this step; finished beams leave the frontier."""
        stats, nodes = deepcopy(state["stats"]), deepcopy(state["nodes"])
        step = state["depth"] + 1
        frontier = set(state["frontier"])
        with _timed(stats, "select"):
            children = [
                n
                for n in nodes.values()
                if n["parent"] in frontier
                and n["status"] in ("accepted", "corrected")
                and n["score"] is not None
            ]
            children.sort(key=lambda n: -n["score"])  # stable: ties keep creation order
            if self.config.filter_duplicates:
                children = _distinct_paths(nodes, children)
            chosen = children[: self.config.beam_width]
            for node in chosen:
                node["selected"] = True
            completed = [*state["completed"], *(n["id"] for n in chosen if n["terminal"])]
            next_frontier = [n["id"] for n in chosen if not n["terminal"]]
        _refresh_rates(stats)
        stats["steps"] = step
        _emit(
            "select",
            step,
            [{"id": n["id"], "score": n["score"], "terminal": n["terminal"]} for n in chosen],
        )
        reason = self._stop_reason(next_frontier, completed, step, stats)
        update = {
            "nodes": nodes,
            "stats": stats,
            "depth": step,
            "frontier": next_frontier,
            "completed": completed,
            "stop_reason": reason,
        }
        return Command(update=update, goto="finalize" if reason else "draft")

    def _stop_reason(
        self, frontier: list[str], completed: list[str], step: int, stats: RunStats
    ) -> str:
        c = self.config
        if not frontier:
            return "answer" if completed else "no_candidates"
        if step >= c.max_depth:
            return "max_depth"
        if c.max_total_tokens is not None and sum(stats["tokens"].values()) >= c.max_total_tokens:
            return "max_tokens"
        if c.time_budget_s is not None and stats["total_seconds"] >= c.time_budget_s:
            return "time_budget"
        return ""

    def finalize(self, state: SpecSearchState) -> dict[str, Any]:
        """Return the best finished path, or the best partial one when a budget ran out."""
        nodes = state["nodes"]
        pool = (
            state["completed"]
            or state["frontier"]
            or [n["id"] for n in nodes.values() if n["selected"] and n["parent"] is not None]
        )
        best = (
            max(pool, key=lambda i: (nodes[i]["score"] or -math.inf, -int(i[1:]))) if pool else None
        )
        finished = bool(state["completed"])
        return {
            "best": best,
            "answer": nodes[best]["answer"] if best and finished else None,
            "steps": path_steps(nodes, best) if best else [],
            "finished": finished,
            "stop_reason": state["stop_reason"] or "answer",
        }


def _call(
    generator: ThoughtGenerator,
    question: str,
    paths: list[list[str]],
    counts: list[int],
    settings: GenerationSettings,
    config: RunnableConfig,
) -> list[list[Thought]]:
    """Call a generator, passing the run's config (callbacks, tags) to LangChain models."""
    from langgraph_specsearch.langchain_generator import LangChainThoughtGenerator

    if isinstance(generator, LangChainThoughtGenerator):
        return generator.generate(question, paths, counts, settings, config=_child(config))
    return generator.generate(question, paths, counts, settings)


def _with_retry(call: Callable[[], T], policy: RetryPolicy, timeout_s: float | None) -> T:
    """Run ``call`` under a LangGraph ``RetryPolicy`` (attempts, backoff, retry_on), with a timeout.

    A timed-out call is abandoned, not killed: its thread finishes in the background.
    """
    interval = policy.initial_interval
    for attempt in range(1, policy.max_attempts + 1):
        try:
            if timeout_s is None:
                return call()
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="specsearch-draft")
            try:
                return pool.submit(call).result(timeout=timeout_s)
            except FutureTimeout as error:
                raise TimeoutError(f"drafter call took longer than {timeout_s} s") from error
            finally:
                pool.shutdown(wait=False)
        except Exception as error:
            if attempt == policy.max_attempts or not _should_retry(policy, error):
                raise
            pause = min(interval, policy.max_interval)
            time.sleep(pause * (1 + random.random()) if policy.jitter else pause)
            interval *= policy.backoff_factor
    raise AssertionError("unreachable")  # pragma: no cover


def _should_retry(policy: RetryPolicy, error: Exception) -> bool:
    retry_on = policy.retry_on
    if isinstance(retry_on, type):
        return isinstance(error, retry_on)
    if isinstance(retry_on, Sequence):
        return isinstance(error, tuple(retry_on))
    return bool(retry_on(error))


def _normal(text: str) -> str:
    return " ".join(text.split()).lower()


def _distinct_paths(nodes: dict[str, ThoughtNode], ranked: list[ThoughtNode]) -> list[ThoughtNode]:
    """The first (best) of every group of children whose whole paths read the same."""
    seen: set[tuple[str, ...]] = set()
    distinct = []
    for node in ranked:
        key = tuple(_normal(step) for step in path_steps(nodes, node["id"]))
        if key not in seen:
            seen.add(key)
            distinct.append(node)
    return distinct


def _child(config: RunnableConfig) -> RunnableConfig:
    keep = ("callbacks", "tags", "metadata", "run_name")
    return {key: config[key] for key in keep if key in config}  # type: ignore[literal-required]


@contextmanager
def _timed(stats: RunStats, stage: Stage) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        stats["seconds"][stage] += elapsed
        stats["total_seconds"] += elapsed


def _count_tokens(stats: RunStats, role: str, thought: Thought) -> None:
    stats["tokens"][role] += thought.tokens
    stats["tokens_estimated"] = stats["tokens_estimated"] or thought.tokens_estimated


def _refresh_rates(stats: RunStats) -> None:
    drafted, accepted, corrected = stats["drafted"], stats["accepted"], stats["corrected"]
    stats["acceptance_rate"] = accepted / drafted if drafted else 0.0
    children = accepted + corrected
    stats["draft_share"] = accepted / children if children else 0.0


def _brief(node: ThoughtNode) -> dict[str, Any]:
    keys = ("id", "parent", "model", "text", "score", "tokens", "terminal")
    return {key: node[key] for key in keys}  # type: ignore[literal-required]


def _emit(stage: Stage, step: int, items: list[dict[str, Any]], **extra: Any) -> None:
    """A custom stream event per stage: ``stream(..., stream_mode="custom")`` shows the search."""
    get_stream_writer()({"stage": stage, "step": step, "items": items, **extra})


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
    ``retry_policy`` applies to the ``evaluate`` and ``correct`` stages (LangGraph retries the
    node); the drafter is retried inside ``draft`` under ``drafter_retry`` and, if it still fails,
    the target writes that step (``config.drafter_fallback``).
    """
    config = config or SpecSearchConfig()
    check_scorer(scorer)
    stages = _Stages(
        as_thought_generator(drafter, "drafter"),
        as_thought_generator(target, "target"),
        scorer,
        config,
        drafter_retry,
    )
    builder = StateGraph(SpecSearchState, input_schema=InputState, output_schema=OutputState)
    builder.add_node("prepare", stages.prepare)
    builder.add_node("draft", stages.draft)
    builder.add_node("evaluate", stages.evaluate, retry_policy=retry_policy)
    builder.add_node("reject", stages.reject)
    builder.add_node("correct", stages.correct, retry_policy=retry_policy)
    builder.add_node("select", stages.select)
    builder.add_node("finalize", stages.finalize)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "draft")
    builder.add_edge("draft", "evaluate")
    builder.add_edge("evaluate", "reject")
    builder.add_edge("reject", "correct")
    builder.add_edge("correct", "select")
    builder.add_edge("finalize", END)
    graph = builder.compile(checkpointer=checkpointer, name=name, debug=debug)
    return graph.with_config(recursion_limit=config.recursion_limit)
