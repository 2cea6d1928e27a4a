"""llama.cpp against transformers on the calls a search step makes, and the two scorers' agreement.

Speed: for the drafter (0.5B) and the target (1.5B), each engine answers the same call: two
frontier paths mid-solution, three thoughts each (B = 2, N = 3), ``--tokens`` new tokens per row
(the delimiter is disabled, so every row writes exactly that many unless it ends the turn). Each
call is timed twice: with ``max_new_tokens=1`` (reading the prompts: prefill) and in full; the
decode step is (full - prefill) / (tokens - 1). llama.cpp runs from the shipped Q4_K_M GGUF with
its prompt cache cleared before each call ("cold", like transformers, which reads every prompt
each call); one more llama.cpp call per round measures the "warm" case a search really has, where
the previous step's prompt is cached and only the new step's tokens are read. Engines alternate
round by round; the report gives medians with min and max, and the per-round ratios
transformers / llama.cpp (median, IQR, bootstrap CI), which cancel most of the machine's load
swings.

Agreement: ``--steps`` steps spread over ``benchmarks/data/prm_drafted.jsonl``, scored by
:class:`LikelihoodScorer` (bfloat16 weights dequantized from the GGUF) and
:class:`LlamaCppLikelihoodScorer` (the Q4_K_M GGUF as is), both raw (mean log-prob per token):
Spearman rank correlation, mean and max absolute difference, and each one's time.

    HF_HUB_OFFLINE=1 python benchmarks/engine_speed.py [--rounds 3] [--tokens 32] [--steps 40]

Writes benchmarks/results/engine_speed.json. Set LANGGRAPH_SPECSEARCH_THREADS to give both
engines the same thread count (on a machine busy with other jobs, 1 thread is faster for both).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "engine_speed.json"
DRAFTED = ROOT / "data" / "prm_drafted.jsonl"


def spread(values: list[float]) -> dict[str, float]:
    from langgraph_specsearch.bench.stats import median

    return {
        "median": round(median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties given their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            out[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation: Pearson's on the ranks."""
    ra, rb = ranks(a), ranks(b)
    mean_a, mean_b = sum(ra) / len(ra), sum(rb) / len(rb)
    num = sum((x - mean_a) * (y - mean_b) for x, y in zip(ra, rb, strict=True))
    den = (sum((x - mean_a) ** 2 for x in ra) * sum((y - mean_b) ** 2 for y in rb)) ** 0.5
    return num / den


def auroc(scores: list[float], labels: list[int]) -> float | None:
    """Probability that a correct step outscores a wrong one (ties count half)."""
    good = [s for s, label in zip(scores, labels, strict=True) if label == 1]
    bad = [s for s, label in zip(scores, labels, strict=True) if label == 0]
    if not good or not bad:
        return None
    wins = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return wins / (len(good) * len(bad))


def time_call(generator: Any, paths: list[list[str]], settings: Any) -> tuple[float, int, int]:
    """Seconds, generated tokens and rows of one generate call."""
    start = time.perf_counter()
    rows = generator.generate(QUESTION, paths, COUNTS, settings)
    seconds = time.perf_counter() - start
    thoughts = [t for row in rows for t in row]
    return seconds, sum(t.tokens for t in thoughts), len(thoughts)


def speed(args: argparse.Namespace, engines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from langgraph_specsearch.bench.stats import ratio_summary
    from langgraph_specsearch.generators.base import GenerationSettings

    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        role: {
            engine: {"prefill": [], "full": [], "decode_step": [], "tokens": []}
            for engine in ("transformers", "llamacpp")
        }
        for role in ("drafter", "target")
    }
    warm: dict[str, list[float]] = {"drafter": [], "target": []}
    warm_up = GenerationSettings(delimiter="", max_new_tokens=2, seed=1)
    for engine in engines.values():  # first calls pay one-off costs (allocation, kernels)
        for generator in engine.values():
            time_call(generator, PATHS, warm_up)
    for round_index in range(args.rounds):
        full = GenerationSettings(
            delimiter="",
            max_new_tokens=args.tokens,
            temperature=0.7,
            top_p=0.95,
            seed=100 + round_index,
        )
        prefill = GenerationSettings(**{**vars(full), "max_new_tokens": 1})
        order = (
            ("transformers", "llamacpp") if round_index % 2 == 0 else ("llamacpp", "transformers")
        )
        for role in ("drafter", "target"):
            for engine in order:
                generator = engines[engine][role]
                cold = getattr(generator, "clear_prefix_cache", lambda: None)
                cold()
                first, _, _ = time_call(generator, PATHS, prefill)
                cold()
                seconds, tokens, rows = time_call(generator, PATHS, full)
                steps = max(1, round(tokens / rows) - 1)
                record = samples[role][engine]
                record["prefill"].append(first)
                record["full"].append(seconds)
                record["decode_step"].append(max(0.0, seconds - first) / steps)
                record["tokens"].append(tokens)
                print(
                    f"round {round_index + 1}/{args.rounds} {role} {engine}: prefill "
                    f"{first:.2f} s, call {seconds:.2f} s ({tokens} tokens)",
                    file=sys.stderr,
                    flush=True,
                )
            # the search's case: the previous step's prompt is cached, this step adds one step
            llama = engines["llamacpp"][role]
            llama.clear_prefix_cache()
            llama.generate(QUESTION, [path[:-1] for path in PATHS], [1, 1], prefill)
            seconds, _, _ = time_call(llama, PATHS, full)
            warm[role].append(seconds)
    results: dict[str, Any] = {}
    for role, engines_samples in samples.items():
        torch_runs, llama_runs = engines_samples["transformers"], engines_samples["llamacpp"]
        ratios = {
            key: ratio_summary(
                [a / b for a, b in zip(torch_runs[key], llama_runs[key], strict=True) if b > 0]
            )
            for key in ("prefill", "full", "decode_step")
        }
        results[role] = {
            "transformers": {key: spread(values) for key, values in torch_runs.items()},
            "llamacpp": {key: spread(values) for key, values in llama_runs.items()},
            "llamacpp_warm_full": spread(warm[role]),
            "speedup_transformers_over_llamacpp": ratios,
            "runs": {
                "transformers": torch_runs,
                "llamacpp": llama_runs,
                "llamacpp_warm": warm[role],
            },
        }
    return results


def agreement(args: argparse.Namespace, engines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from langgraph_specsearch.scorers.llamacpp import LlamaCppLikelihoodScorer
    from langgraph_specsearch.scorers.transformers import LikelihoodScorer

    rows = [json.loads(line) for line in DRAFTED.read_text().splitlines()]
    stride = max(1, len(rows) // args.steps)
    rows = rows[::stride][: args.steps]
    questions = [row["question"] for row in rows]
    paths = [[*row["previous"], row["step"]] for row in rows]
    scorers = {
        "transformers": LikelihoodScorer.from_generator(
            engines["transformers"]["target"], raw=True
        ),
        "llamacpp": LlamaCppLikelihoodScorer.from_generator(
            engines["llamacpp"]["target"], raw=True
        ),
    }
    scores: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for name, scorer in scorers.items():
        scorer.clear_prefix_cache()
        start = time.perf_counter()
        scores[name] = scorer.score_last(questions, paths)
        seconds[name] = round(time.perf_counter() - start, 2)
        print(f"scored {len(paths)} steps with {name}: {seconds[name]} s", file=sys.stderr)
    a, b = scores["transformers"], scores["llamacpp"]
    differences = [abs(x - y) for x, y in zip(a, b, strict=True)]
    labels = [row["label"] for row in rows]
    labelled = [i for i, label in enumerate(labels) if label is not None]
    return {
        "steps": len(rows),
        "rows": f"every {stride}th line of {DRAFTED.relative_to(ROOT.parent)}",
        "spearman": round(spearman(a, b), 4),
        "mean_abs_diff_mean_logprob_per_token": round(sum(differences) / len(differences), 4),
        "max_abs_diff": round(max(differences), 4),
        "mean_logprob": {name: round(sum(v) / len(v), 4) for name, v in scores.items()},
        "auroc_on_labelled": {
            name: auroc([v[i] for i in labelled], [labels[i] for i in labelled])
            for name, v in scores.items()
        },
        "labelled_steps": len(labelled),
        "seconds": seconds,
        "scores": scores,
    }


QUESTION = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' market "
    "daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' "
    "market?"
)
PATHS = [  # the two frontier paths of benchmarks/prefix_sharing.py
    ["Janet's ducks lay 16 eggs per day.", "She eats 3 eggs for breakfast every morning."],
    [
        "Janet's ducks lay 16 eggs per day.",
        "She uses 3 + 4 = 7 eggs every day for breakfast and muffins.",
        "So she has 16 - 7 = 9 eggs left to sell.",
    ],
]
COUNTS = [3, 3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per thought")
    parser.add_argument("--steps", type=int, default=40, help="steps scored for agreement")
    parser.add_argument("--skip-agreement", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))

    from machine_report import machine_facts, write_report

    from langgraph_specsearch.presets.assets import (
        load_default_generator,
        load_default_llamacpp_generator,
    )

    engines = {
        "transformers": {role: load_default_generator(role) for role in ("drafter", "target")},
        "llamacpp": {role: load_default_llamacpp_generator(role) for role in ("drafter", "target")},
    }
    llama_target = engines["llamacpp"]["target"]
    prompt_tokens = [
        len(llama_target.tokenize(llama_target.render_prompt(QUESTION, path, "\n\n")))
        for path in PATHS
    ]
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "what": (
            "llama.cpp (Q4_K_M GGUF, low-level batch API) vs transformers (bfloat16) on one "
            "search step's call (2 paths x 3 thoughts), interleaved rounds, medians with spread; "
            "and the target-likelihood scorers' agreement"
        ),
        "command": " ".join(["HF_HUB_OFFLINE=1", "python", *sys.argv]),
        "threads_env": os.environ.get("LANGGRAPH_SPECSEARCH_THREADS"),
        "llamacpp_threads": engines["llamacpp"]["target"].n_threads,
        "settings": {k: v for k, v in vars(args).items() if k != "output"},
        "prompt_tokens_per_path": prompt_tokens,
    }
    report["speed"] = speed(args, engines)
    if not args.skip_agreement:
        report["scorer_agreement"] = agreement(args, engines)
    report.update(machine_facts(load_before))
    report["note"] = "shared 2-core machine: compare the per-round ratios, not absolute seconds"
    write_report(args.output, report)
    for role, data in report["speed"].items():
        ratio = data["speedup_transformers_over_llamacpp"]
        for key in ("prefill", "decode_step", "full"):
            summary = ratio[key]
            print(
                f"{role:8s} {key:12s} transformers {data['transformers'][key]['median']:7.3f} s"
                f"  llama.cpp {data['llamacpp'][key]['median']:7.3f} s  ratio "
                f"{summary['median']:.2f}x (IQR {summary['q1']:.2f}-{summary['q3']:.2f})"
            )
    if "scorer_agreement" in report:
        agree = report["scorer_agreement"]
        print(
            f"scorer agreement on {agree['steps']} steps: Spearman {agree['spearman']}, "
            f"mean |diff| {agree['mean_abs_diff_mean_logprob_per_token']} nats/token"
        )


if __name__ == "__main__":
    main()
