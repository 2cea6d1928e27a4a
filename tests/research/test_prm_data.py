"""The labelled step set: AUROC arithmetic, problem-disjoint splits, corruptions that are wrong."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

import pytest

from research.prm_data import (
    HELDOUT_PATH,
    KINDS,
    auroc,
    average_ranks,
    build_splits,
    corrupt,
    examples_for_problem,
    pair_accuracy,
    parse_solution,
    read_examples,
    safe_eval,
    split_problems,
)

SOLUTION = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n"
    "#### 72"
)
QUESTION = "Natalia sold clips to 48 of her friends in April, and half as many in May. Total?"


def _write_train(path: Path, n: int) -> Path:
    rows = [{"question": f"{QUESTION} ({i})", "answer": SOLUTION} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- AUROC
def test_auroc_perfect_inverse_and_hand_computed() -> None:
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    # pos {0.8, 0.3}, neg {0.5, 0.1}: pairs (0.8>0.5, 0.8>0.1, 0.3<0.5, 0.3>0.1) -> 3/4
    assert auroc([1, 0, 1, 0], [0.8, 0.5, 0.3, 0.1]) == pytest.approx(0.75)


def test_auroc_ties_count_one_half() -> None:
    assert auroc([1, 0], [0.5, 0.5]) == 0.5
    assert auroc([1, 1, 0, 0], [1.0, 1.0, 1.0, 1.0]) == 0.5
    # pos {2, 1}, neg {1, 0}: 2>1, 2>0, 1=1 (half), 1>0 -> 3.5/4
    assert auroc([1, 1, 0, 0], [2.0, 1.0, 1.0, 0.0]) == pytest.approx(0.875)
    # 3 pos, 2 neg, pos {3, 2, 2}, neg {2, 1}: 3>2,3>1, 2=2 (.5), 2>1, 2=2 (.5), 2>1 -> 5/6
    assert auroc([1, 1, 1, 0, 0], [3, 2, 2, 2, 1]) == pytest.approx(5 / 6)


def test_auroc_handles_minus_infinity_and_rejects_bad_input() -> None:
    assert auroc([1, 0], [0.0, float("-inf")]) == 1.0
    assert auroc([1, 0], [float("-inf"), float("-inf")]) == 0.5
    with pytest.raises(ValueError):
        auroc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError):
        auroc([1, 0], [float("nan"), 0.2])
    with pytest.raises(ValueError):
        auroc([1, 0, 1], [0.1, 0.2])


def test_average_ranks_share_ties() -> None:
    assert list(average_ranks([10, 20, 20, 30])) == [1.0, 2.5, 2.5, 4.0]
    assert list(average_ranks([5, 5, 5])) == [2.0, 2.0, 2.0]


def test_auroc_matches_brute_force_pair_count() -> None:
    rng = random.Random(3)
    for _ in range(20):
        labels = [rng.randint(0, 1) for _ in range(30)] + [0, 1]
        scores = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for _ in labels]
        pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
        neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
        wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
        assert auroc(labels, scores) == pytest.approx(wins / (len(pos) * len(neg)))


# ----------------------------------------------------------------------------- splits
def test_split_never_shares_a_problem() -> None:
    ids = [f"p{i}" for i in range(100)]
    train, heldout = split_problems(ids, 60, 30, seed=1)
    assert len(train) == 60 and len(heldout) == 30
    assert not set(train) & set(heldout)
    assert split_problems(ids, 60, 30, seed=1) == (train, heldout)
    with pytest.raises(ValueError):
        split_problems(ids, 80, 30, seed=1)


def test_build_splits_are_problem_disjoint_and_seeded(tmp_path: Path) -> None:
    path = _write_train(tmp_path / "train.jsonl", 40)
    train, heldout = build_splits(path, n_train=25, n_heldout=10, seed=5, pairs=2)
    assert train and heldout
    assert not {e.problem_id for e in train} & {e.problem_id for e in heldout}
    assert not {e.question for e in train} & {e.question for e in heldout}
    again = build_splits(path, n_train=25, n_heldout=10, seed=5, pairs=2)
    assert again == (train, heldout)


def test_committed_heldout_is_disjoint_from_the_train_split() -> None:
    heldout = read_examples(HELDOUT_PATH)
    train, rebuilt = build_splits()
    assert [e.to_json() for e in rebuilt] == [e.to_json() for e in heldout]
    assert not {e.problem_id for e in train} & {e.problem_id for e in heldout}
    assert sum(e.label for e in heldout) * 2 == len(heldout)


# ----------------------------------------------------------------------------- corruptions
def test_parse_strips_annotations_and_rewrites_the_answer() -> None:
    steps, answer = parse_solution(SOLUTION)
    assert answer == "72"
    assert [s.text for s in steps] == [
        "Natalia sold 48/2 = 24 clips in May.",
        "Natalia sold 48+24 = 72 clips altogether in April and May.",
        "The answer is 72.",
    ]
    assert steps[0].expr == "48/2" and steps[0].value == "24"
    assert steps[0].text[slice(*steps[0].result_span)] == "24"


def test_safe_eval_is_exact_and_refuses_code() -> None:
    assert safe_eval("48/2") == 24
    assert safe_eval("1/3") == Fraction(1, 3)
    assert safe_eval("__import__('os')") is None
    assert safe_eval("2**8") is None


def test_arithmetic_corruptions_are_wrong_by_arithmetic() -> None:
    steps, answer = parse_solution(SOLUTION)
    rng = random.Random(0)
    result = corrupt(steps, 1, "wrong_result", answer, rng)
    assert result is not None and result != steps[1].text
    assert "48+24 = 72 clips" not in result
    operation = corrupt(steps, 1, "wrong_operation", answer, rng)
    assert operation == "Natalia sold 48-24 = 24 clips altogether in April and May."
    operand = corrupt(steps, 1, "wrong_operand", answer, rng)
    assert operand is not None and operand != steps[1].text
    assert corrupt(steps, 1, "repeated_step", answer, rng) == steps[0].text
    assert corrupt(steps, 0, "skipped_step", answer, rng) == steps[1].text
    final = corrupt(steps, 2, "wrong_answer", answer, rng)
    assert final is not None and final != "The answer is 72." and final.startswith("The answer is")
    # kinds that do not apply at a position give None rather than a fake corruption
    assert corrupt(steps, 0, "repeated_step", answer, rng) is None
    assert corrupt(steps, 0, "wrong_answer", answer, rng) is None


def test_every_corruption_changes_the_step_and_is_labelled_zero() -> None:
    heldout = read_examples(HELDOUT_PATH)
    gold = {(e.problem_id, e.position): e for e in heldout if e.label == 1}
    bad = [e for e in heldout if e.label == 0]
    assert {e.kind for e in bad} == set(KINDS)
    assert all(e.kind == "gold" for e in gold.values())
    for e in bad:
        partner = gold[(e.problem_id, e.position)]
        assert e.step.strip() != partner.step.strip()
        assert e.previous == partner.previous and e.question == partner.question


def test_examples_come_in_pairs_after_the_same_prefix() -> None:
    rng = random.Random(1)
    examples = examples_for_problem("p", QUESTION, SOLUTION, rng, pairs=3)
    assert len(examples) % 2 == 0 and examples
    for gold, bad in zip(examples[::2], examples[1::2], strict=True):
        assert (gold.label, bad.label) == (1, 0)
        assert gold.previous == bad.previous and gold.position == bad.position
        assert gold.step != bad.step


def test_pair_accuracy_counts_wins_and_ties() -> None:
    examples = examples_for_problem("p", QUESTION, SOLUTION, random.Random(1), pairs=2)
    assert len(examples) == 4
    assert pair_accuracy(examples, [1.0, 0.0, 0.5, 0.5]) == 0.75


def test_evaluate_scores_one_call_per_problem_and_summarises() -> None:
    from research.scorer_eval import ScorerResult, evaluate, subset_auroc

    examples = read_examples(HELDOUT_PATH)
    calls: list[int] = []

    def oracle(questions: list[str], paths: list[list[str]]) -> list[float]:
        calls.append(len(paths))
        # keyed by position too: a repeated step's text is also a gold step one position earlier
        gold = {(e.question, e.position, e.step): e.label for e in examples}
        return [float(gold[(q, len(p) - 1, p[-1])]) for q, p in zip(questions, paths, strict=True)]

    result = evaluate("oracle", oracle, examples, n_problems=5, progress=False)
    summary = result.summary()
    assert summary["n_problems"] == 5
    assert len(calls) == 5 and summary["n"] == sum(calls)
    assert summary["auroc"] == 1.0 and summary["pair_accuracy"] == 1.0
    reference = ScorerResult("ref", result.scores, result.examples, 0.0)
    assert subset_auroc(reference, result.examples[:12]) == 1.0
