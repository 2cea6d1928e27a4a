"""Refit the PRM head on the synthetic steps plus steps the drafter wrote, and compare heads.

    python scripts/label_drafted_steps.py --problems 100     # first: labelled drafted steps
    python scripts/train_prm_head_drafted.py [--out PATH]

The head keeps its features (layer-12 mean state and the step's log-prob statistics). Training
data: the synthetic train split (gold vs corrupted, ``train.npz`` from scripts/train_prm_head.py)
and the *train* problems of the drafted set, each drafted row repeated ``weight`` times. L2 and
the weight are chosen by 5-fold cross-validation by problem on both train sets at once, by the
mean of the two sets' fold AUROCs (right steps must rank high on both kinds of step).
Held-out problems of both sets are scored once, at the end, for the shipped head, the refit
head and the drafter's mean log-prob alone.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_specsearch.scorers.prm_head import DEFAULT_WEIGHTS, load_head
from research.prm_data import SEED, auroc, build_splits
from research.prm_head_training import fit_linear_head, save_head

CACHE = Path.home() / ".cache" / "langgraph_specsearch" / "prm_features"
L2S = (0.03, 0.1, 0.3, 1.0, 3.0)
WEIGHTS = (1, 3, 6, 12)


def synthetic(cache: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = np.load(cache / f"{name}.npz")
    x = np.concatenate([arrays["mean12"].astype(np.float32), arrays["logprob"]], axis=1)
    return x, arrays["label"]


def drafted(cache: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = [json.loads(line) for line in (cache / "drafted.jsonl").open() if line.strip()]
    rows = [r for r in rows if r["split"] == split and r["label"] is not None]
    x = np.asarray([r["features"] for r in rows], dtype=np.float32)
    y = np.asarray([r["label"] for r in rows], dtype=np.int64)
    return x, y, [r["problem_id"] for r in rows]


def fit(x_syn, y_syn, x_dr, y_dr, l2: float, weight: int):
    x = np.concatenate([x_syn, *([x_dr] * weight)])
    y = np.concatenate([y_syn, *([y_dr] * weight)])
    return fit_linear_head(x, y, l2=l2)


def _folds(groups: list[str], k: int = 5) -> np.ndarray:
    unique = sorted(set(groups))
    random.Random(SEED).shuffle(unique)
    fold_of = {g: i % k for i, g in enumerate(unique)}
    return np.asarray([fold_of[g] for g in groups])


def cross_validate(
    x_syn, y_syn, syn_groups, x_dr, y_dr, groups, l2: float, weight: int
) -> tuple[float, float]:
    """Mean AUROC on held-back problems of each set (5 folds by problem, both sets at once)."""
    fold_dr, fold_syn = _folds(groups), _folds(syn_groups)
    drafted_scores, synthetic_scores = [], []
    for k in range(5):
        test_dr, test_syn = fold_dr == k, fold_syn == k
        head = fit(x_syn[~test_syn], y_syn[~test_syn], x_dr[~test_dr], y_dr[~test_dr], l2, weight)
        if len(set(y_dr[test_dr])) == 2:
            drafted_scores.append(auroc(y_dr[test_dr], head.logits(x_dr[test_dr])))
        synthetic_scores.append(auroc(y_syn[test_syn], head.logits(x_syn[test_syn])))
    return float(np.mean(drafted_scores)), float(np.mean(synthetic_scores))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=None, help="write the refit head here")
    args = parser.parse_args(argv)

    x_syn, y_syn = synthetic(args.cache, "train")
    x_syn_held, y_syn_held = synthetic(args.cache, "heldout")
    x_dr, y_dr, groups = drafted(args.cache, "train")
    x_dr_held, y_dr_held, held_groups = drafted(args.cache, "heldout")
    print(
        f"synthetic train {len(y_syn)}, drafted train {len(y_dr)} steps "
        f"({int(y_dr.sum())} right) from {len(set(groups))} problems; drafted held-out "
        f"{len(y_dr_held)} ({int(y_dr_held.sum())} right) from {len(set(held_groups))} problems"
    )
    syn_groups = [e.problem_id for e in build_splits()[0]]
    assert len(syn_groups) == len(y_syn)
    best = None
    for l2 in L2S:
        for weight in WEIGHTS:
            cv_dr, cv_syn = cross_validate(x_syn, y_syn, syn_groups, x_dr, y_dr, groups, l2, weight)
            cv = (cv_dr + cv_syn) / 2
            print(
                f"  l2={l2:g} weight={weight}: CV AUROC drafted {cv_dr:.4f}, "
                f"synthetic {cv_syn:.4f}, mean {cv:.4f}",
                flush=True,
            )
            if best is None or cv > best[0]:
                best = (cv, l2, weight)
    assert best is not None
    cv, l2, weight = best
    refit = fit(x_syn, y_syn, x_dr, y_dr, l2, weight)
    shipped, spec, _ = load_head(DEFAULT_WEIGHTS)

    table = {}
    for name, scores in (
        ("shipped head", lambda x: shipped.logits(x)),
        ("refit head", lambda x: refit.logits(x)),
        ("drafter mean log-prob", lambda x: x[:, -2]),
    ):
        table[name] = {
            "synthetic_heldout_auroc": round(auroc(y_syn_held, scores(x_syn_held)), 4),
            "drafted_heldout_auroc": round(auroc(y_dr_held, scores(x_dr_held)), 4),
        }
    print(f"chosen: l2={l2:g} weight={weight} (mean CV AUROC {cv:.4f})")
    print(json.dumps(table, indent=2))
    if args.out is not None:
        info = {
            "model": "Qwen/Qwen2.5-Coder-0.5B-Instruct (bfloat16, default drafter)",
            "data": "GSM8K train: prm_data.build_splits() train split + drafted train problems "
            "(scripts/label_drafted_steps.py)",
            "seed": SEED,
            "train_steps": int(len(y_syn) + weight * len(y_dr)),
            "l2": l2,
            "drafted_weight": weight,
            "cv_auroc_mean_of_sets": round(cv, 4),
            "heldout_auroc": table["refit head"]["synthetic_heldout_auroc"],
            "drafted_heldout_auroc": table["refit head"]["drafted_heldout_auroc"],
            "command": "python scripts/train_prm_head_drafted.py --out "
            "langgraph_specsearch/weights/prm_head_qwen05b.safetensors",
        }
        save_head(args.out, refit, spec, info)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
