"""Tokens each llama.cpp context reads and reuses, and the seconds, for AR and SpecSearch runs.

An engine change that shares more of the KV cache should read fewer prompt tokens at equal
thoughts, and so run faster. This script runs AR and SpecSearch (B = 2, N = M = 3, the bench's
settings) on the chosen problems of the default subset, every prompt cache emptied before each
run, and prints one JSON line per (problem, mode): seconds, answer, rightness, and per context
(drafter, target, scorer) the tokens prefilled and reused. To compare two commits of the engine,
run it from a worktree of each, problem by problem in alternating order
(``benchmarks/ab_commits.py`` does that).

    HF_HUB_OFFLINE=1 python benchmarks/prompt_reads.py --start 0 --problems 4
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from langgraph_specsearch.bench.data import default_problems_path, load_jsonl
from langgraph_specsearch.bench.grading import answers_match
from langgraph_specsearch.bench.runner import forget_between_runs
from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.presets.models import load_real_models
from langgraph_specsearch.runnable import SpecSearch

MODES = ("target_only", "specsearch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=0, help="first problem of the subset")
    parser.add_argument("--problems", type=int, default=4)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    args = parser.parse_args()

    drafter, target, scorer = load_real_models("likelihood-target", engine="llamacpp")
    contexts = {"drafter": drafter.context, "target": target.context, "scorer": scorer.context}
    problems = load_jsonl(default_problems_path())[args.start : args.start + args.problems]
    for problem in problems:
        for mode in args.modes:
            config = SpecSearchConfig(mode=mode, beam_width=2, width=3, n_drafts=3)
            reasoner = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config)
            forget_between_runs([drafter, target, scorer])
            before = {k: (c.stats.prefilled, c.stats.reused) for k, c in contexts.items()}
            start = time.perf_counter()
            result = reasoner.invoke(problem.question)
            row: dict[str, Any] = {
                "problem_id": problem.problem_id,
                "mode": mode,
                "seconds": round(time.perf_counter() - start, 2),
                "answer": result.answer,
                "right": answers_match(result.answer, problem.answer),
                "tokens": result.stats.get("tokens"),
                "prefilled": {k: c.stats.prefilled - before[k][0] for k, c in contexts.items()},
                "reused": {k: c.stats.reused - before[k][1] for k, c in contexts.items()},
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
