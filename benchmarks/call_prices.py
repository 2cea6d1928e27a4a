"""Every target call of AR runs on llama.cpp, measured, against the cost model's price for it.

The cost model prices a call from its rows, its prompts and its rows' lengths; a whole problem's
prediction adds a model of the lengths (the run-wide spread, rows drawn independently). Pricing
each call with the lengths its rows really wrote separates the two: if the calls are priced
right, a gap in whole-problem predictions lies in the model of the lengths. The first call of a
problem also pays the question's cold read (``cold_seconds``).

    HF_HUB_OFFLINE=1 python benchmarks/call_prices.py \
        --estimate benchmarks/results/estimate_llamacpp_a222f01.json --problems 2

Writes benchmarks/results/call_prices.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from provenance import write_results

from langgraph_specsearch.bench.cost_model import SearchShape, length_spread
from langgraph_specsearch.bench.data import default_problems_path, load_jsonl
from langgraph_specsearch.bench.estimate import pair_from_estimate
from langgraph_specsearch.bench.runner import forget_between_runs
from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.presets.models import load_real_models
from langgraph_specsearch.runnable import SpecSearch

ROOT = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", type=Path, required=True)
    parser.add_argument("--problems", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "call_prices.json")
    args = parser.parse_args()
    pair = pair_from_estimate(json.loads(args.estimate.read_text()))
    drafter, target, scorer = load_real_models("likelihood-target", engine="llamacpp")
    calls: list[dict[str, Any]] = []
    generate = target.generate

    def logged(question: str, paths: Any, counts: Any, settings: Any) -> Any:
        groups = generate(question, paths, counts, settings)
        lengths = [t.tokens for group in groups for t in group]
        shape = SearchShape(1, 1, 1, 1, sum(lengths) / len(lengths), length_spread(lengths))
        price = pair.target.call(len(lengths), len(paths), shape)
        first = not calls or calls[-1]["problem"] != problem
        calls.append(
            {
                "problem": problem,
                "rows": len(lengths),
                "prompts": len(paths),
                "lengths": lengths,
                "measured": round(target.last_details.seconds, 3),
                "priced": round(price + (pair.target.cold_seconds if first else 0.0), 3),
            }
        )
        return groups

    target.generate = logged
    config = SpecSearchConfig(mode="target_only", beam_width=2, width=3)
    reasoner = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config)
    for item in load_jsonl(default_problems_path())[: args.problems]:
        problem = item.problem_id
        forget_between_runs([drafter, target, scorer])
        reasoner.invoke(item.question)
    measured = sum(c["measured"] for c in calls)
    priced = sum(c["priced"] for c in calls)
    # what a whole-problem prediction assumes: every row drawn independently from the lengths
    # of all calls (their mean and spread), each call's rows and prompts as they were
    pooled = [n for c in calls for n in c["lengths"]]
    shape = SearchShape(1, 1, 1, 1, sum(pooled) / len(pooled), length_spread(pooled))
    independent = sum(pair.target.call(c["rows"], c["prompts"], shape) for c in calls)
    independent += pair.target.cold_seconds * args.problems
    equal = sum(1 for c in calls if max(c["lengths"]) - min(c["lengths"]) <= 2)
    write_results(
        args.output,
        {
            "command": "HF_HUB_OFFLINE=1 python benchmarks/call_prices.py "
            f"--estimate {args.estimate} --problems {args.problems}",
            "calls": len(calls),
            "measured_seconds": round(measured, 2),
            "priced_seconds": round(priced, 2),
            "priced_over_measured": round(priced / measured, 3) if measured else None,
            "priced_with_independent_lengths": round(independent, 2),
            "calls_with_rows_within_2_tokens": equal,
            "rows": calls,
        },
    )


if __name__ == "__main__":
    main()
