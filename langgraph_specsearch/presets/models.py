"""Generators and scorers by name: what ``--engine``, ``--drafter``, ``--scorer`` and
``SPECSEARCH_*`` mean."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

SCORERS = ("likelihood-target", "prm-head", "likelihood-drafter")
# The best measured evaluator of the drafter's own steps (AUROC 0.92 against the PRM head's 0.74,
# docs/scorers.md); the PRM head is the cheap one (drafts scored from the drafting pass).
DEFAULT_SCORER = "likelihood-target"
DEFAULT_DRAFTER = "qwen2.5-coder-0.5b"

# llama.cpp runs the shipped Q4_K_M weights as they are; transformers runs them dequantized to
# bfloat16 (and has what llama.cpp lacks here: hidden states for the PRM head, token-level
# speculative decoding for corrections, GPUs). Measured speeds: docs/engines.md.
ENGINES = ("llamacpp", "transformers")
ENGINE_ENV = "SPECSEARCH_ENGINE"


def default_engine() -> str:
    """``$SPECSEARCH_ENGINE`` if set, else llama.cpp where it is installed, else transformers.

    Measured here (docs/engines.md, ``gsm8k-50-engines``): AR on llama.cpp was right on as many
    of 50 GSM8K problems as on transformers (30 each, 5 solved by only one engine either way) and
    1.57x faster (median of paired ratios), on the same Q4_K_M weights.
    """
    chosen = os.environ.get(ENGINE_ENV, "").strip().lower()
    if chosen:
        if chosen not in ENGINES:
            raise ValueError(f"{ENGINE_ENV}={chosen!r}: use one of {', '.join(ENGINES)}")
        return chosen
    if _installed("llama_cpp"):
        return "llamacpp"
    return "transformers"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_engine(engine: str, scorer_name: str | None = None) -> None:
    """Refuse, before any model loads, an engine that is unknown, not installed, or cannot run
    ``scorer_name``."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine == "llamacpp":
        if not _installed("llama_cpp"):
            raise ValueError(
                "the llamacpp engine needs llama-cpp-python: pip install "
                "'langgraph-specsearch[llamacpp]' (docs/engines.md), or use --engine transformers"
            )
        if scorer_name == "prm-head":
            raise ValueError(
                "--scorer prm-head reads the drafter's hidden states, which only the transformers "
                "engine exposes: add --engine transformers, or use --scorer likelihood-target"
            )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# What only the transformers engine can do here: read the drafter's hidden states (the PRM head)
# and correct with token-level speculative decoding (the SpS baseline).
_NEEDS_TRANSFORMERS = {"scorer": ("prm-head",), "mode": ("target_speculative",)}


def resolve_engine(requested: str | None, scorer_name: str, modes: Sequence[str] = ()) -> str:
    """The engine a command runs on, checked before any model loads.

    An engine the user named is checked and kept (a ValueError names the fix when it cannot run
    ``scorer_name`` or one of ``modes``). Without one, the default is :func:`default_engine`,
    except that a scorer or mode only transformers can run picks transformers.
    """
    needs = scorer_name in _NEEDS_TRANSFORMERS["scorer"] or any(
        mode in _NEEDS_TRANSFORMERS["mode"] for mode in modes
    )
    if requested is None:
        if needs:
            return "transformers"
        requested = default_engine()
    check_engine(requested, scorer_name)
    if requested == "llamacpp" and needs:
        raise ValueError(
            "target_speculative corrects with token-level speculative decoding, which the "
            "llamacpp engine does not have here: use --engine transformers"
        )
    return requested


def load_real_models(
    scorer_name: str, drafter_name: str = DEFAULT_DRAFTER, engine: str | None = None
) -> tuple[Any, Any, Any]:
    """The chosen drafter, the 1.5B target and the chosen scorer on ``engine`` (default:
    :func:`resolve_engine`'s choice for the scorer), with progress on stderr."""
    from langgraph_specsearch.presets.assets import (
        DRAFTERS,
        SPECS,
        load_default_generator,
        load_default_llamacpp_generator,
    )

    engine = resolve_engine(engine, scorer_name)
    load = load_default_llamacpp_generator if engine == "llamacpp" else load_default_generator
    drafter_key = DRAFTERS[drafter_name]
    if scorer_name == "prm-head" and drafter_key != "drafter":
        raise SystemExit(
            "--scorer prm-head reads the hidden states of Qwen2.5-Coder-0.5B, the default "
            f"drafter; with --drafter {drafter_name} use --scorer likelihood-target"
        )
    start = time.perf_counter()
    _log(f"loading the drafter ({SPECS[drafter_key].upstream.split('/')[-1]}, {engine}) ...")
    drafter = load(drafter_key)
    _log(f"loading the target (Qwen2.5-Coder-1.5B-Instruct, {engine}) ...")
    target = load("target")
    scorer = make_scorer(scorer_name, drafter, target)
    _log(f"models ready in {time.perf_counter() - start:.1f} s")
    return drafter, target, scorer


def make_scorer(name: str, drafter: Any, target: Any) -> Any:
    """A step scorer over the loaded models, by name, on the engine the models run on."""
    if name in ("likelihood-target", "likelihood-drafter"):
        return likelihood_scorer(target if name == "likelihood-target" else drafter)
    if name == "prm-head":
        if _on_llamacpp(drafter):
            check_engine("llamacpp", name)
        from langgraph_specsearch.scorers.prm_head import load_default_prm_head

        return load_default_prm_head(drafter)
    raise ValueError(f"unknown scorer {name!r}: use one of {', '.join(SCORERS)}")


def likelihood_scorer(model: Any, **options: Any) -> Any:
    """A scorer from ``model``'s own likelihood of a step, on the engine the model runs on
    (sharing its weights); ``options`` go to the scorer (``raw``, ``reuse_generation``, ...)."""
    if _on_llamacpp(model):
        from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

        return LlamaCppLikelihoodScorer.from_generator(model, **options)
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    return LikelihoodScorer.from_generator(model, **options)


def make_draft_likelihoods(drafter: Any, target: Any) -> tuple[Any, Any]:
    """``(drafter scorer, target scorer)`` of a step's mean log-prob under each model: what
    ``acceptance="logprob"`` compares (the authors' ablation), sharing the loaded weights.

    They do not have the models keep their generation's log-probs: that would add work to every
    drafting call of every mode sharing the drafter, whether or not a run uses the ablation.
    """
    return (
        likelihood_scorer(drafter, raw=True, reuse_generation=False),
        likelihood_scorer(target, raw=True, reuse_generation=False),
    )


def _on_llamacpp(generator: Any) -> bool:
    """Whether ``generator`` runs on llama.cpp (checked by name: llama_cpp may not be installed)."""
    return type(generator).__name__ == "LlamaCppThoughtGenerator"


def engine_of(generator: Any) -> str:
    """The engine name of a loaded generator ("llamacpp", "transformers", or its class name)."""
    if _on_llamacpp(generator):
        return "llamacpp"
    if type(generator).__name__ == "TransformersThoughtGenerator":
        return "transformers"
    return type(generator).__name__
