"""Every call of AR or SpecSearch runs on llama.cpp, measured, against the cost model's price.

The cost model prices a call from its rows, its prompts and its rows' lengths; a whole problem's
prediction adds a model of the lengths (the run-wide spread, rows drawn independently). Pricing
each call with the lengths its rows really wrote separates the two: if the calls are priced
right, a gap in whole-problem predictions lies in the model of the lengths. The first call of a
problem also pays the question's cold read (``cold_seconds``). With ``--mode specsearch`` the
drafter's calls and the scorer's are priced too (the scorer by the tokens it scores and the
contexts it reads, as the cost model prices them), so a gap is pinned on one kind of call.

    HF_HUB_OFFLINE=1 python benchmarks/call_prices.py \
        --estimate benchmarks/results/estimate_llamacpp_a222f01.json --problems 2 \
        [--mode specsearch --n-drafts 6 --output benchmarks/results/call_prices_specsearch.json]

Writes benchmarks/results/call_prices.json (or ``--output``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from provenance import write_results

from langgraph_specsearch.bench.cost_model import PairProfile, SearchShape, length_spread
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
    parser.add_argument("--mode", choices=("target_only", "specsearch"), default="target_only")
    parser.add_argument("--n-drafts", type=int, default=None, help="M (default: N)")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "call_prices.json")
    args = parser.parse_args()
    pair = pair_from_estimate(json.loads(args.estimate.read_text()))
    drafter, target, scorer = load_real_models("likelihood-target", engine="llamacpp")
    calls: list[dict[str, Any]] = []
    current = {"problem": ""}
    for role, generator in (("drafter", drafter), ("target", target)):
        generator.generate = _logged_generate(role, generator, pair, calls, current)
    scorer.score_last = _logged_scoring(scorer, pair, calls, current)
    config = SpecSearchConfig(mode=args.mode, beam_width=2, width=3, n_drafts=args.n_drafts or 3)
    reasoner = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config)
    for item in load_jsonl(default_problems_path())[: args.problems]:
        current["problem"] = item.problem_id
        forget_between_runs([drafter, target, scorer])
        reasoner.invoke(item.question)
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in dict.fromkeys(c["kind"] for c in calls):
        mine = [c for c in calls if c["kind"] == kind]
        measured = sum(c["measured"] for c in mine)
        priced = sum(c["priced"] for c in mine)
        by_kind[kind] = {
            "calls": len(mine),
            "measured_seconds": round(measured, 2),
            "priced_seconds": round(priced, 2),
            "priced_over_measured": round(priced / measured, 3) if measured else None,
        }
    generated = [c for c in calls if c["kind"] != "scorer"]
    # what a whole-problem prediction assumes: every row drawn independently from the lengths
    # of all calls (their mean and spread), each call's rows and prompts as they were
    for kind in ("drafter", "target"):
        mine = [c for c in generated if c["kind"] == kind]
        pooled = [n for c in mine for n in c["lengths"]]
        if not pooled:
            continue
        shape = SearchShape(1, 1, 1, 1, sum(pooled) / len(pooled), length_spread(pooled))
        profile = pair.drafter if kind == "drafter" else pair.target
        independent = sum(profile.call(c["rows"], c["prompts"], shape) for c in mine)
        independent += profile.cold_seconds * len({c["problem"] for c in mine})
        by_kind[kind]["priced_with_independent_lengths"] = round(independent, 2)
    measured = sum(c["measured"] for c in calls)
    priced = sum(c["priced"] for c in calls)
    equal = sum(1 for c in generated if max(c["lengths"]) - min(c["lengths"]) <= 2)
    write_results(
        args.output,
        {
            "command": "HF_HUB_OFFLINE=1 python benchmarks/call_prices.py "
            f"--estimate {args.estimate} --problems {args.problems} --mode {args.mode}"
            + (f" --n-drafts {args.n_drafts}" if args.n_drafts else ""),
            "calls": len(calls),
            "measured_seconds": round(measured, 2),
            "priced_seconds": round(priced, 2),
            "priced_over_measured": round(priced / measured, 3) if measured else None,
            "by_kind": by_kind,
            "calls_with_rows_within_2_tokens": equal,
            "rows": calls,
        },
    )


def _logged_generate(
    role: str, generator: Any, pair: PairProfile, calls: list[dict[str, Any]], current: dict
) -> Any:
    """``generator.generate``, each call logged with its measured time and its price."""
    generate = generator.generate
    profile = pair.drafter if role == "drafter" else pair.target
    seen: set[str] = set()  # problems whose question this model has read

    def logged(question: str, paths: Any, counts: Any, settings: Any) -> Any:
        groups = generate(question, paths, counts, settings)
        lengths = [t.tokens for group in groups for t in group]
        shape = SearchShape(1, 1, 1, 1, sum(lengths) / len(lengths), length_spread(lengths))
        price = profile.call(len(lengths), len(paths), shape)
        first = current["problem"] not in seen
        seen.add(current["problem"])
        details = generator.last_details
        calls.append(
            {
                "kind": role,
                "problem": current["problem"],
                "rows": len(lengths),
                "prompts": len(paths),
                "lengths": lengths,
                "decode_steps": details.decode_steps,
                "prefill_tokens": details.prefill_tokens,
                "measured": round(details.seconds, 3),
                "priced": round(price + (profile.cold_seconds if first else 0.0), 3),
            }
        )
        return groups

    return logged


def _logged_scoring(
    scorer: Any, pair: PairProfile, calls: list[dict[str, Any]], current: dict
) -> Any:
    """``scorer.score_last``, each call priced as the cost model prices scoring: a call, each
    scored token, and each distinct context's newest thought (its whole context, question
    included, on the scorer's first call for a question)."""
    score_last = scorer.score_last
    seen: set[str] = set()

    def logged(questions: Any, step_lists: Any) -> Any:
        reused = scorer.reused
        scores = score_last(questions, step_lists)
        free = scorer.reused - reused
        rows = len(step_lists) - free
        if rows:
            question = questions[0]
            counts = [scorer.token_counts(question, steps) for steps in step_lists]
            tokens = sum(n for _, n in counts) * rows / len(step_lists)
            contexts = {tuple(steps[:-1]) for steps in step_lists}
            first = current["problem"] not in seen
            seen.add(current["problem"])
            if first and not pair.shared_cache:  # else the target read them: cached
                reads = pair.prompt_token * sum(
                    scorer.token_counts(question, [*c, "."])[0] for c in contexts
                )
            else:
                newest = sum(scorer.token_counts(question, list(c))[1] for c in contexts if c)
                reads = pair.context_token * newest
            price = pair.score_fixed + pair.score_row * rows + pair.score_token * tokens + reads
            calls.append(
                {
                    "kind": "scorer",
                    "problem": current["problem"],
                    "rows": rows,
                    "contexts": len(contexts),
                    "scored_tokens": round(tokens, 1),
                    "measured": round(scorer.last_seconds, 3),
                    "priced": round(price, 3),
                }
            )
        return scores

    return logged


if __name__ == "__main__":
    main()
