"""Labels for steps the drafter wrote itself, checked against the gold solution's results.

Why: a head trained only on gold steps and synthetic corruptions learns to check arithmetic, but
the drafter's typical mistake in search is a step whose arithmetic is right and whose quantity is
wrong ("the cost of 5 candles is $3 * 5 = $15" when 8 + 12 candles are needed). Rollouts would
label such steps exactly but cost minutes per step here. GSM8K's calculator annotations give a
cheaper check: every quantity a right solution computes is one of the gold solution's results.

A drafted step (after a gold prefix) is labelled

- 0 if an arithmetic statement in it is false (``a op b = c`` with the wrong ``c``);
- 0 if it states a final answer that is not the gold answer, 1 if it states the gold one;
- 1 if every number it introduces (not in the question or the previous steps) is a gold result,
  0 if any is not;
- unlabelled (None) if it introduces no number: restating facts says nothing either way.

The labels are noisy where a right solution takes another route (its own intermediate results
are then marked wrong); they are exact for the wrong-quantity and wrong-arithmetic steps that
matter most, which is what the held-out evaluation checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fractions import Fraction

from langgraph_specsearch.search.answers import extract_answer
from research.prm_data import parse_solution, safe_eval

_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
# "<expr> = <number>" where expr is numbers, + - * / x, parentheses and spaces
_EQUATION = re.compile(
    r"((?:[$(]*\d[\d,]*(?:\.\d+)?%?\)*\s*[-+*/x×÷]\s*)+[$(]*\d[\d,]*(?:\.\d+)?%?\)*)\s*=\s*"
    r"\$?(-?\d[\d,]*(?:\.\d+)?)"
)


def numbers(text: str) -> list[Fraction]:
    """Every number written in ``text`` (commas and a trailing ``.0`` do not matter)."""
    out = []
    for match in _NUMBER.finditer(text):
        try:
            out.append(Fraction(match.group().replace(",", "")))
        except ValueError:
            continue
    return out


def gold_results(solution: str) -> set[Fraction]:
    """The values of a GSM8K solution's calculator annotations and its final answer."""
    values = {Fraction(v.replace(",", "")) for v in re.findall(r"=\s*(-?[\d.,]+)>>", solution)}
    _, answer = parse_solution(solution)
    values.update(numbers(answer))
    return values


def false_equations(text: str) -> list[str]:
    """The ``expr = value`` statements in ``text`` whose value is wrong."""
    wrong = []
    for match in _EQUATION.finditer(text):
        expr = match.group(1).replace("$", "").replace("x", "*").replace("×", "*")
        expr = expr.replace("÷", "/").replace(",", "")
        expr = re.sub(r"(\d(?:\.\d+)?)%", r"(\1/100)", expr)
        value = safe_eval(expr)
        stated = Fraction(match.group(2).replace(",", ""))
        if value is not None and abs(value - stated) > Fraction(1, 100) * max(1, abs(value)):
            wrong.append(match.group(0))
    return wrong


def label_step(question: str, previous: Iterable[str], step: str, solution: str) -> int | None:
    """1 (right), 0 (wrong) or None (no evidence) for ``step`` after ``previous``; see above."""
    if false_equations(step):
        return 0
    _, gold_answer = parse_solution(solution)
    stated = extract_answer(step)
    if stated is not None:
        stated_numbers = numbers(stated)
        gold_numbers = numbers(gold_answer)
        if stated_numbers and gold_numbers:
            return int(stated_numbers[-1] == gold_numbers[-1])
    known = set(numbers(question))
    for text in previous:
        known.update(numbers(text))
    new = [n for n in numbers(step) if n not in known]
    if not new:
        return None
    results = gold_results(solution)
    return int(all(n in results for n in new))


__all__ = ["false_equations", "gold_results", "label_step", "numbers"]
