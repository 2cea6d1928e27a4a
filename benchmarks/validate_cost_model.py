"""Predicted against measured: the cost model's per-problem times and speedups on a real bench run.

Reads the pair's measured call profile (``specsearch estimate --json`` output; several, say one
taken before the run and one after, are averaged) and the records of a ``specsearch bench`` run
on the same pair and engine. For every record it predicts the run's
time from its own shape (the steps it took, its thoughts' mean length, and for SpecSearch its
acceptance), with ``langgraph_specsearch.bench.cost_model``; then it compares, per mode, the
median predicted and measured seconds, and the median paired speedup over AR, predicted and
measured. The error of a speedup is |predicted / measured - 1| (the issue's target: <= 10%).

    python benchmarks/validate_cost_model.py --estimate EST.json [EST2.json ...] \
        --runs benchmarks/results/RUN \
        [--label NAME] [--no-self-scored] [--mean-lengths]

Appends the comparison under ``NAME`` to benchmarks/results/cost_model.json.
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
    mean_pair,
    predict_problem_seconds,
    predicted_speedup,
)
from langgraph_specsearch.bench.estimate import pair_from_estimate
from langgraph_specsearch.bench.records import latest_records, read_records
from langgraph_specsearch.bench.stats import median
from langgraph_specsearch.bench.variants import PREFIX as VARIANT_PREFIX

RESULTS = Path(__file__).parent / "results" / "cost_model.json"
MODELLED = ("target_only", "specsearch", "drafter_only")
BOUND_SHARE = 0.9  # the target: SpecSearch at >= 90% of its all-accepted bound


def modelled_as(mode: str) -> str:
    """The mode the cost model prices a record as: a variant (``bench --variant NAME:...``) is
    SpecSearch with its own settings."""
    return "specsearch" if mode.startswith(VARIANT_PREFIX) else mode


def shape_of(
    record: dict[str, Any],
    settings: dict[str, Any],
    mode: str,
    spread: tuple[float, ...] = (),
    prompt_tokens: float = 0.0,
    distinct: float = 1.0,
) -> SearchShape:
    """The record's own shape: its steps and mean thought length (target thoughts for AR), with
    the spread of thought lengths and the prompts' mean length the estimate measured (a call
    lasts as long as its longest row; records keep only totals), and the share of its drafts a
    scorer read (``distinct``, the estimate's, for records from before it was recorded)."""
    beams, width = int(settings["beam_width"]), int(settings["width"])
    drafts = int(settings.get("n_drafts") or 2 * width)
    steps = max(int(record.get("steps") or 0), 1)
    tokens = record.get("tokens", {})
    if mode == "target_only":
        thoughts = width + (steps - 1) * beams * width  # the root's N, then B nodes of N
        per_thought = tokens.get("target", 0) / max(thoughts, 1)
    elif mode == "drafter_only":
        thoughts = width + (steps - 1) * beams * width
        per_thought = tokens.get("drafter", 0) / max(thoughts, 1)
    else:
        written = int(record.get("drafted", 0)) + width + int(record.get("corrected", 0))
        per_thought = (tokens.get("drafter", 0) + tokens.get("target", 0)) / max(written, 1)
    drafted = int(record.get("drafted") or 0)
    if drafted and record.get("distinct_drafts"):  # runs from before it was recorded: ``distinct``
        distinct = int(record["distinct_drafts"]) / drafted
    return SearchShape(
        beams, width, drafts, float(steps), float(per_thought), spread, prompt_tokens, distinct
    )


NO_SCORING = {
    "score_fixed": 0.0,
    "score_row": 0.0,
    "score_token": 0.0,
    "context_token": 0.0,
    "prompt_token": 0.0,
}


def stage_pairs(pair: PairProfile) -> dict[str, PairProfile]:
    """The pair with every cost but one stage's set to zero, per stage the records time: the
    drafter's calls (``draft``), the scorer's (``evaluate``) and the target's (``correct``, AR's
    steps included)."""
    free = CallProfile({1: 0.0}, 0.0)
    return {
        "draft": replace(pair, target=free, **NO_SCORING),
        "evaluate": replace(pair, drafter=free, target=free),
        "correct": replace(pair, drafter=free, **NO_SCORING),
    }


def compare(
    pair: PairProfile,
    records: list[dict[str, Any]],
    settings: dict[str, Any],
    spread: tuple[float, ...] = (),
    prompt_tokens: float = 0.0,
    distinct: float = 1.0,
    variant_settings: dict[str, dict[str, Any]] | None = None,
) -> dict:
    # keyed by (run, problem): several runs of the same searches give several measurements
    by_mode: dict[str, dict[tuple[int, str], tuple[float, float]]] = {}
    stages: dict[str, dict[str, list[tuple[float, float]]]] = {}  # mode -> stage -> per problem
    # per SpecSearch mode (variants too), its predicted seconds with every draft passing
    all_accepted: dict[str, dict[tuple[int, str], float]] = {}
    # per SpecSearch mode, the acceptance at which the model puts it at 90% of that bound
    share_at: dict[str, dict[tuple[int, str], float]] = {}
    acceptances: dict[str, list[float]] = {}
    for record in records:
        mode = str(record["mode"])
        model = modelled_as(mode)
        if record.get("error") or model not in MODELLED or not record.get("steps"):
            continue
        acceptance = float(drafts_cleared(record))
        own = {**settings, **(variant_settings or {}).get(mode, {})}
        shape = shape_of(record, own, model, spread, prompt_tokens, distinct)
        predicted = predict_problem_seconds(pair, shape, model, acceptance)
        measured = float(record["wall_seconds"])
        key = (int(record.get("run", 0)), str(record["problem_id"]))
        by_mode.setdefault(mode, {})[key] = (predicted, measured)
        for stage, part in stage_pairs(pair).items():
            stages.setdefault(mode, {}).setdefault(stage, []).append(
                (
                    predict_problem_seconds(part, shape, model, acceptance),
                    float(record.get("seconds", {}).get(stage, 0.0)),
                )
            )
        if model == "specsearch":
            ideal = predict_problem_seconds(pair, shape, model, 1.0)
            all_accepted.setdefault(mode, {})[key] = ideal
            share_at.setdefault(mode, {})[key] = acceptance_for_share(pair, shape, BOUND_SHARE)
            acceptances.setdefault(mode, []).append(acceptance)
    report: dict[str, Any] = {}
    for mode, rows in by_mode.items():
        predicted = median([p for p, _ in rows.values()])
        measured = median([m for _, m in rows.values()])
        report[mode] = {
            "problems": len({problem for _, problem in rows}),
            "runs": len({run for run, _ in rows}),
            "predicted_median_s": round(predicted, 2),
            "measured_median_s": round(measured, 2),
            "error": round(abs(predicted / measured - 1), 3),
            # where the gap lies: each stage's mean seconds per problem, predicted and measured
            "stages_mean_s": {
                stage: {
                    "predicted": round(sum(p for p, _ in pairs) / len(pairs), 2),
                    "measured": round(sum(m for _, m in pairs) / len(pairs), 2),
                }
                for stage, pairs in stages[mode].items()
            },
        }
    ar = by_mode.get("target_only", {})
    for mode, rows in by_mode.items():
        if mode == "target_only":
            continue
        shared = sorted(ar.keys() & rows.keys())
        if not shared:
            continue
        predicted = _per_problem([(k, ar[k][0] / rows[k][0]) for k in shared])
        # AR and SpecSearch paired within a run (back to back), then each problem's median
        # over the runs, then the median over problems
        measured = _per_problem([(k, ar[k][1] / rows[k][1]) for k in shared])
        report[mode]["speedup_vs_ar"] = {
            "predicted": round(predicted, 3),
            "measured": round(measured, 3),
            "error": round(abs(predicted / measured - 1), 3),
        }
        if mode in all_accepted:
            # the target: SpecSearch's measured speedup >= 90% of this bound; the
            # predicted share is what the model expects at the run's own acceptance, so a
            # measured share below 90% that matches it is the acceptance's cost, not overhead
            bound = _per_problem([(k, ar[k][0] / all_accepted[mode][k]) for k in shared])
            report[mode]["all_accepted_bound"] = {
                "predicted_speedup": round(bound, 3),
                "measured_share": round(measured / bound, 3),
                "predicted_share": round(predicted / bound, 3),
                "acceptance_for_share": round(_per_problem(list(share_at[mode].items())), 3),
                "acceptance_measured": round(median(acceptances[mode]), 3),
            }
    return report


def drafts_cleared(record: dict[str, Any]) -> float:
    """Each draft's chance of clearing the bar, the rate the model's binomial takes: the
    record's ``clear_rate``. Records from before it was kept have only the acceptance rate
    (slots taken), the same at M = N and lower at M > N, where it prices too many corrections."""
    rate = record.get("clear_rate")
    return float(rate if rate is not None else record.get("acceptance_rate") or 0.0)


def acceptance_for_share(pair: PairProfile, shape: SearchShape, share: float) -> float:
    """The lowest acceptance at which SpecSearch's predicted speedup is ``share`` of its
    all-accepted bound on this shape (bisection: the speedup rises with acceptance)."""
    bound = predicted_speedup(pair, shape, 1.0)
    low, high = 0.0, 1.0
    for _ in range(30):
        middle = (low + high) / 2
        if predicted_speedup(pair, shape, middle) >= share * bound:
            high = middle
        else:
            low = middle
    return high


def _per_problem(values: list[tuple[tuple[int, str], float]]) -> float:
    """The median over problems of each problem's median over the runs."""
    by_problem: dict[str, list[float]] = {}
    for (_, problem), value in values:
        by_problem.setdefault(problem, []).append(value)
    return median([median(found) for found in by_problem.values()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--estimate",
        type=Path,
        nargs="+",
        required=True,
        help="one estimate's JSON, or several of the same pair (averaged: before and after a run)",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        nargs="+",
        required=True,
        help="a bench run's folder, or several runs of the same searches (each problem's "
        "measured speedup is then its median over the runs)",
    )
    parser.add_argument("--label", default=None)
    parser.add_argument(
        "--mean-lengths",
        action="store_true",
        help="model every call as writing the mean thought length (the model before spread)",
    )
    parser.add_argument(
        "--shared-cache",
        action="store_true",
        help="the scorer read the target's KV cache (estimates from before this was recorded)",
    )
    parser.add_argument(
        "--no-self-scored",
        action="store_true",
        help="the bench ran without free self-scoring (code before it), whatever the estimate",
    )
    args = parser.parse_args()
    estimates = [json.loads(path.read_text()) for path in args.estimate]
    estimate = estimates[0]  # the shape's spread and the prompts' length: the first's
    pair = mean_pair([pair_from_estimate(e) for e in estimates])
    spread = () if args.mean_lengths else tuple(estimate.get("length_spread") or ())
    if args.no_self_scored:
        pair = replace(pair, self_scored=False)
    if args.shared_cache:
        pair = replace(pair, shared_cache=True)
    summaries = [json.loads((run / "summary.json").read_text()) for run in args.runs]
    summary = summaries[0]
    shape = ("beam_width", "width", "n_drafts")
    for run, other in zip(args.runs, summaries, strict=True):
        if any(other["settings"].get(k) != summary["settings"].get(k) for k in shape):
            raise SystemExit(f"{run} ran another search shape than {args.runs[0]}")
    records = [
        {**record, "run": index}
        for index, run in enumerate(args.runs)
        for record in latest_records(read_records(run / "records.jsonl"))
    ]
    report = {
        "command": "python benchmarks/validate_cost_model.py "
        f"--estimate {' '.join(map(str, args.estimate))} --runs {' '.join(map(str, args.runs))}"
        + (" --no-self-scored" if args.no_self_scored else "")
        + (" --shared-cache" if args.shared_cache else "")
        + (" --mean-lengths" if args.mean_lengths else ""),
        "engine": pair.engine,
        "self_scored": pair.self_scored,
        "shared_cache": pair.shared_cache,
        "settings": {k: summary["settings"][k] for k in ("beam_width", "width", "n_drafts")},
        "acceptance_from": "clear_rate"
        if all(r.get("clear_rate") is not None for r in records if r.get("drafted"))
        else "acceptance_rate (records from before clear_rate: low at M > N)",
        "profile_cost_ratio": round(pair.cost_ratio(), 3),
        "length_spread": "measured by the estimate" if spread else "none (mean lengths)",
        "scoring": "by tokens, contexts read" if pair.score_token else "by rows",
        "modes": compare(
            pair,
            records,
            summary["settings"],
            spread,
            float(estimate.get("measured", {}).get("prompt_tokens", 0.0)),
            float(estimate.get("measured", {}).get("distinct_drafts", 1.0)),
            summary.get("variant_settings", {}),
        ),
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.label or args.runs[0].name] = report
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
