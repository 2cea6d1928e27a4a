"""Featurise the labelled GSM8K steps with the drafter and train the PRM head on this CPU.

    HF_HUB_OFFLINE=1 LANGGRAPH_SPECSEARCH_THREADS=1 python scripts/train_prm_head.py

Why it is fast enough for a shared 2-core CPU: a problem's gold steps are prefixes of its full
gold solution, so one forward pass over the solution yields every gold step's features (a causal
model's state at a token never depends on later tokens); each corrupted step then reuses the
solution's KV cache up to where it diverges (cropped) and runs only its own ~25 tokens. A check
at start-up confirms these features equal the batched scorer's (``PRMHeadScorer``) own pass.

Model selection (layers, pooling, regularisation) uses 5-fold cross-validation by problem inside
the train split only; the held-out split is scored once, with the chosen head, at the end.
Features are cached (``--cache``) so re-training does not re-run the model.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_specsearch.generators.transformers import PRM_HEAD_SYSTEM_PROMPT
from langgraph_specsearch.scorers.prm_head import (
    DEFAULT_DELIMITER,
    DEFAULT_WEIGHTS,
    FeatureSpec,
    RawFeatures,
    extract_features,
    render_steps,
    step_token_span,
)
from research.prm_data import (
    SEED,
    StepExample,
    auroc,
    build_splits,
    pair_accuracy,
    read_examples,
)
from research.prm_head_training import fit_linear_head, save_head

# The system prompt the synthetic steps' features are read under (the drafter's default prompt
# when the head was first trained); load_default_prm_head(..., reuse_drafting_states=False) pins it.
PROMPT = PRM_HEAD_SYSTEM_PROMPT
STORED_LAYERS = (6, 12, 16, 18, 20, 24)
# A first, wider sweep (CV on train only) found middle layers best (layer 12 > 16 > 18 > 24 for
# last+mean: 0.87, 0.86, 0.84, 0.75), more layers no better, and the step's log-prob statistics
# adding about 0.04; these candidates keep the informative part of that sweep.
CANDIDATES = [
    FeatureSpec((24,), True, False),
    FeatureSpec((12,), True, True),
    FeatureSpec((12, 18, 24), True, True),
    FeatureSpec((12,), False, True, logprob=True),
    FeatureSpec((12,), True, True, logprob=True),
    FeatureSpec((12, 16), True, True, logprob=True),
    FeatureSpec((12, 18, 24), True, True, logprob=True),
]
L2S = (0.03, 0.1, 0.3)


# ----------------------------------------------------------------------------- featurisation
def _pool_from(
    hidden: list[torch.Tensor], first: int, last: int, layers: tuple[int, ...]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    lasts = {layer: hidden[layer][last].float().numpy() for layer in layers}
    means = {layer: hidden[layer][first : last + 1].float().mean(0).numpy() for layer in layers}
    return lasts, means


def _stats(model, finals: torch.Tensor, ids: list[int], first: int) -> tuple[float, float]:
    # state i predicts token i + 1: the step tokens first..end come from states first-1..end-1
    logits = model.get_output_embeddings()(finals[first - 1 : len(ids) - 1]).float()
    targets = torch.tensor(ids[first:])[:, None]
    logp = torch.log_softmax(logits, -1).gather(1, targets)[:, 0]
    return float(logp.mean()), float(logp.min())


@torch.no_grad()
def featurize_problem(gen, examples: list[StepExample]) -> list[RawFeatures]:
    """Features of one problem's examples: one pass over the solution, cropped-cache corruptions."""
    model, tok = gen.model, gen.tokenizer
    question = examples[0].question
    gold_rows = [e for e in examples if e.label == 1]
    longest = max(gold_rows, key=lambda e: e.position)
    gold_steps = [*longest.previous, longest.step]
    full, _ = render_steps(gen, question, gold_steps, DEFAULT_DELIMITER, PROMPT)
    ids = tok(full, add_special_tokens=False)["input_ids"]
    out = model(torch.tensor([ids]), use_cache=True, output_hidden_states=True)
    hidden = [h[0] for h in out.hidden_states]
    cache = out.past_key_values
    valid = len(ids)
    results: dict[int, RawFeatures] = {}
    order = sorted(range(len(examples)), key=lambda i: -examples[i].position)
    for index in order:
        ex = examples[index]
        text, start = render_steps(
            gen, question, [*ex.previous, ex.step], DEFAULT_DELIMITER, PROMPT
        )
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        row = list(enc["input_ids"])
        first = step_token_span(enc["offset_mapping"], start)
        common = 0
        while common < min(len(row), len(ids)) and row[common] == ids[common]:
            common += 1
        if common == len(row) and ex.label == 1:
            # a gold step: its prompt is a token prefix of the solution
            lasts, means = _pool_from(hidden, first, len(row) - 1, STORED_LAYERS)
            stats = _stats(model, hidden[-1], row, first)
            results[index] = RawFeatures(lasts, means, stats)
            continue
        n = max(1, min(common, valid, len(row) - 1))
        _crop(cache, n)
        valid = n
        part = model(
            torch.tensor([row[n:]]),
            past_key_values=cache,
            use_cache=True,
            output_hidden_states=True,
        )
        joined = [torch.cat([h[:n], p[0]]) for h, p in zip(hidden, part.hidden_states, strict=True)]
        lasts, means = _pool_from(joined, first, len(row) - 1, STORED_LAYERS)
        stats = _stats(model, joined[-1], row, first)
        results[index] = RawFeatures(lasts, means, stats)
    return [results[i] for i in range(len(examples))]


def _crop(cache, length: int) -> None:
    """Keep the first ``length`` positions (transformers 5 crops by a negative count)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def by_problem(examples: list[StepExample]) -> list[list[StepExample]]:
    groups: dict[str, list[StepExample]] = {}
    for ex in examples:
        groups.setdefault(ex.problem_id, []).append(ex)
    return list(groups.values())


def featurize(gen, examples: list[StepExample], label: str) -> dict[str, np.ndarray]:
    """Stack all examples' features into arrays (hidden states as float16: a small cache)."""
    feats: list[RawFeatures] = []
    start = time.perf_counter()
    groups = by_problem(examples)
    for done, group in enumerate(groups, 1):
        feats.extend(featurize_problem(gen, group))
        if done % 20 == 0 or done == len(groups):
            rate = (time.perf_counter() - start) / len(feats)
            print(f"  {label}: {done}/{len(groups)} problems, {rate:.3f} s/step", flush=True)
    arrays = {
        f"last{layer}": np.stack([f.last[layer] for f in feats]).astype(np.float16)
        for layer in STORED_LAYERS
    }
    arrays.update(
        {
            f"mean{layer}": np.stack([f.mean[layer] for f in feats]).astype(np.float16)
            for layer in STORED_LAYERS
        }
    )
    arrays["logprob"] = np.asarray([f.logprob for f in feats], dtype=np.float32)
    arrays["label"] = np.asarray([e.label for e in examples], dtype=np.int64)
    return arrays


def check_against_scorer(gen, examples: list[StepExample]) -> float:
    """Largest relative difference between the fast path and the scorer's batched pass."""
    fast = featurize_problem(gen, examples)
    prompts = [
        render_steps(gen, e.question, [*e.previous, e.step], DEFAULT_DELIMITER, PROMPT)
        for e in examples
    ]
    slow = extract_features(
        gen.model, gen.tokenizer, [p for p, _ in prompts], [s for _, s in prompts], (18, 24)
    )
    worst = 0.0
    for a, b in zip(fast, slow, strict=True):
        for layer in (18, 24):
            for x, y in ((a.last[layer], b.last[layer]), (a.mean[layer], b.mean[layer])):
                worst = max(worst, float(np.abs(x - y).max() / (np.abs(y).max() + 1e-6)))
        worst = max(worst, abs(a.logprob[0] - b.logprob[0]) / (abs(b.logprob[0]) + 1e-6))
    return worst


def matrix(arrays: dict[str, np.ndarray], spec: FeatureSpec) -> np.ndarray:
    parts = []
    for layer in spec.layers:
        if spec.last:
            parts.append(arrays[f"last{layer}"].astype(np.float32))
        if spec.mean:
            parts.append(arrays[f"mean{layer}"].astype(np.float32))
    if spec.logprob:
        parts.append(arrays["logprob"])
    return np.concatenate(parts, axis=1)


# ----------------------------------------------------------------------------- selection
def cross_validate(
    x: np.ndarray, y: np.ndarray, groups: list[str], l2: float, folds: int = 5
) -> float:
    """Mean AUROC over folds split by problem (never the same problem in fit and score)."""
    unique = sorted(set(groups))
    random.Random(SEED).shuffle(unique)
    fold_of = {g: i % folds for i, g in enumerate(unique)}
    fold = np.asarray([fold_of[g] for g in groups])
    scores = []
    for k in range(folds):
        head = fit_linear_head(x[fold != k], y[fold != k], l2=l2)
        scores.append(auroc(y[fold == k], head.logits(x[fold == k])))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        default=str(Path.home() / ".cache" / "langgraph_specsearch" / "prm_features"),
        help="feature cache directory (features are re-used unless --refeaturize)",
    )
    parser.add_argument("--out", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--refeaturize", action="store_true")
    args = parser.parse_args(argv)
    torch.manual_seed(SEED)

    train, heldout = build_splits()
    committed = read_examples()
    if [e.to_json() for e in committed] != [e.to_json() for e in heldout]:
        raise SystemExit("benchmarks/data/prm_heldout.jsonl differs from the seeded split")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    paths = {"train": cache / "train.npz", "heldout": cache / "heldout.npz"}
    if args.refeaturize or not all(p.exists() for p in paths.values()):
        from langgraph_specsearch.presets.assets import load_default_generator

        gen = load_default_generator("drafter")
        print(f"torch threads: {torch.get_num_threads()}", flush=True)
        worst = check_against_scorer(gen, by_problem(heldout)[0])
        print(f"fast featurisation vs scorer pass: max relative difference {worst:.2e}")
        if worst > 0.05:
            raise SystemExit("the fast featurisation disagrees with the scorer's pass")
        for name, examples in (("train", train), ("heldout", heldout)):
            arrays = featurize(gen, examples, name)
            np.savez(paths[name], **arrays)
    data = {name: dict(np.load(path)) for name, path in paths.items()}
    y = data["train"]["label"]
    groups = [e.problem_id for e in train]
    print(f"train: {len(y)} steps from {len(set(groups))} problems; 5-fold CV AUROC by problem")
    best = None
    for spec in CANDIDATES:
        x = matrix(data["train"], spec)
        for l2 in L2S:
            cv = cross_validate(x, y, groups, l2)
            print(f"  {json.dumps(spec.to_dict())} l2={l2:g}: {cv:.4f}", flush=True)
            if best is None or cv > best[0]:
                best = (cv, spec, l2)
    assert best is not None
    cv, spec, l2 = best
    head = fit_linear_head(matrix(data["train"], spec), y, l2=l2)
    x_held = matrix(data["heldout"], spec)
    y_held = data["heldout"]["label"]
    held_scores = head.logits(x_held)
    held_auroc = auroc(y_held, held_scores)
    pairs = pair_accuracy(heldout, held_scores)
    print(f"chosen: {json.dumps(spec.to_dict())} l2={l2:g} (CV AUROC {cv:.4f})")
    print(f"held-out AUROC: {held_auroc:.4f} over {len(y_held)} steps; pair accuracy {pairs:.4f}")
    for kind in sorted({e.kind for e in heldout} - {"gold"}):
        keep = [i for i, e in enumerate(heldout) if e.kind in (kind, "gold")]
        print(f"  vs {kind}: AUROC {auroc(y_held[keep], held_scores[keep]):.4f}")
    lp = data["heldout"]["logprob"][:, 0]
    print(f"(same pass, mean step log-prob alone: held-out AUROC {auroc(y_held, lp):.4f})")
    info = {
        "model": "Qwen/Qwen2.5-Coder-0.5B-Instruct (bfloat16, default drafter)",
        "data": "GSM8K train, research.prm_data.build_splits()",
        "seed": SEED,
        "train_steps": len(y),
        "l2": l2,
        "cv_auroc": round(cv, 4),
        "heldout_auroc": round(held_auroc, 4),
        "command": "python scripts/train_prm_head.py",
    }
    save_head(args.out, head, spec, info)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
