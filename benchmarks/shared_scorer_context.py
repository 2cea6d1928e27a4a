"""The llama.cpp likelihood scorer in its own KV cache against in the target's (``share_context``).

A step's context is the very prompt the target reads to write after it, so when the scorer and
the target share one llama.cpp context, a node's path read for scoring its drafts is found cached
when the target corrects them, and the question the target read for the first step is not read
again for scoring. This script runs SpecSearch (B = 2, N = M = 3, the bench's settings) on the
same problems with both scorers, one problem at a time, the two arms in alternating order (ABBA),
every prompt cache emptied before each run, and reports per arm the seconds, the tokens each
context read (prefilled) and reused, the answers, and the median of the per-problem time ratios
(own context / shared) with its spread.

    HF_HUB_OFFLINE=1 python benchmarks/shared_scorer_context.py --problems 8

Writes benchmarks/results/shared_scorer_context.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from provenance import write_results

from langgraph_specsearch.bench.data import default_problems_path, load_jsonl
from langgraph_specsearch.bench.grading import answers_match
from langgraph_specsearch.bench.runner import forget_between_runs
from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.presets.models import load_real_models
from langgraph_specsearch.runnable import SpecSearch
from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer

ROOT = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "results" / "shared_scorer_context.json"
    )
    args = parser.parse_args()

    drafter, target, shared = load_real_models("likelihood-target", engine="llamacpp")
    assert shared.context is target.context  # the default since this script measured it
    own = LlamaCppLikelihoodScorer.from_generator(target, share_context=False)
    config = SpecSearchConfig(mode="specsearch", beam_width=2, width=3, n_drafts=3)
    arms = {
        name: SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config)
        for name, scorer in (("own", own), ("shared", shared))
    }
    contexts = {"drafter": drafter.context, "target": target.context, "own scorer": own.context}
    rows: list[dict[str, Any]] = []
    for index, problem in enumerate(load_jsonl(default_problems_path())[: args.problems]):
        order = ["own", "shared"] if index % 2 == 0 else ["shared", "own"]
        row: dict[str, Any] = {"problem_id": problem.problem_id, "order": order}
        for arm in order:
            reasoner = arms[arm]
            forget_between_runs([drafter, target, own, shared])
            before = {k: (c.stats.prefilled, c.stats.reused) for k, c in contexts.items()}
            start = time.perf_counter()
            result = reasoner.invoke(problem.question)
            seconds = time.perf_counter() - start
            row[arm] = {
                "seconds": round(seconds, 2),
                "right": answers_match(result.answer, problem.answer),
                "answer": result.answer,
                "acceptance": result.stats.get("acceptance_rate"),
                "prefilled": {k: c.stats.prefilled - before[k][0] for k, c in contexts.items()},
                "reused": {k: c.stats.reused - before[k][1] for k, c in contexts.items()},
            }
        row["ratio"] = row["own"]["seconds"] / row["shared"]["seconds"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    ratios = [r["ratio"] for r in rows]

    def total(arm: str, key: str, context: str) -> int:
        return sum(r[arm][key][context] for r in rows)

    summary = {
        "command": "HF_HUB_OFFLINE=1 python benchmarks/shared_scorer_context.py "
        f"--problems {args.problems}",
        "settings": "SpecSearch, llama.cpp, B = 2, N = M = 3, likelihood-target scorer",
        "speedup_shared_over_own": {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
            "quartiles": statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios,
        },
        "seconds": {arm: sum(r[arm]["seconds"] for r in rows) for arm in arms},
        "right": {arm: sum(r[arm]["right"] for r in rows) for arm in arms},
        "same_answer": sum(r["own"]["answer"] == r["shared"]["answer"] for r in rows),
        "target_prefilled": {arm: total(arm, "prefilled", "target") for arm in arms},
        "scorer_prefilled": {
            "own": total("own", "prefilled", "own scorer"),
            "shared": "in the target's count",
        },
        "problems": len(rows),
        "rows": rows,
    }
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
