"""Steps the default drafter writes on GSM8K train problems, labelled, with the head's features.

    HF_HUB_OFFLINE=1 python scripts/label_drafted_steps.py --problems 160

For each problem (none of them in the synthetic set's splits): a random gold prefix, then M
drafts of the next step by the drafter as it drafts in search (temperature 0.7, top-p 0.95, its
one-shot prompt), labelled by ``drafted_labels.label_step`` (arithmetic and gold results).
Features are the ones the head reads in search: kept from the drafting pass for delimiter-ended
steps, a pass under the drafting prompt for the rest. Problems split by id into train and
held-out (a quarter), seeded.

Writes ``benchmarks/data/prm_drafted.jsonl`` (the labelled steps, no features: committed) and
``<cache>/drafted.jsonl`` (with features; resumable: finished problems are skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_specsearch.generators.base import GenerationSettings
from research.drafted_labels import label_step
from research.prm_data import (
    N_HELDOUT,
    N_TRAIN,
    SEED,
    load_train,
    parse_solution,
    split_problems,
)

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "data" / "prm_drafted.jsonl"
CACHE = Path.home() / ".cache" / "langgraph_specsearch" / "prm_features"
DRAFT_SEED = 23


def choose_problems(n: int) -> list[tuple[str, str, str, str]]:
    """``n`` train problems outside the synthetic splits, with their split ("train"/"heldout")."""
    rows = load_train()
    used_train, used_heldout = split_problems([r[0] for r in rows], N_TRAIN, N_HELDOUT, SEED)
    used = set(used_train) | set(used_heldout)
    fresh = [r for r in rows if r[0] not in used]
    picked = random.Random(DRAFT_SEED).sample(fresh, n)
    held = {pid for pid, _, _ in picked[: n // 4]}
    return [(pid, q, s, "heldout" if pid in held else "train") for pid, q, s in picked]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=160)
    parser.add_argument("--drafts", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)

    from langgraph_specsearch.presets.assets import load_default_generator
    from langgraph_specsearch.scorers.prm_head import load_default_prm_head

    drafter = load_default_generator("drafter")
    scorer = load_default_prm_head(drafter)
    args.cache.mkdir(parents=True, exist_ok=True)
    store = args.cache / "drafted.jsonl"
    done = set()
    if store.exists():
        done = {json.loads(line)["problem_id"] for line in store.open() if line.strip()}
    problems = choose_problems(args.problems)
    start = time.perf_counter()
    with store.open("a", encoding="utf-8") as out:
        for index, (pid, question, solution, split) in enumerate(problems):
            if pid in done:
                continue
            steps, _ = parse_solution(solution)
            rng = random.Random(f"{DRAFT_SEED}:{pid}")
            position = rng.randrange(len(steps))
            previous = [s.text for s in steps[:position]]
            settings = GenerationSettings(
                max_new_tokens=args.tokens,
                temperature=0.7,
                top_p=0.95,
                seed=rng.randrange(2**31),
                delimiter="\n\n",
            )
            thoughts = drafter.generate(question, [previous], [args.drafts], settings)[0]
            kept = [t for t in thoughts if t.text.strip()]
            if not kept:
                continue
            features = scorer.features([question] * len(kept), [[*previous, t.text] for t in kept])
            for thought, vector in zip(kept, features, strict=True):
                row = {
                    "problem_id": pid,
                    "split": split,
                    "question": question,
                    "previous": previous,
                    "position": position,
                    "step": thought.text,
                    "finish_reason": thought.finish_reason,
                    "label": label_step(question, previous, thought.text, solution),
                    "features": [round(float(v), 5) for v in vector],
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            rate = (time.perf_counter() - start) / max(1, index + 1 - len(done))
            print(f"{index + 1}/{len(problems)} {pid} ({rate:.1f} s/problem)", flush=True)

    rows = [json.loads(line) for line in store.open() if line.strip()]
    wanted = {pid for pid, *_ in problems}
    COMMITTED.write_text(
        "".join(
            json.dumps({k: v for k, v in row.items() if k != "features"}, ensure_ascii=False) + "\n"
            for row in rows
            if row["problem_id"] in wanted
        ),
        encoding="utf-8",
    )
    labelled = [r for r in rows if r["label"] is not None]
    print(
        f"{len(rows)} drafted steps, {len(labelled)} labelled "
        f"({sum(r['label'] for r in labelled)} right); wrote {COMMITTED}"
    )


if __name__ == "__main__":
    main()
