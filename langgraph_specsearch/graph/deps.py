"""What every node needs besides the state: the models, the scorer and the configuration.

The nodes are closures over one :class:`SearchDeps`; models never enter the graph's state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import RetryPolicy

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.generators.base import (
    GenerationSettings,
    Thought,
    ThoughtGenerator,
    can_speculate,
)
from langgraph_specsearch.generators.langchain import LangChainThoughtGenerator
from langgraph_specsearch.scorers.base import Scorer, score_last_steps
from langgraph_specsearch.search.seeding import Role, step_seed
from langgraph_specsearch.search.speculation import SpeculationMemory
from langgraph_specsearch.search.thoughts import ThoughtNode, scorable
from langgraph_specsearch.search.tree import path_steps

DEFAULT_DRAFTER_RETRY = RetryPolicy(max_attempts=2, initial_interval=0.2, retry_on=Exception)


@dataclass
class SearchDeps:
    """The models, the scorer and the settings one compiled graph runs with."""

    drafter: ThoughtGenerator
    target: ThoughtGenerator
    scorer: Scorer
    config: SpecSearchConfig
    drafter_retry: RetryPolicy = DEFAULT_DRAFTER_RETRY
    retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None
    draft_likelihoods: tuple[Scorer, Scorer] | None = None
    memory: SpeculationMemory = field(default_factory=SpeculationMemory, repr=False)
    speculative: bool = field(init=False)
    _runs: dict[SpecSearchConfig, SearchDeps] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.speculative = can_speculate(self.target, self.drafter)
        name = type(self.target).__name__
        if self.config.mode == "target_speculative" and not self.speculative:
            raise ValueError(
                "mode='target_speculative' needs a target that supports token-level speculative "
                f"decoding with this drafter; {name} does not (use the transformers backend for "
                "both models, with a shared tokenizer)"
            )
        if self.config.correction == "speculative" and not self.speculative:
            raise ValueError(
                "correction='speculative' needs a target that supports speculative decoding "
                f"with this drafter; {name} does not"
            )
        if (
            self.config.acceptance == "logprob"
            and self.config.speculates
            and self.draft_likelihoods is None
        ):
            raise ValueError(
                "acceptance='logprob' needs each draft's log-probability under both models: pass "
                "draft_likelihoods=(drafter_scorer, target_scorer) to create_specsearch_graph, two "
                "scorers (question, steps) -> the last step's log-probability, e.g. "
                "LikelihoodScorer.from_generator(drafter, raw=True) and the same for the target"
            )

    def for_run(self, config: SpecSearchConfig) -> SearchDeps:
        """The same models and scorer under one run's settings (checked like the graph's)."""
        if config == self.config:
            return self
        if config.search != self.config.search:
            raise ValueError(
                f"search={config.search!r} cannot be set per run: this graph was built for "
                f"search={self.config.search!r} (build one with SpecSearchConfig(search=...))"
            )
        run = self._runs.get(config)
        if run is None:
            run = self._runs[config] = replace(self, config=config)
        return run

    def for_state(self, state: Mapping[str, Any]) -> SearchDeps:
        """The deps under the settings ``prepare`` stored for this run (none in 0.1.0 states)."""
        settings = state.get("settings")
        return self.for_run(SpecSearchConfig.model_validate(settings)) if settings else self

    def measure(self, kind: str, rows: int, seconds: float) -> None:
        """Remember a call's cost for ``mode="auto"`` (other modes need no measurements)."""
        if self.config.mode == "auto" and rows:
            self.memory.add(kind, rows, seconds)

    def settings(self, step: int, role: Role) -> GenerationSettings:
        """Sampling settings with a seed fixed by (run seed, step, role): runs are repeatable."""
        c = self.config
        return GenerationSettings(
            delimiter=c.step_delimiter,
            max_new_tokens=c.max_step_tokens,
            temperature=c.temperature,
            top_p=c.top_p,
            seed=step_seed(c.seed, step, role),
        )

    def generate(
        self,
        generator: ThoughtGenerator,
        who: str,
        question: str,
        paths: list[list[str]],
        counts: list[int],
        settings: GenerationSettings,
        config: RunnableConfig,
    ) -> list[list[Thought]]:
        """One batched call; LangChain models get the run's callbacks, tags and metadata."""
        if isinstance(generator, LangChainThoughtGenerator):
            groups = generator.generate(question, paths, counts, settings, config=_child(config))
        else:
            groups = generator.generate(question, paths, counts, settings)
        return checked(groups, counts, who)

    def score(
        self, question: str, nodes: Mapping[str, ThoughtNode], ids: Sequence[str]
    ) -> tuple[dict[str, float], int]:
        """Score the thoughts ``ids`` in one batched call: ``({id: score}, invalid count)``.

        Empty and repeated thoughts are never scored; non-finite scores are counted and dropped.
        """
        rated = [i for i in ids if scorable(nodes[i])]
        values = score_last_steps(self.scorer, question, [path_steps(nodes, i) for i in rated])
        scores = {i: v for i, v in zip(rated, values, strict=True) if math.isfinite(v)}
        return scores, len(rated) - len(scores)

    def likelihoods(
        self, question: str, nodes: Mapping[str, ThoughtNode], ids: Sequence[str]
    ) -> dict[str, tuple[float, float]]:
        """``{id: (target log-prob, drafter log-prob)}`` of the thoughts ``ids`` (one batched call
        per model), for the log-probability acceptance ablation."""
        if self.draft_likelihoods is None or not ids:
            return {}
        drafter_scorer, target_scorer = self.draft_likelihoods
        paths = [path_steps(nodes, i) for i in ids]
        drafter = score_last_steps(drafter_scorer, question, paths)
        target = score_last_steps(target_scorer, question, paths)
        return {i: (t, d) for i, t, d in zip(ids, target, drafter, strict=True)}


def checked(groups: list[list[Thought]], counts: Sequence[int], who: str) -> list[list[Thought]]:
    """``groups``, if it holds exactly ``counts[i]`` thoughts for each path; else a ValueError."""
    if len(groups) != len(counts) or any(
        len(group) != count for group, count in zip(groups, counts, strict=False)
    ):
        got = [len(group) for group in groups]
        raise ValueError(f"{who} returned {got} thoughts per path, expected {list(counts)}")
    return groups


def step_candidates(state: Mapping[str, Any]) -> list[str]:
    """This step's children, in creation order.

    A checkpoint saved before ``candidates`` existed (release 0.1.0) has none: the step's
    children are then found from the frontier, as that release did.
    """
    candidates = state.get("candidates")
    if candidates is not None:
        return list(candidates)
    frontier, step = set(state["frontier"]), state["depth"] + 1
    return [i for i, n in state["nodes"].items() if n["parent"] in frontier and n["depth"] == step]


def _child(config: RunnableConfig) -> RunnableConfig:
    keep = ("callbacks", "tags", "metadata", "run_name")
    return {key: config[key] for key in keep if key in config}  # type: ignore[literal-required]
