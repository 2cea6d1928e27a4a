"""What scoring drafts from the drafter's own states saves: PRM head cost with and without reuse.

For each question (GSM8K test subset), after the gold solution's first step (mid-solution, as
most search steps are): the drafter writes M next steps with state capture on; the shipped PRM
head scores them from the kept states ("free"), by its separate forward pass under the same
(drafting) prompt ("pass"), and by a pass under the prompt it was trained with (how far the
prompt alone moves the scores). Drafting is also timed with capture off, interleaved, to show
that keeping the states does not slow drafting down.

    HF_HUB_OFFLINE=1 python benchmarks/free_scoring.py --questions 8 --drafts 6

Writes benchmarks/results/free_scoring.json (medians with min and max over the questions).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import numpy as np
from provenance import write_results

from langgraph_specsearch.bench.data import load_jsonl, seeded_subset
from langgraph_specsearch.generators.base import GenerationSettings
from langgraph_specsearch.generators.transformers import PRM_HEAD_SYSTEM_PROMPT
from langgraph_specsearch.presets.assets import load_default_generator
from langgraph_specsearch.scorers.prm_head import load_default_prm_head

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "gsm8k_test_subset.jsonl"


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--drafts", type=int, default=6, help="M drafts per question")
    parser.add_argument("--tokens", type=int, default=64, help="most tokens per step")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "free_scoring.json")
    args = parser.parse_args()

    drafter = load_default_generator("drafter")
    scorer = load_default_prm_head(drafter)  # turns capture on in the drafter
    cache = scorer.drafting_states
    assert cache is not None
    problems = seeded_subset(load_jsonl(DATA), args.questions, seed=11)

    rows = []
    for index, problem in enumerate(problems):
        settings = GenerationSettings(
            max_new_tokens=args.tokens, temperature=0.7, top_p=0.95, seed=index, delimiter="\n\n"
        )
        path = [re.sub(r"<<[^>]*>>", "", problem.solution.splitlines()[0])]
        # drafting with capture off, then on (same seed: same thoughts)
        drafter.step_features = None
        start = time.perf_counter()
        plain = drafter.generate(problem.question, [path], [args.drafts], settings)[0]
        draft_plain = time.perf_counter() - start
        drafter.step_features = cache
        start = time.perf_counter()
        thoughts = drafter.generate(problem.question, [path], [args.drafts], settings)[0]
        draft_capture = time.perf_counter() - start
        steps = [[*path, t.text] for t in thoughts if t.text]
        hits_before = cache.hits
        questions = [problem.question] * len(steps)

        start = time.perf_counter()
        free = scorer.score_last(questions, steps)
        free_seconds = time.perf_counter() - start
        reused = cache.hits - hits_before
        scorer.drafting_states = None
        start = time.perf_counter()
        separate = scorer.score_last(questions, steps)
        pass_seconds = time.perf_counter() - start
        scorer.system_prompt = PRM_HEAD_SYSTEM_PROMPT
        trained_prompt = scorer.score_last(questions, steps)
        scorer.drafting_states, scorer.system_prompt = cache, None
        diff = np.abs(np.array(free) - np.array(separate))
        prompt_diff = np.abs(np.array(separate) - np.array(trained_prompt))
        rows.append(
            {
                "problem_id": problem.problem_id,
                "same_thoughts": [t.text for t in plain] == [t.text for t in thoughts],
                "steps": len(steps),
                "reused": reused,
                "draft_seconds_plain": draft_plain,
                "draft_seconds_capture": draft_capture,
                "score_seconds_free": free_seconds,
                "score_seconds_pass": pass_seconds,
                "max_abs_score_difference": float(diff.max()),
                "mean_abs_score_difference": float(diff.mean()),
                "ranking_agrees": bool(np.argmax(free) == np.argmax(separate)),
                "mean_abs_difference_training_prompt": float(prompt_diff.mean()),
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    summary = {
        "command": "HF_HUB_OFFLINE=1 python benchmarks/free_scoring.py "
        f"--questions {args.questions} --drafts {args.drafts} --tokens {args.tokens}",
        "drafter": drafter.name,
        "scorer": "prm-head (shipped weights)",
        "capture_over_plain_drafting": spread(
            [r["draft_seconds_capture"] / r["draft_seconds_plain"] for r in rows]
        ),
        "pass_cost_over_drafting": spread(
            [r["score_seconds_pass"] / r["draft_seconds_capture"] for r in rows]
        ),
        "free_cost_over_drafting": spread(
            [r["score_seconds_free"] / r["draft_seconds_capture"] for r in rows]
        ),
        "seconds_per_step_pass": spread([r["score_seconds_pass"] / r["steps"] for r in rows]),
        "seconds_per_step_free": spread([r["score_seconds_free"] / r["steps"] for r in rows]),
        "mean_abs_score_difference": spread([r["mean_abs_score_difference"] for r in rows]),
        "free_cost_over_drafting_total": sum(r["score_seconds_free"] for r in rows)
        / sum(r["draft_seconds_capture"] for r in rows),
        "pass_cost_over_drafting_total": sum(r["score_seconds_pass"] for r in rows)
        / sum(r["draft_seconds_capture"] for r in rows),
        "reused_share": sum(r["reused"] for r in rows) / sum(r["steps"] for r in rows),
        "best_draft_agrees": sum(r["ranking_agrees"] for r in rows) / len(rows),
        "mean_abs_difference_training_prompt": spread(
            [r["mean_abs_difference_training_prompt"] for r in rows]
        ),
        "rows": rows,
    }
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
