"""One validated configuration object for every search mode and threshold policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

Mode = Literal["specsearch", "auto", "target_only", "target_speculative", "drafter_only"]
ThresholdPolicy = Literal["ema", "fixed", "random", "none"]
Aggregator = Literal["mean", "max", "ucb"]
CorrectionStrategy = Literal["auto", "speculative", "batched"]
Search = Literal["beam", "mcts"]
ThresholdScope = Literal["depth", "path"]
Acceptance = Literal["threshold", "half_split", "logprob"]
MctsStyle = Literal["moves", "paths"]
MctsAnswer = Literal["most_visited", "max_value", "best_score"]


class SpecSearchConfig(BaseModel):
    """Settings for one SpecSearch run; the defaults are the paper's unless noted.

    Invalid values fail at construction with a message naming the field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = Field(
        "specsearch",
        description="specsearch (the method), auto (SpecSearch that drafts a step only when "
        "measured costs say it pays), target_only (AR baseline), target_speculative (SpS "
        "baseline), drafter_only (small model only).",
    )
    search: Search = Field(
        "beam",
        description="The tree search around the speculative generator: beam (beam search) or "
        "mcts (PUCT Monte Carlo tree search; every expansion drafts, rejects and corrects). "
        "Fixed when the graph is built.",
    )
    beam_width: int = Field(2, ge=1, description="B: paths kept after each step (paper: 2).")
    width: int = Field(6, ge=1, description="N: children per expanded node (paper: 6).")
    n_drafts: int | None = Field(
        None, ge=1, description="M: drafts per node; None means 2N, the paper's choice."
    )
    threshold: ThresholdPolicy = Field(
        "ema",
        description="ema (the paper's), fixed, random (ablation), none (keep the best N drafts).",
    )
    theta: float = Field(0.9, ge=0.0, le=1.0, description="EMA weight of the previous threshold.")
    aggregator: Aggregator = Field("mean", description="Agg over the target's scores at a step.")
    ucb_c: float = Field(1.0, ge=0.0, description="c in mean + c * std for the ucb aggregator.")
    include_accepted_in_ema: bool = Field(
        False,
        description="Variant: aggregate over all of a step's children (accepted drafts "
        "included), not only the target's thoughts; the authors' code does, with max.",
    )
    threshold_scope: ThresholdScope = Field(
        "depth",
        description="Whose history moves the EMA: depth (one estimate for the whole search, "
        "moved once per step; the paper's text) or path (each node's own ancestors' steps; "
        "the authors' code).",
    )
    threshold_init_scale: float = Field(
        1.0,
        gt=0.0,
        description="beta_1 = scale * Agg(the first target scores); the authors' code uses 0.9.",
    )
    acceptance: Acceptance = Field(
        "threshold",
        description="How drafts are accepted: threshold (the threshold policy above), "
        "half_split (ablation: N/2 drafts accepted with no bar, N/2 from the target) or logprob "
        "(ablation: a draft whose target log-probability is at least the drafter's; needs "
        "draft_likelihoods).",
    )
    fixed_threshold: float = Field(0.7, description="Threshold for threshold='fixed' (RSD: 0.7).")
    random_accept_prob: float = Field(
        0.5, ge=0.0, le=1.0, description="Acceptance probability for threshold='random'."
    )
    correction: CorrectionStrategy = Field(
        "auto",
        description="How the target writes corrections: speculative decoding with the drafter, "
        "plain batched generation, or auto (the backend picks the faster per call).",
    )
    filter_duplicates: bool = Field(
        True,
        description="Keep one beam per distinct path (text compared ignoring case and spacing); "
        "identical beams waste the search (search-and-learn's filter_duplicates).",
    )
    mcts_simulations: int = Field(
        4, ge=1, description="MCTS: simulations per move (per search for mcts_style='paths')."
    )
    mcts_c_base: float = Field(19652.0, gt=0.0, description="MCTS PUCT c_base (OpenR's).")
    mcts_c_init: float = Field(1.25, ge=0.0, description="MCTS PUCT c_init (OpenR's).")
    mcts_style: MctsStyle = Field(
        "moves",
        description="MCTS: moves (each simulation expands one leaf; after the simulations the "
        "search commits to one child of the move's root, until a committed thought finishes) or "
        "paths (the authors' OpenR vanila_mcts: each simulation expands every node it meets "
        "down to a finished thought; no moves).",
    )
    mcts_answer: MctsAnswer = Field(
        "most_visited",
        description="MCTS: the rule for moves and the answer: most_visited (robust child), "
        "max_value (highest backed-up value) or best_score (moves by visits; the answer is the "
        "best-scored finished thought any simulation reached).",
    )
    max_depth: int = Field(12, ge=1, description="Most steps per solution (paper: 50).")
    max_total_tokens: int | None = Field(
        None, ge=1, description="Token budget over both models; None for no limit."
    )
    time_budget_s: float | None = Field(
        None, gt=0, description="Wall-clock budget in seconds; None for no limit."
    )
    step_delimiter: str = Field("\n\n", min_length=1, description="Separates reasoning steps.")
    max_step_tokens: int = Field(160, ge=1, description="Most new tokens in one thought.")
    temperature: float = Field(0.7, ge=0.0, description="Sampling temperature for thoughts.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling for thoughts.")
    seed: int = Field(0, description="Seeds every sampling call and random rejection.")
    drafter_fallback: bool = Field(
        True,
        description="When the drafter still fails after its retries, let the target write the "
        "step (recorded in stats['failures']) instead of failing the run.",
    )
    draft_timeout_s: float | None = Field(
        None, gt=0, description="Give up on a drafter call after this many seconds (then retry)."
    )
    max_question_chars: int | None = Field(
        20_000,
        ge=1,
        description="Refuse longer questions before any model call (every call sends the whole "
        "question); None for no limit.",
    )

    @model_validator(mode="after")
    def _check_relations(self) -> SpecSearchConfig:
        if self.beam_width > self.width:
            raise ValueError(
                f"beam_width (B={self.beam_width}) must not exceed width (N={self.width})"
            )
        return self

    @property
    def drafts_per_node(self) -> int:
        """M, resolved: the paper's 2N unless set."""
        return self.n_drafts if self.n_drafts is not None else 2 * self.width

    @property
    def speculates(self) -> bool:
        """Whether drafts meet the threshold: ``specsearch``, and ``auto`` when it drafts."""
        return self.mode in ("specsearch", "auto")

    @property
    def recursion_limit(self) -> int:
        """Supersteps a full run can take.

        Beam search: five stages per step plus start and finish. MCTS: per simulation, the leaf
        selection, four stages and the backup, for every thought of every path (``paths``) or
        once per simulation plus the move (``moves``).
        """
        if self.search == "beam":
            return 6 * self.max_depth + 10
        if self.mcts_style == "paths":
            return (5 * self.max_depth + 2) * self.mcts_simulations + 10
        return (6 * self.mcts_simulations + 1) * self.max_depth + 10

    def with_overrides(self, overrides: Mapping[str, Any] | BaseModel | None) -> SpecSearchConfig:
        """This config with some fields replaced, validated whole (a bad value names its field).

        ``None`` values mean "keep"; unknown names are refused.
        """
        if isinstance(overrides, BaseModel):
            overrides = overrides.model_dump(exclude_none=True)
        values = {k: v for k, v in (overrides or {}).items() if v is not None}
        if not values:
            return self
        return SpecSearchConfig.model_validate({**self.model_dump(), **values})


SpecSearchOverrides = create_model(
    "SpecSearchOverrides",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Per-run settings: any SpecSearchConfig field, None to keep the graph's value.\n\n"
    "The graph's context schema: ``graph.invoke(input, context={\"width\": 2})``, Studio's "
    'run settings, or ``{"configurable": {"width": 2}}``. Values are validated as '
    "SpecSearchConfig before any model is called.",
    **{
        name: (field.annotation | None, Field(None, description=field.description))
        for name, field in SpecSearchConfig.model_fields.items()
    },
)


def run_config(
    base: SpecSearchConfig,
    context: Mapping[str, Any] | BaseModel | None,
    configurable: Mapping[str, Any] | None,
) -> SpecSearchConfig:
    """The settings of one run: ``base`` with the run's context and ``configurable`` overrides.

    ``configurable`` also carries LangGraph's own keys (``thread_id``...): only config fields are
    taken from it. The context wins where both set a field.
    """
    picked = {k: v for k, v in (configurable or {}).items() if k in SpecSearchConfig.model_fields}
    if isinstance(context, BaseModel):
        context = context.model_dump(exclude_none=True)
    return base.with_overrides({**picked, **(context or {})})
