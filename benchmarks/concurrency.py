"""Many searches, one engine: problems per hour at concurrency 1, 3 and 6 (issue 16, item 4).

A user with many questions calls ``SpecSearch.batch(questions, config={"max_concurrency": k})``;
the searches then share one in-process drafter and target. Their concurrent stage calls are merged
into shared batches (``generators/merging.py``) instead of waiting for each other on a lock. This
script runs the same ``--n`` GSM8K problems through ``batch`` at each concurrency, for each mode,
and reports problems per hour, the ratio to concurrency 1 measured in the same round, accuracy,
and how many engine batches held more than one search's call. At concurrency 1 it also gives the
graph's overhead: wall time over the seconds spent inside the engines' generation and scoring
calls, an upper bound on what the graph costs over a bare loop making the same calls.

Levels run interleaved within a round, and their order rotates from round to round, so slow
drifts of a shared machine fall on every level alike. Caches are emptied before each run.

    HF_HUB_OFFLINE=1 python benchmarks/concurrency.py --engine transformers [--n 6] [--rounds 1]
        [--levels 1 3 6] [--modes target_only specsearch]

Writes ``benchmarks/results/concurrency_<engine>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from langgraph_specsearch.bench.data import default_problems_path, load_jsonl, seeded_subset
from langgraph_specsearch.bench.grading import answers_match
from langgraph_specsearch.bench.runner import forget_between_runs
from langgraph_specsearch.bench.stats import median
from langgraph_specsearch.presets import options
from langgraph_specsearch.presets.models import DEFAULT_SCORER, load_real_models, resolve_engine
from langgraph_specsearch.runnable import SpecSearch

RESULTS = Path(__file__).resolve().parent / "results"


def merge_counts(models: list[Any]) -> dict[str, int]:
    """The engines' merge counters summed (each model counted once)."""
    total = {"calls": 0, "batches": 0, "merged_batches": 0, "widest": 0}
    for model in {id(m): m for m in models}.values():
        stats = getattr(getattr(model, "merger", None), "stats", None)
        if stats is None:
            continue
        for key in ("calls", "batches", "merged_batches"):
            total[key] += getattr(stats, key)
        total["widest"] = max(total["widest"], stats.widest)
    return total


def model_seconds(models: list[Any]) -> float:
    """Seconds spent inside the engines so far: generation and scoring calls (each model once)."""
    total = 0.0
    for model in {id(m): m for m in models}.values():
        engine_total = getattr(model, "total", None)
        total += getattr(engine_total, "seconds", 0.0) or getattr(model, "total_seconds", 0.0)
    return total


def run_level(reasoner: SpecSearch, problems: list[Any], level: int, models: list[Any]) -> dict:
    """One ``batch`` call over all problems at ``level`` concurrent searches."""
    forget_between_runs(models)
    before = merge_counts(models)
    inside = model_seconds(models)
    start = time.perf_counter()
    results = reasoner.batch(
        [p.question for p in problems], config={"max_concurrency": level}, return_exceptions=True
    )
    seconds = time.perf_counter() - start
    inside = model_seconds(models) - inside
    after = merge_counts(models)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    correct = sum(
        1
        for p, r in zip(problems, results, strict=True)
        if not isinstance(r, BaseException) and answers_match(r.answer, p.answer)
    )
    return {
        "level": level,
        "seconds": round(seconds, 2),
        "problems_per_hour": round(len(problems) / seconds * 3600, 1),
        "correct": correct,
        "errors": errors,
        "batches": after["batches"] - before["batches"],
        "merged_batches": after["merged_batches"] - before["merged_batches"],
        "calls": after["calls"] - before["calls"],
        # at concurrency 1 the engines' calls never overlap, so wall / model seconds bounds what
        # the graph adds to a bare loop making the same calls (it cannot take less than them)
        "model_seconds": round(inside, 2),
        "wall_over_model_seconds": round(seconds / inside, 4) if inside else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_search_options(parser)
    options.add_engine_option(parser)
    parser.add_argument("--n", type=int, default=6, help="problems per run [6]")
    parser.add_argument("--subset-seed", type=int, default=0)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--modes", nargs="+", default=["target_only", "specsearch"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--scorer", default=DEFAULT_SCORER)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if any(level < 1 for level in args.levels):
        parser.error(f"--levels must be >= 1, got {args.levels}")
    engine = resolve_engine(args.engine, args.scorer, args.modes)
    out = args.out or RESULTS / f"concurrency_{engine}.json"
    problems = seeded_subset(load_jsonl(default_problems_path()), args.n, args.subset_seed)
    drafter, target, scorer = load_real_models(args.scorer, engine=engine)
    models = [drafter, target, scorer]
    runs: list[dict[str, Any]] = []
    for round_index in range(args.rounds):
        shift = round_index % len(args.levels)
        levels = args.levels[shift:] + args.levels[:shift]
        for mode in args.modes:
            reasoner = SpecSearch(
                drafter=drafter,
                target=target,
                scorer=scorer,
                config=options.config_from_args(args, mode),
            )
            for level in levels:
                run = {
                    "round": round_index,
                    "mode": mode,
                    **run_level(reasoner, problems, level, models),
                }
                runs.append(run)
                print(json.dumps(run), file=sys.stderr, flush=True)
    summary: dict[str, Any] = {}
    for mode in args.modes:
        per_level: dict[str, Any] = {}
        for level in args.levels:
            rates = [
                r["problems_per_hour"] for r in runs if r["mode"] == mode and r["level"] == level
            ]
            ratios = []
            for round_index in range(args.rounds):
                this = {
                    r["level"]: r for r in runs if r["mode"] == mode and r["round"] == round_index
                }
                ratios.append(
                    this[level]["problems_per_hour"] / this[args.levels[0]]["problems_per_hour"]
                )
            per_level[str(level)] = {
                "problems_per_hour": {
                    "median": median(rates),
                    "min": min(rates),
                    "max": max(rates),
                },
                f"vs_level_{args.levels[0]}": {
                    "median": round(median(ratios), 3),
                    "min": round(min(ratios), 3),
                    "max": round(max(ratios), 3),
                },
            }
        summary[mode] = per_level
    report = {
        "command": "HF_HUB_OFFLINE=1 python " + " ".join(sys.argv),
        "engine": engine,
        "models": {"drafter": drafter.name, "target": target.name, "scorer": args.scorer},
        "n": args.n,
        "levels": args.levels,
        "rounds": args.rounds,
        "summary": summary,
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
