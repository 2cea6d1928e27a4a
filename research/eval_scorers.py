"""Evaluate every step scorer the package offers on the held-out labelled steps.

    HF_HUB_OFFLINE=1 LANGGRAPH_SPECSEARCH_THREADS=1 python scripts/eval_scorers.py
    # or a few at a time, merging into the same results file:
    python scripts/eval_scorers.py --only head,likelihood-drafter --problems likelihood-drafter=60

Writes ``benchmarks/results/scorers.json`` (scorer name -> AUROC, seconds per step, n, ...) and
the per-step scores to ``benchmarks/results/scorer_scores.json`` (so subsets can be compared).
``drafting`` measures what drafting one step costs with the drafter (the head's cost reference).
``--set drafted`` scores the drafter's own held-out steps instead (scripts/label_drafted_steps.py)
into ``benchmarks/results/scorers_drafted.json``:

    python scripts/eval_scorers.py --set drafted --only head,likelihood-drafter,likelihood-target
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from research.prm_data import StepExample, read_examples
from research.scorer_eval import (
    RESULTS_PATH,
    ScorerResult,
    evaluate,
    merge_results,
    problem_groups,
    subset_auroc,
)

SCORES_PATH = RESULTS_PATH.parent / "scorer_scores.json"
DRAFTED_RESULTS_PATH = RESULTS_PATH.parent / "scorers_drafted.json"
DRAFTED_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "prm_drafted.jsonl"
HEAD_NAME = "prm_head[Qwen2.5-Coder-0.5B]"
DEFAULT_PROBLEMS = {
    "head": None,
    "likelihood-drafter": 60,
    "likelihood-target": 30,
    "judge-drafter": 10,
    "judge-target": 6,
    "drafting": 6,
}
GRADE_ONLY_PROMPT = (
    "You grade one step of a step-by-step solution to a math problem. Judge only the LAST step: "
    "is it correct, does it follow from the previous steps, and does it make progress toward the "
    "answer? Reply with exactly one line of the form 'Grade: N', where N is an integer from 0 "
    "(wrong or useless) to 10 (correct and useful), and nothing else."
)

_models: dict[str, object] = {}


def generator(role: str):
    """Load each default model once and share it between scorers."""
    if role not in _models:
        from langgraph_specsearch.presets.assets import load_default_generator

        _models[role] = load_default_generator(role)
    return _models[role]


def chat_model(role: str, max_new_tokens: int):
    """A ChatHuggingFace over the already-loaded model (no second copy, no hub)."""
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    from transformers import pipeline

    gen = generator(role)
    pipe = pipeline(
        "text-generation",
        model=gen.model,
        tokenizer=gen.tokenizer,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        return_full_text=False,
    )
    llm = HuggingFacePipeline(pipeline=pipe, model_id=gen.name)
    return ChatHuggingFace(llm=llm, tokenizer=gen.tokenizer, model_id=gen.name)


def build(name: str):
    """(display name, score_last) of one scorer."""
    if name == "head":
        from langgraph_specsearch.scorers.prm_head import load_default_prm_head

        scorer = load_default_prm_head(generator("drafter"))
        return HEAD_NAME, scorer.score_last
    if name.startswith("likelihood-"):
        from langgraph_specsearch.scorers.transformers import LikelihoodScorer

        gen = generator(name.split("-", 1)[1])
        return f"likelihood[{gen.name}]", LikelihoodScorer.from_generator(gen).score_last
    if name.startswith("judge-"):
        from langgraph_specsearch.scorers.judge import LLMJudgeScorer

        role = name.split("-", 1)[1]
        judge = LLMJudgeScorer(
            chat_model(role, max_new_tokens=8), system_prompt=GRADE_ONLY_PROMPT, max_concurrency=1
        )
        judge.name = f"judge[{generator(role).name}]"
        return judge.name, judge.score_last
    raise SystemExit(f"unknown scorer {name!r}")


def measure_drafting(examples: list[StepExample], n_problems: int) -> dict:
    """Seconds per drafted step: 6 drafts per prefix in one batched call, as one frontier node.

    Also times the head scoring those same 6 drafts in one call, the cost ratio that matters.
    """
    from langgraph_specsearch.generators.base import GenerationSettings
    from langgraph_specsearch.scorers.prm_head import load_default_prm_head

    gen = generator("drafter")
    head = load_default_prm_head(gen)
    settings = GenerationSettings(temperature=0.7, seed=0)
    draft_s = score_s = 0.0
    drafted = tokens = 0
    for group in problem_groups(examples, n_problems):
        ex = group[0]
        start = time.perf_counter()
        thoughts = gen.generate(ex.question, [ex.previous], [6], settings)[0]
        draft_s += time.perf_counter() - start
        drafted += len(thoughts)
        tokens += sum(t.tokens for t in thoughts)
        paths = [[*ex.previous, t.text or " "] for t in thoughts]
        start = time.perf_counter()
        head.score_last([ex.question] * len(paths), paths)
        score_s += time.perf_counter() - start
        print(
            f"  drafting: {drafted} steps, {draft_s / drafted:.2f} s/step drafted, "
            f"{score_s / drafted:.3f} s/step scored by the head",
            flush=True,
        )
    return {
        "drafter_seconds_per_drafted_step": round(draft_s / drafted, 4),
        "drafter_tokens_per_drafted_step": round(tokens / drafted, 1),
        "head_seconds_per_step_on_those_drafts": round(score_s / drafted, 4),
        "head_over_drafting_cost": round(score_s / draft_s, 4),
        "drafting_n": drafted,
        "drafting_setup": "6 drafts per prefix in one batched generate, temperature 0.7, "
        f"max_new_tokens 160, {n_problems} held-out prefixes",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(DEFAULT_PROBLEMS))
    parser.add_argument(
        "--problems",
        action="append",
        default=[],
        help="NAME=N: measure NAME on the first N held-out problems",
    )
    parser.add_argument(
        "--set",
        choices=("synthetic", "drafted"),
        default="synthetic",
        help="synthetic: gold vs corrupted held-out steps (benchmarks/data/prm_heldout.jsonl); "
        "drafted: the drafter's own held-out steps, labelled (benchmarks/data/prm_drafted.jsonl)",
    )
    args = parser.parse_args(argv)
    problems = dict(DEFAULT_PROBLEMS)
    for item in args.problems:
        key, value = item.split("=")
        problems[key] = None if value in ("all", "") else int(value)
    if args.set == "drafted":
        evaluate_drafted(args.only.split(","), problems)
        return
    examples = read_examples()
    import torch

    stored = json.loads(SCORES_PATH.read_text()) if SCORES_PATH.exists() else {}
    for name in args.only.split(","):
        if name == "drafting":
            meta = measure_drafting(examples, problems["drafting"] or 6)
            meta["torch_threads"] = torch.get_num_threads()
            merge_results({"_meta": meta})
            continue
        display, score_last = build(name)
        result = evaluate(display, score_last, examples, problems.get(name))
        row = result.summary()
        row["torch_threads"] = torch.get_num_threads()
        # re-read before writing: another run may have added its scorers meanwhile
        stored = json.loads(SCORES_PATH.read_text()) if SCORES_PATH.exists() else {}
        stored[display] = result.scores
        SCORES_PATH.parent.mkdir(parents=True, exist_ok=True)
        SCORES_PATH.write_text(json.dumps(stored) + "\n")
        merge_results({display: row})
        print(display, json.dumps(row), flush=True)
    if SCORES_PATH.exists():
        compare_with_head(examples, json.loads(SCORES_PATH.read_text()))


def drafted_examples() -> list[StepExample]:
    """The labelled steps of the drafted set's held-out problems (``kind``: how each step ended)."""
    rows = [json.loads(line) for line in DRAFTED_PATH.open() if line.strip()]
    return [
        StepExample(
            problem_id=r["problem_id"],
            question=r["question"],
            previous=r["previous"],
            step=r["step"],
            label=int(r["label"]),
            kind=f"drafted-{r['finish_reason']}",
            position=int(r["position"]),
        )
        for r in rows
        if r["split"] == "heldout" and r["label"] is not None
    ]


def evaluate_drafted(names: list[str], problems: dict[str, int | None]) -> None:
    """Each scorer on the drafter's own held-out steps, into scorers_drafted.json."""
    examples = drafted_examples()
    for name in names:
        if name == "drafting":
            continue
        display, score_last = build(name)
        result = evaluate(display, score_last, examples, problems.get(name))
        row = result.summary()
        del row["auroc_by_kind"], row["pair_accuracy"]  # no (gold, corrupted) pairs here
        merge_results({display: row}, DRAFTED_RESULTS_PATH)
        print(display, json.dumps(row), flush=True)


def compare_with_head(examples: list[StepExample], stored: dict[str, list[float]]) -> None:
    """Record the head's AUROC on each other scorer's subset (the like-for-like comparison)."""
    head_scores = stored.get(HEAD_NAME)
    if head_scores is None:
        return
    reference = ScorerResult("head", head_scores, examples[: len(head_scores)], 0.0)
    rows = {}
    for display, scores in stored.items():
        if display == HEAD_NAME or len(scores) > len(head_scores):
            continue
        subset = examples[: len(scores)]
        data = json.loads(RESULTS_PATH.read_text()).get(display, {})
        data["head_auroc_same_subset"] = round(subset_auroc(reference, subset), 4)
        rows[display] = data
    if rows:
        merge_results(rows)


if __name__ == "__main__":
    main()
