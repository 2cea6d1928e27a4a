"""Generators and scorers by name: what ``--drafter``, ``--scorer`` and ``SPECSEARCH_*`` mean."""

from __future__ import annotations

import sys
import time
from typing import Any

SCORERS = ("likelihood-target", "prm-head", "likelihood-drafter")
# The best measured evaluator of the drafter's own steps (AUROC 0.92 against the PRM head's 0.74,
# docs/scorers.md); the PRM head is the cheap one (drafts scored from the drafting pass).
DEFAULT_SCORER = "likelihood-target"
DEFAULT_DRAFTER = "qwen2.5-coder-0.5b"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_real_models(scorer_name: str, drafter_name: str = DEFAULT_DRAFTER) -> tuple[Any, Any, Any]:
    """The chosen drafter, the 1.5B target and the chosen scorer, with progress on stderr."""
    from langgraph_specsearch.presets.assets import DRAFTERS, SPECS, load_default_generator

    drafter_key = DRAFTERS[drafter_name]
    if scorer_name == "prm-head" and drafter_key != "drafter":
        raise SystemExit(
            "--scorer prm-head reads the hidden states of Qwen2.5-Coder-0.5B, the default "
            f"drafter; with --drafter {drafter_name} use --scorer likelihood-target"
        )
    start = time.perf_counter()
    _log(f"loading the drafter ({SPECS[drafter_key].upstream.split('/')[-1]}) ...")
    drafter = load_default_generator(drafter_key)
    _log("loading the target (Qwen2.5-Coder-1.5B-Instruct) ...")
    target = load_default_generator("target")
    scorer = make_scorer(scorer_name, drafter, target)
    _log(f"models ready in {time.perf_counter() - start:.1f} s")
    return drafter, target, scorer


def make_scorer(name: str, drafter: Any, target: Any) -> Any:
    """A step scorer over the loaded models, by name."""
    if name in ("likelihood-target", "likelihood-drafter"):
        from langgraph_specsearch.scorers.transformers import LikelihoodScorer

        return LikelihoodScorer.from_generator(target if name == "likelihood-target" else drafter)
    if name == "prm-head":
        from langgraph_specsearch.scorers.prm_head import load_default_prm_head

        return load_default_prm_head(drafter)
    raise ValueError(f"unknown scorer {name!r}: use one of {', '.join(SCORERS)}")
