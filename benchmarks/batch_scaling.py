"""What merging concurrent searches' calls can save on llama.cpp: the ceiling of AR's gain.

At concurrency c, c AR searches each ask the target for one step: B = 2 paths, N = 3 thoughts
each, 6 rows per search. Run one after another, that is c calls of 6 rows; merged (what the
device queue does when the calls arrive together), one call of 6c rows. The ratio of the two
times is what batching itself gives AR at that concurrency on this engine. The concurrency
benchmark's 6-vs-1 gain also holds what does not come from batching: other searches' calls
filling the gaps between one search's calls, and rows of unequal length.

Every row writes exactly ``--tokens`` tokens (the step delimiter is off), so the rows' lengths
do not decide the result. The prompts are real: c GSM8K problems, each with an empty path and a
one-step path. The prompt cache is cleared before every call. Two engine settings, alternated
round by round:

- ``default``: the generator as the package builds it (8 prompt slots, a 4096-token context);
  a merged call with more distinct prompts, or more tokens, than those hold is split into
  chunks decoded one after another;
- ``wide``: room for every row and prompt in one chunk (``--wide-slots``, ``--wide-ctx``).

    HF_HUB_OFFLINE=1 python benchmarks/batch_scaling.py [--levels 3 6] [--rounds 3] [--tokens 48]

Writes ``benchmarks/results/batch_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

from provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results" / "batch_scaling.json"
FIRST_STEP = "First, list the quantities the problem gives and what it asks for."


def questions(n: int) -> list[str]:
    """The first n problems of the bench's seeded GSM8K subset."""
    from langgraph_specsearch.bench.data import default_problems_path, load_jsonl, seeded_subset

    return [p.question for p in seeded_subset(load_jsonl(default_problems_path()), n, 0)]


def one_after_another(generator: Any, items: list[str], settings: Any) -> float:
    """c calls of one search's step, each alone on the engine."""
    start = time.perf_counter()
    for question in items:
        generator.generate(question, [[], [FIRST_STEP]], [3, 3], settings)
    return time.perf_counter() - start


def merged(generator: Any, items: list[str], settings: Any) -> float:
    """The same c calls made at once: held at the device queue until all have arrived, then
    released together, so the merger runs them as one call (as concurrent searches do when
    they meet at the device)."""
    threads = [
        threading.Thread(target=generator.generate, args=(q, [[], [FIRST_STEP]], [3, 3], settings))
        for q in items
    ]
    with generator.merger.queue.exclusive():
        for thread in threads:
            thread.start()
        deadline = time.perf_counter() + 30
        while len(generator.merger._pending) < len(items) and time.perf_counter() < deadline:
            time.sleep(0.01)
        start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--wide-slots", type=int, default=16)
    parser.add_argument("--wide-ctx", type=int, default=8192)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from langgraph_specsearch.bench.stats import median
    from langgraph_specsearch.generators.base import GenerationSettings
    from langgraph_specsearch.generators.merging import DeviceQueue
    from langgraph_specsearch.presets.assets import load_default_llamacpp_generator

    engines = {
        "default": load_default_llamacpp_generator("target", device_queue=DeviceQueue("a")),
        "wide": load_default_llamacpp_generator(
            "target",
            device_queue=DeviceQueue("b"),
            n_ctx=args.wide_ctx,
            prefix_cache_size=args.wide_slots,
            max_batch_size=max(32, 6 * max(args.levels)),
        ),
    }
    settings = GenerationSettings(
        delimiter="", max_new_tokens=args.tokens, temperature=0.7, top_p=0.95, seed=1
    )
    items = questions(max(args.levels))
    for generator in engines.values():  # warm-up, not reported
        generator.generate(items[0], [[]], [1], settings)

    runs: list[dict[str, Any]] = []
    for round_index in range(args.rounds):
        names = list(engines) if round_index % 2 == 0 else list(reversed(engines))
        for level in args.levels:
            for name in names:
                generator = engines[name]
                chunks_before = generator.total.model_calls
                generator.clear_prefix_cache()
                alone = one_after_another(generator, items[:level], settings)
                calls_alone = generator.total.model_calls - chunks_before
                generator.clear_prefix_cache()
                chunks_before = generator.total.model_calls
                together = merged(generator, items[:level], settings)
                chunks = generator.total.model_calls - chunks_before
                run = {
                    "round": round_index,
                    "engine": name,
                    "level": level,
                    "rows": 6 * level,
                    "one_after_another_s": round(alone, 3),
                    "merged_s": round(together, 3),
                    "gain": round(alone / together, 4),
                    "calls_alone": calls_alone,
                    "merged_chunks": chunks,
                }
                runs.append(run)
                print(json.dumps(run))

    summary: dict[str, Any] = {}
    for name in engines:
        for level in args.levels:
            mine = [r for r in runs if r["engine"] == name and r["level"] == level]
            gains = [r["gain"] for r in mine]
            summary[f"{name}, c={level}"] = {
                "gain_median": round(median(gains), 4),
                "gain_min": min(gains),
                "gain_max": max(gains),
                "merged_chunks": sorted({r["merged_chunks"] for r in mine}),
            }
    report = {
        "what": __doc__.split("\n\n")[0],
        "command": "HF_HUB_OFFLINE=1 python benchmarks/batch_scaling.py --levels "
        + " ".join(map(str, args.levels))
        + f" --rounds {args.rounds} --tokens {args.tokens} --wide-slots {args.wide_slots} "
        f"--wide-ctx {args.wide_ctx}",
        "model": engines["default"].name,
        "threads": engines["default"].n_threads,
        **provenance(),
        "summary": summary,
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
