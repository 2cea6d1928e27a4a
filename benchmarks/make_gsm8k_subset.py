"""Rebuild the GSM8K subset the package ships, exactly, from GSM8K test and the seed.

python benchmarks/make_gsm8k_subset.py --source ../shared/data/gsm8k/test.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from langgraph_specsearch.bench.data import (
    GSM8K_SEED,
    GSM8K_SUBSET_NAME,
    GSM8K_SUBSET_SIZE,
    load_jsonl,
    seeded_subset,
)

REPO = Path(__file__).resolve().parents[1]
GSM8K_SOURCE = REPO.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
GSM8K_SUBSET = REPO / "langgraph_specsearch" / "bench" / "datasets" / GSM8K_SUBSET_NAME


def write_gsm8k_subset(
    source: str | Path = GSM8K_SOURCE,
    dest: str | Path = GSM8K_SUBSET,
    *,
    n: int = GSM8K_SUBSET_SIZE,
    seed: int = GSM8K_SEED,
) -> Path:
    """Copy a seeded subset of GSM8K test into ``dest`` with ids and the MIT licence beside it.

    Ids are ``gsm8k-test-<0-based row in test.jsonl>`` so each problem traces back to the source.
    """
    source, dest = Path(source), Path(dest)
    problems = load_jsonl(source)
    chosen = seeded_subset(list(enumerate(problems)), n, seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8") as handle:
        for row, problem in chosen:
            record = {
                "id": f"gsm8k-test-{row}",
                "question": problem.question,
                "answer": problem.solution,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    licence = source.parent / "LICENSE"
    if licence.exists():
        shutil.copyfile(licence, dest.parent / "LICENSE.gsm8k")
    return dest


def main(argv: Sequence[str] | None = None) -> None:
    """Command line for regenerating the committed subset."""
    parser = argparse.ArgumentParser(description=write_gsm8k_subset.__doc__)
    parser.add_argument("--source", default=str(GSM8K_SOURCE))
    parser.add_argument("--dest", default=str(GSM8K_SUBSET))
    parser.add_argument("-n", type=int, default=GSM8K_SUBSET_SIZE)
    parser.add_argument("--seed", type=int, default=GSM8K_SEED)
    args = parser.parse_args(argv)
    print(write_gsm8k_subset(args.source, args.dest, n=args.n, seed=args.seed))


if __name__ == "__main__":
    main()
