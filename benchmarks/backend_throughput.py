"""Tokens per second of the transformers backend on the default pair, measured side by side.

Configurations (each writes the same number of tokens per sequence: the delimiter is disabled so
no row stops early): drafter batched, target batched, target plain one sequence at a time, target
assisted by the drafter at a couple of draft lengths; plus the likelihood scorer with and without
shared-prefix reuse. Runs are interleaved round by round and the median is reported, because the
machine is shared: compare ratios from one run, not absolute numbers across runs.

    HF_HUB_OFFLINE=1 python benchmarks/backend_throughput.py [--rounds 3] [--tokens 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

QUESTION = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?"
)
PATH = ["In April, Natalia sold 48 clips."]
RESULTS = Path(__file__).parent / "results" / "backend_throughput.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per sequence")
    parser.add_argument("--drafts", type=int, default=6, help="drafter batch size")
    parser.add_argument("--corrections", type=int, default=3, help="target sequences per call")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--draft-lengths", default="4,6", help="assistant draft lengths")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from machine_report import machine_facts, write_report

    from langgraph_specsearch.generators.base import GenerationSettings
    from langgraph_specsearch.presets.assets import load_default_pair
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    start = time.perf_counter()
    drafter, target = load_default_pair()
    load_seconds = time.perf_counter() - start
    lengths = [int(n) for n in args.draft_lengths.split(",") if n]

    def settings(seed: int) -> GenerationSettings:
        return GenerationSettings(
            delimiter="", max_new_tokens=args.tokens, temperature=args.temperature, seed=seed
        )

    def drafter_batched(seed: int) -> tuple[int, float]:
        drafter.generate(QUESTION, [PATH], [args.drafts], settings(seed))
        return drafter.last_details.new_tokens, drafter.last_details.seconds

    def target_batched(seed: int) -> tuple[int, float]:
        target.generate(QUESTION, [PATH], [args.corrections], settings(seed))
        return target.last_details.new_tokens, target.last_details.seconds

    def target_sequential(seed: int) -> tuple[int, float]:
        tokens, seconds = 0, 0.0
        for index in range(args.corrections):
            target.generate(QUESTION, [PATH], [1], settings(seed + index))
            tokens += target.last_details.new_tokens
            seconds += target.last_details.seconds
        return tokens, seconds

    def assisted(length: int):
        def run(seed: int) -> tuple[int, float]:
            target.num_assistant_tokens = length
            target.generate_speculative(
                QUESTION, [PATH], [args.corrections], settings(seed), drafter, "speculative"
            )
            return target.last_details.new_tokens, target.last_details.seconds

        return run

    configs = {
        f"drafter_batched_x{args.drafts}": drafter_batched,
        f"target_batched_x{args.corrections}": target_batched,
        f"target_sequential_plain_x{args.corrections}": target_sequential,
    }
    for length in lengths:
        configs[f"target_assisted_d{length}_x{args.corrections}"] = assisted(length)

    drafts = [
        t.text
        for t in drafter.generate(
            QUESTION, [PATH], [args.drafts], GenerationSettings(max_new_tokens=48, seed=7)
        )[0]
    ]
    scorer_paths = [[*PATH, text or "..."] for text in drafts]

    def scorer_run(share: bool):
        def run(seed: int) -> tuple[int, float]:
            scorer = LikelihoodScorer.from_generator(target, share_prefix=share)
            scorer.score_last([QUESTION] * len(scorer_paths), scorer_paths)
            return len(scorer_paths), scorer.last_seconds

        return run

    configs["likelihood_target_shared_prefix"] = scorer_run(True)
    configs["likelihood_target_no_sharing"] = scorer_run(False)

    samples: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    load_before = os.getloadavg()
    for round_index in range(args.rounds):
        for name, run in configs.items():
            tokens, seconds = run(1000 + round_index)
            samples[name].append({"tokens": tokens, "seconds": seconds})
            print(
                f"round {round_index + 1}/{args.rounds} {name}: {tokens} in {seconds:.2f} s "
                f"({tokens / seconds:.2f}/s)",
                file=sys.stderr,
                flush=True,
            )
    summary = {}
    for name, runs in samples.items():
        rates = [r["tokens"] / r["seconds"] for r in runs if r["seconds"] > 0]
        unit = "paths_per_second" if name.startswith("likelihood") else "tokens_per_second"
        summary[name] = {f"median_{unit}": statistics.median(rates), "runs": runs}
    base = summary[f"target_sequential_plain_x{args.corrections}"]["median_tokens_per_second"]
    ratios = {
        name: round(data["median_tokens_per_second"] / base, 3)
        for name, data in summary.items()
        if name.startswith("target")
    }
    report = {
        "what": "backend throughput, default pair, bfloat16, interleaved rounds, median",
        "command": _command(),
        "settings": vars(args) | {"output": str(args.output)},
        **machine_facts(load_before),
        "load_seconds_pair_from_cache": round(load_seconds, 2),
        "results": summary,
        "target_speed_relative_to_sequential_plain": ratios,
        "note": "shared 2-core machine: compare ratios within this file, not absolute numbers",
    }
    write_report(args.output, report)
    print(json.dumps({k: report[k] for k in ("target_speed_relative_to_sequential_plain",)}))
    for name, data in summary.items():
        key = next(k for k in data if k.startswith("median"))
        print(f"{name:40s} {data[key]:8.2f} {key.removeprefix('median_')}")


def _command() -> str:
    env = " ".join(
        f"{name}={os.environ[name]}"
        for name in ("LANGGRAPH_SPECSEARCH_THREADS", "OMP_NUM_THREADS", "HF_HUB_OFFLINE")
        if name in os.environ
    )
    return f"{env} python benchmarks/backend_throughput.py {' '.join(sys.argv[1:])}".strip()


if __name__ == "__main__":
    main()
