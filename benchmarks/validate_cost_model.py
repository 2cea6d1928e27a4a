"""Predicted against measured: the cost model's per-problem times and speedups on a real bench run.

Reads the pair's measured call profile (``specsearch estimate --json`` output) and the records of
a ``specsearch bench`` run on the same pair and engine. For every record it predicts the run's
time from its own shape (the steps it took, its thoughts' mean length, and for SpecSearch its
acceptance), with ``langgraph_specsearch.bench.cost_model``; then it compares, per mode, the
median predicted and measured seconds, and the median paired speedup over AR, predicted and
measured. The error of a speedup is |predicted / measured - 1| (the issue's target: <= 10%).

    python benchmarks/validate_cost_model.py --estimate EST.json --runs benchmarks/results/RUN \
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
    PairProfile,
    SearchShape,
    predict_problem_seconds,
)
from langgraph_specsearch.bench.estimate import pair_from_estimate
from langgraph_specsearch.bench.records import latest_records, read_records
from langgraph_specsearch.bench.stats import median

RESULTS = Path(__file__).parent / "results" / "cost_model.json"
MODELLED = ("target_only", "specsearch", "drafter_only")


def shape_of(
    record: dict[str, Any],
    settings: dict[str, Any],
    mode: str,
    spread: tuple[float, ...] = (),
    prompt_tokens: float = 0.0,
) -> SearchShape:
    """The record's own shape: its steps and mean thought length (target thoughts for AR), with
    the spread of thought lengths and the prompts' mean length the estimate measured (a call
    lasts as long as its longest row; records keep only totals)."""
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
    return SearchShape(
        beams, width, drafts, float(steps), float(per_thought), spread, prompt_tokens
    )


def compare(
    pair: PairProfile,
    records: list[dict[str, Any]],
    settings: dict[str, Any],
    spread: tuple[float, ...] = (),
    prompt_tokens: float = 0.0,
) -> dict:
    by_mode: dict[str, dict[str, tuple[float, float]]] = {}
    for record in records:
        mode = str(record["mode"])
        if record.get("error") or mode not in MODELLED or not record.get("steps"):
            continue
        acceptance = float(record.get("acceptance_rate") or 0.0)
        shape = shape_of(record, settings, mode, spread, prompt_tokens)
        predicted = predict_problem_seconds(pair, shape, mode, acceptance)
        measured = float(record["wall_seconds"])
        by_mode.setdefault(mode, {})[str(record["problem_id"])] = (predicted, measured)
    report: dict[str, Any] = {}
    for mode, rows in by_mode.items():
        predicted = median([p for p, _ in rows.values()])
        measured = median([m for _, m in rows.values()])
        report[mode] = {
            "problems": len(rows),
            "predicted_median_s": round(predicted, 2),
            "measured_median_s": round(measured, 2),
            "error": round(abs(predicted / measured - 1), 3),
        }
    ar = by_mode.get("target_only", {})
    for mode, rows in by_mode.items():
        if mode == "target_only":
            continue
        shared = sorted(ar.keys() & rows.keys())
        if not shared:
            continue
        predicted = median([ar[k][0] / rows[k][0] for k in shared])
        measured = median([ar[k][1] / rows[k][1] for k in shared])
        report[mode]["speedup_vs_ar"] = {
            "predicted": round(predicted, 3),
            "measured": round(measured, 3),
            "error": round(abs(predicted / measured - 1), 3),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimate", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True, help="a bench run's folder")
    parser.add_argument("--label", default=None)
    parser.add_argument(
        "--mean-lengths",
        action="store_true",
        help="model every call as writing the mean thought length (the model before spread)",
    )
    parser.add_argument(
        "--no-self-scored",
        action="store_true",
        help="the bench ran without free self-scoring (code before it), whatever the estimate",
    )
    args = parser.parse_args()
    estimate = json.loads(args.estimate.read_text())
    pair = pair_from_estimate(estimate)
    spread = () if args.mean_lengths else tuple(estimate.get("length_spread") or ())
    if args.no_self_scored:
        pair = replace(pair, self_scored=False)
    summary = json.loads((args.runs / "summary.json").read_text())
    records = latest_records(read_records(args.runs / "records.jsonl"))
    report = {
        "command": "python benchmarks/validate_cost_model.py "
        f"--estimate {args.estimate} --runs {args.runs}"
        + (" --no-self-scored" if args.no_self_scored else "")
        + (" --mean-lengths" if args.mean_lengths else ""),
        "engine": pair.engine,
        "self_scored": pair.self_scored,
        "settings": {k: summary["settings"][k] for k in ("beam_width", "width", "n_drafts")},
        "profile_cost_ratio": round(pair.cost_ratio(), 3),
        "length_spread": "measured by the estimate" if spread else "none (mean lengths)",
        "scoring": "by tokens, contexts read" if pair.score_token else "by rows",
        "modes": compare(
            pair,
            records,
            summary["settings"],
            spread,
            float(estimate.get("measured", {}).get("prompt_tokens", 0.0)),
        ),
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.label or args.runs.name] = report
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
