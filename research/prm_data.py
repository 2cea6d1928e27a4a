"""A labelled set of reasoning steps from GSM8K train, split by problem, and AUROC.

Why: every step scorer (likelihood, LLM judge, the trained PRM head) has to be judged on the same
steps, with labels we trust. GSM8K solutions are one step per line, and their ``<<expr=value>>``
calculator annotations tell us exactly which arithmetic each step does, so we can corrupt a gold
step the way small models actually go wrong (a wrong result, a wrong operand, a wrong operation, a
repeated or skipped step, a wrong final answer) and know the corrupted step is wrong.

Each example is ``(question, previous gold steps, step, label, kind)``: gold steps are labelled 1,
corrupted ones 0. Examples come in pairs (the gold step and one corruption of it, after the same
prefix), so the set is balanced and a pair tells whether a scorer ranks the right version higher.
Splits are by problem, so no problem's text is seen in training and evaluation.

``python -m research.prm_data`` writes the held-out split to
``benchmarks/data/prm_heldout.jsonl``; the train split is rebuilt from the seed when needed.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import operator
import random
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parents[1]
GSM8K_TRAIN = _REPO.parent / "shared" / "data" / "gsm8k" / "train.jsonl"
HELDOUT_PATH = _REPO / "benchmarks" / "data" / "prm_heldout.jsonl"
SEED = 7
N_TRAIN = 360
N_HELDOUT = 120
PAIRS_PER_PROBLEM = 3

KINDS = (
    "wrong_result",
    "wrong_operand",
    "wrong_operation",
    "repeated_step",
    "skipped_step",
    "wrong_answer",
)
_ANNOTATION = re.compile(r"<<([^<>]*)>>")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class StepExample:
    """One labelled step: ``step`` follows the gold ``previous`` steps of ``question``."""

    problem_id: str
    question: str
    previous: list[str]
    step: str
    label: int
    kind: str
    position: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, row: dict) -> StepExample:
        return cls(
            problem_id=str(row["problem_id"]),
            question=str(row["question"]),
            previous=[str(s) for s in row["previous"]],
            step=str(row["step"]),
            label=int(row["label"]),
            kind=str(row["kind"]),
            position=int(row["position"]),
        )


@dataclass(frozen=True)
class GoldStep:
    """A clean step and its first calculator annotation (if any) located in the clean text."""

    text: str
    expr: str | None = None
    value: str | None = None
    # span of the displayed result (the number right after the annotation) in ``text``
    result_span: tuple[int, int] | None = None
    # the text between the previous annotation and this one: where the operands are displayed
    lead: tuple[int, int] | None = None


# ----------------------------------------------------------------------------- parsing
def parse_solution(solution: str) -> tuple[list[GoldStep], str]:
    """Split a GSM8K solution into clean steps; the final ``#### N`` becomes "The answer is N."."""
    lines = [line.strip() for line in solution.strip().split("\n") if line.strip()]
    if not lines or not lines[-1].startswith("####"):
        raise ValueError("a GSM8K solution must end with '#### N'")
    answer = lines[-1][4:].strip()
    steps = [_parse_line(line) for line in lines[:-1]]
    steps.append(GoldStep(f"The answer is {answer}."))
    return steps, answer


def _parse_line(line: str) -> GoldStep:
    """Strip annotations, remembering where the first one's result sits in the clean text."""
    clean: list[str] = []
    cursor = 0
    first: tuple[str, str, int] | None = None
    for match in _ANNOTATION.finditer(line):
        clean.append(line[cursor : match.start()])
        if first is None and "=" in match.group(1):
            expr, value = match.group(1).rsplit("=", 1)
            first = (expr.strip(), value.strip(), sum(len(c) for c in clean))
        cursor = match.end()
    clean.append(line[cursor:])
    text = "".join(clean)
    if first is None:
        return GoldStep(text)
    expr, value, at = first
    number = _NUMBER.match(text, at)
    if number is None:
        return GoldStep(text)
    return GoldStep(text, expr, value, (number.start(), number.end()), (0, at))


# ----------------------------------------------------------------------------- arithmetic
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def safe_eval(expr: str) -> Fraction | None:
    """Exact value of a +-*/ expression of plain numbers, or None for anything else."""
    try:
        tree = ast.parse(expr.replace(",", ""), mode="eval")
    except SyntaxError:
        return None

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError("unsupported")

    try:
        return walk(tree)
    except (ValueError, ZeroDivisionError):
        return None


def format_number(value: Fraction) -> str:
    """Integers without decimals, others with at most two decimals (as GSM8K writes them)."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return text


def _to_fraction(text: str) -> Fraction | None:
    try:
        return Fraction(text.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def wrong_values(value: Fraction, rng: random.Random) -> list[Fraction]:
    """Plausible slips for a correct result: off by one or ten, a factor of ten or two, a digit."""
    candidates = [value + 1, value - 1, value + 10, value - 10, value * 10, value * 2]
    if value.denominator == 1 and value.numerator % 10 == 0 and value != 0:
        candidates.append(value / 10)
    digits = str(abs(value.numerator)) if value.denominator == 1 else ""
    if len(digits) >= 2 and digits[-1] != digits[-2]:
        swapped = digits[:-2] + digits[-1] + digits[-2]
        candidates.append(Fraction(int(swapped)) * (1 if value >= 0 else -1))
    out = [c for c in candidates if c != value and (c >= 0 or value < 0)]
    rng.shuffle(out)
    return out


def _replace(text: str, span: tuple[int, int], new: str) -> str:
    return text[: span[0]] + new + text[span[1] :]


# ----------------------------------------------------------------------------- corruptions
def corrupt(
    steps: Sequence[GoldStep], k: int, kind: str, answer: str, rng: random.Random
) -> str | None:
    """A wrong version of step ``k`` of ``kind``, or None when ``kind`` does not apply there.

    The returned text always differs from the gold step (checked here, and by the tests).
    """
    gold = steps[k]
    final = k == len(steps) - 1
    new: str | None = None
    if kind == "wrong_answer" and final:
        new = _wrong_answer(steps, answer, rng)
    elif kind == "repeated_step" and k >= 1 and not final:
        new = steps[k - 1].text
    elif kind == "skipped_step" and k + 2 < len(steps):
        new = steps[k + 1].text  # jumps over step k, using a result not derived yet
    elif kind == "wrong_result" and gold.result_span is not None:
        value = _to_fraction(gold.text[slice(*gold.result_span)])
        if value is not None:
            options = wrong_values(value, rng)
            if options:
                new = _replace(gold.text, gold.result_span, format_number(options[0]))
    elif kind == "wrong_operand":
        new = _wrong_operand(gold, rng)
    elif kind == "wrong_operation":
        new = _wrong_operation(gold)
    if new is None or new.strip() == gold.text.strip():
        return None
    return new


def _wrong_answer(steps: Sequence[GoldStep], answer: str, rng: random.Random) -> str | None:
    """Stop at an intermediate result (a common slip), else report a near miss of the answer."""
    gold = _to_fraction(answer)
    if gold is None:
        return None
    intermediate = []
    for step in steps[:-1]:
        if step.result_span is not None:
            value = _to_fraction(step.text[slice(*step.result_span)])
            if value is not None and value != gold:
                intermediate.append(value)
    if intermediate and rng.random() < 0.5:
        wrong = rng.choice(intermediate)
    else:
        options = wrong_values(gold, rng)
        if not options:
            return None
        wrong = options[0]
    return f"The answer is {format_number(wrong)}."


def _operand_spans(gold: GoldStep) -> list[tuple[int, int]]:
    """Spans of displayed numbers before the result that are operands of the annotation."""
    if gold.expr is None or gold.lead is None:
        return []
    operands = {_to_fraction(n) for n in _NUMBER.findall(gold.expr)}
    spans = []
    for match in _NUMBER.finditer(gold.text, gold.lead[0], gold.lead[1]):
        if _to_fraction(match.group()) in operands:
            spans.append((match.start(), match.end()))
    return spans


def _display_expr(gold: GoldStep) -> tuple[str, tuple[int, int]] | None:
    """The displayed ``a op b ... =`` just before the result, as an evaluable string and span."""
    if gold.result_span is None or gold.lead is None:
        return None
    head = gold.text[: gold.lead[1]]
    match = re.search(r"((?:\$?\d[\d,.]*%?\s*[-+*/x×÷]\s*)+\$?\d[\d,.]*%?)\s*=\s*\$?\s*$", head)
    if match is None:
        return None
    shown = match.group(1)
    expr = re.sub(r"[$%]", "", shown).replace("x", "*").replace("×", "*").replace("÷", "/")
    return expr, (match.start(1), match.end(1))


def _wrong_operand(gold: GoldStep, rng: random.Random) -> str | None:
    """Change one displayed operand and recompute the result from the changed expression.

    The arithmetic stays internally consistent, so only the problem, not the calculation, shows the
    step is wrong: the hardest and most realistic kind.
    """
    shown = _display_expr(gold)
    if shown is None or gold.result_span is None:
        return None
    expr, span = shown
    numbers = list(_NUMBER.finditer(expr))
    if len(numbers) < 2:
        return None
    pick = rng.choice(numbers)
    value = _to_fraction(pick.group())
    if value is None:
        return None
    options = [v for v in wrong_values(value, rng) if v > 0]
    if not options:
        return None
    new_operand = format_number(options[0])
    new_expr = expr[: pick.start()] + new_operand + expr[pick.end() :]
    result = safe_eval(new_expr)
    old_result = safe_eval(expr)
    if result is None or result == old_result or result < 0:
        return None
    display = gold.text[span[0] : span[1]]
    # replace the same operand occurrence in the displayed text (same index among numbers)
    shown_numbers = list(_NUMBER.finditer(display))
    if len(shown_numbers) != len(numbers):
        return None
    index = numbers.index(pick)
    target = shown_numbers[index]
    new_display = display[: target.start()] + new_operand + display[target.end() :]
    text = _replace(gold.text, gold.result_span, format_number(result))
    return text[: span[0]] + new_display + text[span[1] :]


_SWAP = {"+": "-", "-": "+", "*": "/", "/": "*", "x": "/", "×": "/", "÷": "*"}


def _wrong_operation(gold: GoldStep) -> str | None:
    """Swap the operator of a two-operand calculation (+ for -, * for /) and recompute."""
    shown = _display_expr(gold)
    if shown is None or gold.result_span is None:
        return None
    expr, span = shown
    display = gold.text[span[0] : span[1]]
    ops = re.findall(r"(?<=[\d%\s])([-+*/x×÷])(?=[\s$\d])", display)
    if len(ops) != 1:
        return None
    op = ops[0]
    new_display = re.sub(
        r"(?<=[\d%\s])" + re.escape(op) + r"(?=[\s$\d])", _SWAP[op], display, count=1
    )
    new_expr = re.sub(r"[$%]", "", new_display).replace("x", "*").replace("×", "*")
    result = safe_eval(new_expr.replace("÷", "/"))
    old = safe_eval(expr)
    if result is None or result == old or result < 0:
        return None
    text = _replace(gold.text, gold.result_span, format_number(result))
    return text[: span[0]] + new_display + text[span[1] :]


# ----------------------------------------------------------------------------- dataset
def load_train(path: str | Path = GSM8K_TRAIN) -> list[tuple[str, str, str]]:
    """``(problem_id, question, solution)`` rows; ids are ``gsm8k-train-<0-based row>``."""
    rows = []
    with Path(path).open(encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            if line.strip():
                row = json.loads(line)
                rows.append((f"gsm8k-train-{index}", row["question"], row["answer"]))
    return rows


def split_problems(
    problem_ids: Sequence[str], n_train: int, n_heldout: int, seed: int
) -> tuple[list[str], list[str]]:
    """Disjoint seeded train / held-out lists of problem ids (held-out drawn first)."""
    unique = list(dict.fromkeys(problem_ids))
    if n_train + n_heldout > len(unique):
        raise ValueError(f"asked for {n_train + n_heldout} problems, only {len(unique)} exist")
    order = random.Random(seed).sample(unique, n_train + n_heldout)
    return order[n_heldout:], order[:n_heldout]


def examples_for_problem(
    problem_id: str, question: str, solution: str, rng: random.Random, pairs: int
) -> list[StepExample]:
    """Up to ``pairs`` (gold, corrupted) pairs at distinct step positions of one problem.

    Positions are drawn at random; a kind is drawn among those that apply at that position, so
    the final answer line gets ``wrong_answer`` and arithmetic lines get the arithmetic kinds.
    """
    try:
        steps, answer = parse_solution(solution)
    except ValueError:
        return []
    positions = list(range(len(steps)))
    rng.shuffle(positions)
    out: list[StepExample] = []
    for k in positions:
        if len(out) >= 2 * pairs:
            break
        kinds = list(KINDS)
        rng.shuffle(kinds)
        for kind in kinds:
            bad = corrupt(steps, k, kind, answer, rng)
            if bad is None:
                continue
            previous = [s.text for s in steps[:k]]
            common = dict(problem_id=problem_id, question=question, previous=previous, position=k)
            out.append(StepExample(step=steps[k].text, label=1, kind="gold", **common))
            out.append(StepExample(step=bad, label=0, kind=kind, **common))
            break
    return out


def build_splits(
    path: str | Path = GSM8K_TRAIN,
    *,
    n_train: int = N_TRAIN,
    n_heldout: int = N_HELDOUT,
    seed: int = SEED,
    pairs: int = PAIRS_PER_PROBLEM,
) -> tuple[list[StepExample], list[StepExample]]:
    """Train and held-out examples, reproducible from ``seed``; no problem is in both."""
    rows = {pid: (q, s) for pid, q, s in load_train(path)}
    train_ids, heldout_ids = split_problems(list(rows), n_train, n_heldout, seed)
    rng = random.Random(seed + 1)
    train = [ex for pid in train_ids for ex in examples_for_problem(pid, *rows[pid], rng, pairs)]
    heldout = [
        ex for pid in heldout_ids for ex in examples_for_problem(pid, *rows[pid], rng, pairs)
    ]
    return train, heldout


def write_examples(examples: Sequence[StepExample], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(ex.to_json() + "\n" for ex in examples), encoding="utf-8")
    return path


def read_examples(path: str | Path = HELDOUT_PATH) -> list[StepExample]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [StepExample.from_dict(json.loads(line)) for line in lines if line.strip()]


# ----------------------------------------------------------------------------- metrics
def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks, ties sharing the average of the ranks they span."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    sorted_x = x[order]
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos n_neg)); a tie counts one half.

    ``-inf`` scores are allowed (they rank lowest); NaN is not, and a set with a single class has
    no AUROC (raises) rather than a misleading 0.5.
    """
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos + n_neg != len(y):
        raise ValueError("labels must be 0 or 1")
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs both classes")
    ranks = average_ranks(np.where(np.isinf(s) & (s < 0), np.finfo(float).min, s))
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def pair_accuracy(examples: Sequence[StepExample], scores: Sequence[float]) -> float:
    """Share of (gold, corrupted) pairs where the gold step scores higher (ties count one half)."""
    gold: dict[tuple[str, int], float] = {}
    bad: dict[tuple[str, int], float] = {}
    for ex, score in zip(examples, scores, strict=True):
        (gold if ex.label == 1 else bad)[(ex.problem_id, ex.position)] = float(score)
    keys = [k for k in gold if k in bad]
    if not keys:
        return math.nan
    wins = sum(1.0 if gold[k] > bad[k] else 0.5 if gold[k] == bad[k] else 0.0 for k in keys)
    return wins / len(keys)


def main(argv: Sequence[str] | None = None) -> None:
    """Write the held-out split (and the GSM8K licence beside it)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--source", default=str(GSM8K_TRAIN))
    parser.add_argument("--dest", default=str(HELDOUT_PATH))
    args = parser.parse_args(argv)
    train, heldout = build_splits(args.source)
    dest = write_examples(heldout, args.dest)
    licence = Path(args.source).parent / "LICENSE"
    target = Path(args.dest).parent / "LICENSE.gsm8k"
    if licence.exists() and not target.exists():
        shutil.copyfile(licence, target)
    kinds: dict[str, int] = {}
    for ex in heldout:
        kinds[ex.kind] = kinds.get(ex.kind, 0) + 1
    print(f"train: {len(train)} examples; held-out: {len(heldout)} examples -> {dest}")
    print("held-out kinds:", json.dumps(kinds, sort_keys=True))


if __name__ == "__main__":
    main()
