"""Does a llama.cpp decode step cost more with a full KV cache, and how much does one call's
time move on this machine?

The estimate's own timed calls (`specsearch estimate`: two fresh prompts, 8 and 24 tokens, the
decode step as their slope): the drafter at 12 rows and the target at 6, from an emptied cache
against one holding 8 long cached prompts (8 problems' questions, each with a 12-step path: about
2,800 cells), the arms alternating over ``--rounds`` rounds. A search's cache holds cached prompts
the estimate's does not; if they made decode dearer the estimate would price searches low. The
spread of one arm's rounds is the machine's own noise on one call.

    HF_HUB_OFFLINE=1 python benchmarks/kv_fill.py [--rounds 3]

Writes benchmarks/results/kv_fill.json.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from provenance import write_results

from langgraph_specsearch.bench.data import default_problems_path, load_jsonl
from langgraph_specsearch.bench.estimate import PATHS, _read, _timed_call
from langgraph_specsearch.generators.base import GenerationSettings
from langgraph_specsearch.presets.models import load_real_models

ROOT = Path(__file__).resolve().parent
LONG_PATH = ["Let me work through this carefully, one quantity at a time, writing every number."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "kv_fill.json")
    args = parser.parse_args()
    drafter, target, _ = load_real_models("likelihood-target", engine="llamacpp")
    questions = [item.question for item in load_jsonl(default_problems_path())[:8]]
    serial = itertools.count(1)

    def step_ms(generator: Any, rows: int) -> float:
        """A ``rows``-row call's decode step over two fresh prompts, as the estimate times it."""
        timed = {}
        for tokens in (8, 24):
            n = next(serial)
            paths = [
                [*PATHS[i], f"Then {n} more rolls come out of the oven ({i})."] for i in (0, 1)
            ]
            _read(generator, PATHS[:2])
            counts = [rows - rows // 2, rows // 2]
            timed[tokens] = _timed_call(generator, paths, counts, tokens, time.perf_counter, 100)
        (s8, n8), (s24, n24) = timed[8], timed[24]
        return (s24 - s8) / (n24 - n8) * 1000

    found: dict[str, list[float]] = {}
    for round_index in range(args.rounds):
        arms = ("empty", "filled") if round_index % 2 == 0 else ("filled", "empty")
        for arm in arms:
            for name, generator, rows in (("drafter", drafter, 12), ("target", target, 6)):
                generator.clear_prefix_cache()
                if arm == "filled":
                    one = GenerationSettings(delimiter="", max_new_tokens=1, seed=1)
                    for question in questions:
                        generator.generate(question, [LONG_PATH * 12], [1], one)
                found.setdefault(f"{name} {rows} rows, {arm}", []).append(step_ms(generator, rows))
    write_results(
        args.output,
        {
            "command": f"HF_HUB_OFFLINE=1 python benchmarks/kv_fill.py --rounds {args.rounds}",
            "decode_step_ms": {
                arm: {
                    "rounds": [round(v, 1) for v in values],
                    "median": round(statistics.median(values), 1),
                    "min": round(min(values), 1),
                    "max": round(max(values), 1),
                }
                for arm, values in found.items()
            },
        },
    )


if __name__ == "__main__":
    main()
