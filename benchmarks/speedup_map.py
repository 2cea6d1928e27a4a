"""Which drafter/target cost ratios and acceptance rates reach 2x and 3x, by the cost model.

``langgraph_specsearch.bench.cost_model`` predicts a SpecSearch problem's time from each model's
call profile, the scorer's cost, the search's shape and the acceptance rate. This script asks it,
for a drafter ``c`` times cheaper than the target, the smallest acceptance that reaches 2x and 3x
over AR, and the speedup with every draft accepted, in two regimes:

- ``gpu``: a serving engine where a decode step costs the same for 1 to 24 rows (memory-bound,
  as on a GPU at these batch sizes), a prompt costs 4 decode steps, and the PRM's score of a
  thought costs a tenth of a decode step (a 7B PRM scoring in one batched pass);
- ``this_cpu``: the call profile ``specsearch estimate`` measured here (read from
  ``--estimate FILE``, the JSON of ``specsearch estimate --json``), with the drafter rescaled.

Shapes: the paper's (B = 2, N = 6, M = 12, 8 steps, 60-token thoughts) and the CLI's (B = 2,
N = 3, M = 3, 4 steps, 32 tokens).

    python benchmarks/speedup_map.py [--estimate FILE]   # writes results/speedup_map.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from langgraph_specsearch.bench.cost_model import (
    CallProfile,
    PairProfile,
    SearchShape,
    predicted_speedup,
)
from langgraph_specsearch.bench.estimate import pair_from_estimate

RESULTS = Path(__file__).parent / "results" / "speedup_map.json"
RATIOS = (1.5, 2, 3, 5, 10, 20)
WANTED = (2.0, 3.0)
SHAPES = {
    "paper (B=2, N=6, M=12)": SearchShape(2, 6, 12, 8, 60),
    "cli (B=2, N=3, M=3)": SearchShape(2, 3, 3, 4, 32),
}


def gpu_pair(ratio: float) -> PairProfile:
    """Decode flat in rows (memory-bound), the drafter ``ratio`` times cheaper, a cheap PRM."""
    target = CallProfile({1: 1.0, 24: 1.0}, prompt_seconds=4.0)
    return PairProfile(target.scaled(1 / ratio), target, score_fixed=0.5, score_row=0.1)


def measured_pair(estimate: dict[str, Any], ratio: float) -> PairProfile:
    """This machine's measured profile with the drafter rescaled to ``ratio`` x cheaper."""
    measured = pair_from_estimate(estimate)
    scale = measured.cost_ratio() / ratio
    return replace(measured, drafter=measured.drafter.scaled(scale))


def acceptance_for(pair: PairProfile, shape: SearchShape, wanted: float) -> float | None:
    """The smallest acceptance (to 0.005) at which SpecSearch reaches ``wanted`` x AR."""
    if predicted_speedup(pair, shape, 1.0) < wanted:
        return None
    low, high = 0.0, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        if predicted_speedup(pair, shape, middle) >= wanted:
            high = middle
        else:
            low = middle
    return round(high, 3)


def table(make_pair: Any, prompt_tokens: float = 0.0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, base in SHAPES.items():
        shape = replace(base, prompt_tokens=prompt_tokens)  # what a cold scorer reads first
        rows = {}
        for ratio in RATIOS:
            pair = make_pair(ratio)
            rows[str(ratio)] = {
                "all_accepted": round(predicted_speedup(pair, shape, 1.0), 3),
                "at_0.5": round(predicted_speedup(pair, shape, 0.5), 3),
                "at_0.8": round(predicted_speedup(pair, shape, 0.8), 3),
                **{f"acceptance_for_{w:g}x": acceptance_for(pair, shape, w) for w in WANTED},
            }
        out[name] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimate", type=Path, help="specsearch estimate --json output")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "what": __doc__.split("\n\n")[0],
        "command": "python benchmarks/speedup_map.py"
        + (f" --estimate {args.estimate}" if args.estimate else ""),
        "ratios": list(RATIOS),
        "gpu": table(gpu_pair),
    }
    if args.estimate:
        estimate = json.loads(args.estimate.read_text())
        report["this_cpu"] = table(
            lambda ratio: measured_pair(estimate, ratio),
            float(estimate.get("measured", {}).get("prompt_tokens", 0.0)),
        )
        report["this_cpu_measured_ratio"] = estimate.get("cost_ratio")
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    for regime in ("gpu", "this_cpu"):
        for shape, rows in report.get(regime, {}).items():
            print(f"{regime}, {shape}")
            for ratio, row in rows.items():
                print(f"  drafter {ratio}x cheaper: {row}")


if __name__ == "__main__":
    main()
