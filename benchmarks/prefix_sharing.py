"""Shared prefill against per-row prefill, on the default pair, for the calls a search step makes.

A step asks each frontier path for several thoughts, so the rows of one ``generate`` call repeat
a few prompts. ``TransformersThoughtGenerator(share_prefix=True)`` (the default) reads each
distinct prompt once and copies its key/value cache to its rows; ``share_prefix=False`` lets
``generate`` read every row's prompt. The calls measured are the ones a search makes at a
mid-solution step with two beams (B = 2, N = 3): the target writing all six thoughts (AR), the
drafter writing six drafts, and the target correcting three of them (two on one path, one on the
other). Every row writes the same number of tokens (the delimiter is disabled), so only the
prompt reading differs. Configurations are interleaved round by round on one machine; the report
gives, per call, the median seconds and the median of the per-round ratios (per-row prefill /
shared prefill) with its spread.

    HF_HUB_OFFLINE=1 python benchmarks/prefix_sharing.py [--rounds 5] [--tokens 40]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

QUESTION = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' market "
    "daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' "
    "market?"
)
PATHS = [
    ["Janet's ducks lay 16 eggs per day.", "She eats 3 eggs for breakfast every morning."],
    [
        "Janet's ducks lay 16 eggs per day.",
        "She uses 3 + 4 = 7 eggs every day for breakfast and muffins.",
        "So she has 16 - 7 = 9 eggs left to sell.",
    ],
]
RESULTS = Path(__file__).parent / "results" / "prefix_sharing.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=40, help="new tokens per thought")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from machine_report import machine_facts, write_report

    from langgraph_specsearch.bench.stats import median, quantile, ratio_summary
    from langgraph_specsearch.generators.base import GenerationSettings
    from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator
    from langgraph_specsearch.presets.assets import load_default_pair

    drafter, target = load_default_pair()
    twins = {
        model: TransformersThoughtGenerator(model.model, model.tokenizer, share_prefix=False)
        for model in (drafter, target)
    }
    calls = {  # name -> (generator, counts per path)
        "target_all_thoughts_2x3": (target, [3, 3]),
        "drafter_drafts_2x3": (drafter, [3, 3]),
        "target_corrections_2+1": (target, [2, 1]),
    }
    prompt_tokens = [
        len(target.tokenizer(target.render_prompt(QUESTION, path, "\n\n"))["input_ids"])
        for path in PATHS
    ]

    seconds: dict[str, dict[str, list[float]]] = {
        name: {"shared": [], "per_row": []} for name in calls
    }
    same_tokens: dict[str, list[float]] = {name: [] for name in calls}
    load_before = os.getloadavg()
    for round_index in range(args.rounds):
        settings = GenerationSettings(
            delimiter="",
            max_new_tokens=args.tokens,
            temperature=args.temperature,
            seed=1000 + round_index,
        )
        for name, (generator, counts) in calls.items():
            order = ("shared", "per_row") if round_index % 2 == 0 else ("per_row", "shared")
            ids = {}
            for variant in order:
                runner = generator if variant == "shared" else twins[generator]
                start = time.perf_counter()
                runner.generate(QUESTION, PATHS, counts, settings)
                seconds[name][variant].append(time.perf_counter() - start)
                ids[variant] = runner.last_token_ids
            rows = list(zip(ids["shared"], ids["per_row"], strict=True))
            same_tokens[name].append(sum(a == b for a, b in rows) / len(rows))
            last = {variant: runs[-1] for variant, runs in seconds[name].items()}
            print(
                f"round {round_index + 1}/{args.rounds} {name}: shared {last['shared']:.2f} s, "
                f"per row {last['per_row']:.2f} s",
                file=sys.stderr,
                flush=True,
            )

    results = {}
    for name, runs in seconds.items():
        ratios = [a / b for a, b in zip(runs["per_row"], runs["shared"], strict=True)]
        results[name] = {
            "median_seconds_shared": round(median(runs["shared"]), 3),
            "median_seconds_per_row": round(median(runs["per_row"]), 3),
            "speedup_of_sharing": ratio_summary(ratios),
            "share_of_rows_token_identical": [
                round(quantile(same_tokens[name], q), 3) for q in (0.0, 0.5, 1.0)
            ],
            "runs": runs,
        }
    report = {
        "what": "shared prefill vs per-row prefill, default pair, bfloat16, interleaved, median",
        "command": " ".join(["python", *sys.argv]),
        "threads_env": os.environ.get("LANGGRAPH_SPECSEARCH_THREADS"),
        "settings": vars(args) | {"output": str(args.output)},
        "prompt_tokens_per_path": prompt_tokens,
        **machine_facts(load_before),
        "results": results,
        "note": "shared 2-core machine: compare the ratios within this file",
    }
    write_report(args.output, report)
    for name, data in results.items():
        spread = data["speedup_of_sharing"]
        print(
            f"{name:28s} shared {data['median_seconds_shared']:6.2f} s  per row "
            f"{data['median_seconds_per_row']:6.2f} s  speedup {spread['median']:.2f}x "
            f"(IQR {spread['q1']:.2f}-{spread['q3']:.2f})"
        )


if __name__ == "__main__":
    main()
