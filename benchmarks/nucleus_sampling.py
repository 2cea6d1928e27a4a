"""Top-p sampling over the nucleus only against transformers' sampler, on the default pair.

``TransformersThoughtGenerator(nucleus_sampling=True)`` (the default) draws each token with
:class:`~langgraph_specsearch.generators.sampling.NucleusSampler` instead of
sorting and sampling the whole 151,936-token vocabulary. Measured on the batched calls a
search step makes (two paths, three thoughts each, drafter and target), every row writing the
same number of tokens, both samplers interleaved round by round (order alternating); the
report gives the median seconds and the median of per-round ratios (transformers' sampler /
nucleus) with its spread.

    HF_HUB_OFFLINE=1 python benchmarks/nucleus_sampling.py [--rounds 5] [--tokens 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "nucleus_sampling.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per thought")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from machine_report import machine_facts, write_report
    from prefix_sharing import PATHS, QUESTION  # the same mid-solution state

    from langgraph_specsearch.bench.stats import median, ratio_summary
    from langgraph_specsearch.generators.base import GenerationSettings
    from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator
    from langgraph_specsearch.presets.assets import load_default_pair

    samplers = {}
    for generator in load_default_pair():
        samplers[generator.name] = {
            "nucleus": generator,
            "transformers": TransformersThoughtGenerator(
                generator.model, generator.tokenizer, nucleus_sampling=False
            ),
        }
    seconds = {name: {"nucleus": [], "transformers": []} for name in samplers}
    load_before = os.getloadavg()
    for round_index in range(args.rounds):
        settings = GenerationSettings(
            delimiter="",
            max_new_tokens=args.tokens,
            temperature=0.7,
            top_p=0.95,
            seed=3000 + round_index,
        )
        order = ("nucleus", "transformers") if round_index % 2 == 0 else ("transformers", "nucleus")
        for name, pair in samplers.items():
            for variant in order:
                start = time.perf_counter()
                pair[variant].generate(QUESTION, PATHS, [3, 3], settings)
                seconds[name][variant].append(time.perf_counter() - start)
            last = {variant: runs[-1] for variant, runs in seconds[name].items()}
            print(
                f"round {round_index + 1}/{args.rounds} {name}: nucleus {last['nucleus']:.2f} s, "
                f"transformers {last['transformers']:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    results = {
        name: {
            "median_seconds_nucleus": round(median(runs["nucleus"]), 3),
            "median_seconds_transformers": round(median(runs["transformers"]), 3),
            "speedup": ratio_summary(
                [a / b for a, b in zip(runs["transformers"], runs["nucleus"], strict=True)]
            ),
            "runs": runs,
        }
        for name, runs in seconds.items()
    }
    report = {
        "what": "nucleus-only top-p sampling vs transformers' sampler, 2 paths x 3 thoughts",
        "command": " ".join(["HF_HUB_OFFLINE=1", "python", *sys.argv]),
        "settings": vars(args) | {"output": str(args.output), "temperature": 0.7, "top_p": 0.95},
        **machine_facts(load_before),
        "results": results,
        "note": "shared 2-core machine: compare the ratios within this file",
    }
    write_report(args.output, report)
    for name, data in results.items():
        spread = data["speedup"]
        print(
            f"{name:34s} nucleus {data['median_seconds_nucleus']:6.2f} s  transformers "
            f"{data['median_seconds_transformers']:6.2f} s  speedup {spread['median']:.2f}x "
            f"(IQR {spread['q1']:.2f}-{spread['q3']:.2f})"
        )


if __name__ == "__main__":
    main()
