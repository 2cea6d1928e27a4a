"""Where a llama.cpp generation call's time goes: llama.cpp's own decode, against the rest.

One search step's call on the shipped Q4_K_M target (two frontier paths mid-solution, three
thoughts each, ``--tokens`` new tokens per row, the delimiter disabled so every row writes that
many), timed piece by piece by wrapping the functions the call makes:

- ``llama_decode``: the engine's forward passes (prompt reading and decode steps);
- ``llama_sampler_sample``: llama.cpp's sampler chain (temperature, top-p over the whole
  vocabulary, the draw), once per row and token;
- ``log_softmax_at``: the raw log-prob of each sampled token, kept so the target's own thoughts
  are scored without a second pass (only while a likelihood scorer records self-scores);
- ``_accept``: appending the token and looking for the step delimiter in the row's text;
- the rest: Python around them (batch building, KV copies, bookkeeping).

Variants, alternated round by round: the search's settings (temperature 0.7, top-p 0.95) with and
without self-score recording, and greedy decoding (the sampler chain reduced to an arg-max).
The prompt cache is cleared before each call, so every call reads its prompts afresh.

    HF_HUB_OFFLINE=1 python benchmarks/llamacpp_overhead.py [--rounds 3] [--tokens 48]

Writes ``benchmarks/results/llamacpp_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results" / "llamacpp_overhead.json"
QUESTION = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' market "
    "daily for $2 per fresh duck egg. How much in dollars does she make every day at the "
    "farmers' market?"
)
PATHS = [
    ["Janet's ducks lay 16 eggs per day.", "She eats 3 and bakes with 4, so she uses 3 + 4 = 7."],
    ["Janet's ducks lay 16 eggs per day.", "She uses 3 + 4 = 7 eggs a day herself."],
]
PIECES = ("llama_decode", "llama_sampler_sample", "log_softmax_at", "_accept")


class Timers:
    """Seconds and calls per wrapped function, for the call being measured."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.calls[name] += 1

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def instrument(timers: Timers) -> None:
    """Wrap the four pieces where the generator looks them up (module attributes)."""
    import llama_cpp

    from langgraph_specsearch.generators import llamacpp as engine

    for name in ("llama_decode", "llama_sampler_sample"):
        setattr(llama_cpp, name, timers.wrap(name, getattr(llama_cpp, name)))
    engine.log_softmax_at = timers.wrap("log_softmax_at", engine.log_softmax_at)
    accept = engine.LlamaCppThoughtGenerator._accept
    engine.LlamaCppThoughtGenerator._accept = timers.wrap("_accept", accept)  # type: ignore[method-assign]


def one_call(generator: Any, timers: Timers, settings: Any, record: bool) -> dict[str, Any]:
    from langgraph_specsearch.generators.self_scores import SelfScoreCache

    generator.self_scores = SelfScoreCache() if record else None
    generator.clear_prefix_cache()
    timers.reset()
    start = time.perf_counter()
    groups = generator.generate(QUESTION, PATHS, [3, 3], settings)
    total = time.perf_counter() - start
    steps = generator.last_details.decode_steps
    parts = {name: timers.seconds.get(name, 0.0) for name in PIECES}
    return {
        "seconds": total,
        "decode_steps": steps,
        "rows": sum(len(g) for g in groups),
        "tokens": sum(t.tokens for g in groups for t in g),
        "parts": parts,
        "calls": {name: timers.calls.get(name, 0) for name in PIECES},
        "rest": total - sum(parts.values()),
    }


def spread(values: list[float]) -> dict[str, float]:
    from langgraph_specsearch.bench.stats import median

    return {
        "median": round(median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--gguf", type=Path, default=None, help="another GGUF [the target]")
    args = parser.parse_args()

    from langgraph_specsearch.generators.base import GenerationSettings
    from langgraph_specsearch.presets.assets import load_default_llamacpp_generator

    timers = Timers()
    instrument(timers)
    if args.gguf is None:
        generator = load_default_llamacpp_generator("target")
    else:
        from langgraph_specsearch.generators.llamacpp import LlamaCppThoughtGenerator

        generator = LlamaCppThoughtGenerator.from_gguf(args.gguf, n_ctx=2048)
    base = {"delimiter": "", "max_new_tokens": args.tokens, "seed": 1}
    variants = {
        "search settings, self-scores recorded": (
            GenerationSettings(temperature=0.7, top_p=0.95, **base),
            True,
        ),
        "search settings": (GenerationSettings(temperature=0.7, top_p=0.95, **base), False),
        "greedy": (GenerationSettings(temperature=0.0, **base), False),
    }
    one_call(generator, timers, *variants["greedy"])  # warm-up, not reported
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for round_index in range(args.rounds):
        names = list(variants)
        names = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in names:
            run = one_call(generator, timers, *variants[name])
            runs[name].append(run)
            per_step = {
                k: round(1000 * v / run["decode_steps"], 1) for k, v in run["parts"].items()
            }
            print(f"round {round_index} {name}: {run['seconds']:.2f} s, ms per step {per_step}")

    summary: dict[str, Any] = {}
    for name, items in runs.items():
        per_step = lambda key, items=items: [  # noqa: E731
            1000 * (r["parts"][key] if key in r["parts"] else r[key]) / r["decode_steps"]
            for r in items
        ]
        summary[name] = {
            "call_seconds": spread([r["seconds"] for r in items]),
            "ms_per_decode_step": {key: spread(per_step(key)) for key in (*PIECES, "rest")},
            "share": {
                key: round(
                    sum((r["parts"][key] if key in r["parts"] else r[key]) for r in items)
                    / sum(r["seconds"] for r in items),
                    3,
                )
                for key in (*PIECES, "rest")
            },
            "decode_steps": items[0]["decode_steps"],
            "rows": items[0]["rows"],
        }
    report = {
        "command": f"HF_HUB_OFFLINE=1 python benchmarks/llamacpp_overhead.py --rounds "
        f"{args.rounds} --tokens {args.tokens}" + (f" --gguf {args.gguf}" if args.gguf else ""),
        "model": generator.name,
        "threads": getattr(generator.context, "n_threads", None),
        "summary": summary,
        "runs": runs,
        **provenance(),
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
