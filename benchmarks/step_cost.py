"""What one search step costs on the default pair, and the speedup SpecSearch can reach from it.

At a mid-solution step with two beams (B = 2, N = M = 3), interleaved round by round:

- ``target step``: the target writes all six thoughts and the scorer (the target's likelihood)
  scores them; this is a step of AR, and of SpecSearch when every slot is corrected;
- ``draft step``: the drafter writes six drafts and the scorer scores them;
- ``correct a+b``: the target rewrites ``a`` slots on one path and ``b`` on the other, scored.

Every row writes the same number of tokens (the delimiter is disabled), so calls differ only in
rows and models. ``langgraph_specsearch.bench.cost_model`` then turns the median costs into the
expected SpecSearch step at acceptance p and the speedup over the target's own search, with the
first step written by the target (the EMA warm-up). This bounds what any tuning of the threshold
can reach on this pair and machine; p = 1 is the ideal (every draft accepted).

    HF_HUB_OFFLINE=1 python benchmarks/step_cost.py [--rounds 3] [--tokens 32] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "step_cost.json"
ACCEPTANCE_GRID = (0.0, 0.3, 0.5, 0.55, 0.7, 0.8, 0.9, 1.0)
WANTED = (1.0, 1.2, 1.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per thought")
    parser.add_argument("--steps", type=int, default=4, help="steps per problem (AR: ~3.7)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from machine_report import machine_facts, write_report
    from prefix_sharing import PATHS, QUESTION  # the same mid-solution state

    from langgraph_specsearch.bench.cost_model import (
        acceptance_needed,
        expected_step_seconds,
        outcomes,
        problem_speedup,
    )
    from langgraph_specsearch.bench.stats import median, quantile
    from langgraph_specsearch.generators.base import GenerationSettings
    from langgraph_specsearch.presets.assets import load_default_pair
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    drafter, target = load_default_pair()
    scorer = LikelihoodScorer.from_generator(target)
    nodes, width = len(PATHS), 3
    corrections = [outcome for outcome in outcomes(nodes, width) if outcome != (width,) * nodes]
    calls: dict[str, tuple[object, tuple[int, ...]]] = {"target step": (target, (width,) * nodes)}
    calls["draft step"] = (drafter, (width,) * nodes)
    calls |= {"correct " + "+".join(map(str, o)): (target, o) for o in corrections}

    def step(generator: object, counts: tuple[int, ...], settings: GenerationSettings) -> dict:
        start = time.perf_counter()
        thoughts = generator.generate(QUESTION, PATHS, list(counts), settings)
        generated = time.perf_counter()
        step_lists = [
            [*path, t.text] for path, row in zip(PATHS, thoughts, strict=True) for t in row
        ]
        scorer.score_last([QUESTION] * len(step_lists), step_lists)
        end = time.perf_counter()
        return {"generate": generated - start, "score": end - generated, "total": end - start}

    warm = GenerationSettings(delimiter="", max_new_tokens=2, temperature=args.temperature)
    for generator in (drafter, target):  # first calls pay one-off costs; prefixes get cached
        step(generator, (1,) * nodes, warm)

    seconds: dict[str, list[dict[str, float]]] = {name: [] for name in calls}
    names = list(calls)
    load_before = os.getloadavg()
    for round_index in range(args.rounds):
        settings = GenerationSettings(
            delimiter="",
            max_new_tokens=args.tokens,
            temperature=args.temperature,
            seed=2000 + round_index,
        )
        shift = round_index % len(names)  # rotate the order so drift spreads over every call
        for name in names[shift:] + names[:shift]:
            generator, counts = calls[name]
            if round_index % 2:  # alternate which path gets the larger share
                counts = tuple(reversed(counts))
            seconds[name].append(step(generator, counts, settings))
            print(
                f"round {round_index + 1}/{args.rounds} {name}: {seconds[name][-1]['total']:.2f} s",
                file=sys.stderr,
                flush=True,
            )

    def costs(pick) -> tuple[float, float, dict[tuple[int, ...], float]]:
        target_step = pick(seconds["target step"])
        correction = {o: pick(seconds["correct " + "+".join(map(str, o))]) for o in corrections}
        correction[(width,) * nodes] = target_step
        return target_step, pick(seconds["draft step"]), correction

    def curve(target_step: float, draft_step: float, correction: dict) -> dict:
        def step_at(p: float) -> float:
            return expected_step_seconds(
                p, draft_step, correction, nodes=nodes, n_drafts=width, width=width
            )

        def speedup_at(p: float) -> float:
            return problem_speedup(target_step, step_at(p), args.steps)

        return {
            "by_acceptance": {
                str(p): {
                    "spec_step_seconds": round(step_at(p), 3),
                    "step_speedup": round(target_step / step_at(p), 3),
                    "problem_speedup": round(speedup_at(p), 3),
                }
                for p in ACCEPTANCE_GRID
            },
            "acceptance_needed": {
                f"{wanted}x": acceptance_needed(speedup_at, wanted) for wanted in WANTED
            },
        }

    median_totals = costs(lambda runs: median([run["total"] for run in runs]))
    per_round = [curve(*costs(lambda runs, i=i: runs[i]["total"])) for i in range(args.rounds)]
    ideal = [c["by_acceptance"]["1.0"]["problem_speedup"] for c in per_round]
    report = {
        "what": "seconds per search step on the default pair and the speedup model from them",
        "command": " ".join(["HF_HUB_OFFLINE=1", "python", *sys.argv]),
        "settings": vars(args) | {"output": str(args.output), "nodes": nodes, "width": width},
        **machine_facts(load_before),
        "median_seconds": {
            name: {
                part: round(median([run[part] for run in runs]), 3)
                for part in ("generate", "score", "total")
            }
            for name, runs in seconds.items()
        },
        "model_from_medians": curve(*median_totals),
        "ideal_problem_speedup_per_round": {
            "min": min(ideal),
            "median": round(quantile(ideal, 0.5), 3),
            "max": max(ideal),
        },
        "runs": seconds,
        "note": "shared 2-core machine; every call was run in every round, in rotating order",
    }
    write_report(args.output, report)
    for name, parts in report["median_seconds"].items():
        print(
            f"{name:16s} {parts['total']:6.2f} s (generate {parts['generate']:.2f}, "
            f"score {parts['score']:.2f})"
        )
    model = report["model_from_medians"]
    for p, row in model["by_acceptance"].items():
        print(
            f"acceptance {p:>4s}: step {row['spec_step_seconds']:6.2f} s, step speedup "
            f"{row['step_speedup']:.2f}x, problem speedup {row['problem_speedup']:.2f}x"
        )
    print("acceptance needed:", model["acceptance_needed"])
    print("ideal problem speedup per round:", report["ideal_problem_speedup_per_round"])


if __name__ == "__main__":
    main()
