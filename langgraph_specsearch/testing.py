"""Scripted stand-in models for demos: Studio, the notebook and the docs run offline in seconds.

They are not language models. Each knows a worked solution for every problem in
:data:`DEMO_PROBLEMS` (and for plain arithmetic questions such as ``"What is 99^2 + 99 + 1?"``)
and writes its steps, slipping on a number now and then: the drafter slips more often than the
target. :class:`DemoScorer` plays the process reward model: it rates a step high when its numbers
match the worked solution's, low otherwise, with overlap, so some drafts clear the threshold and
some do not, as in the paper. Everything is seeded, so runs repeat exactly.
"""

from __future__ import annotations

import ast
import operator
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from langgraph_specsearch.generators.base import GenerationSettings, Thought


@dataclass(frozen=True)
class DemoProblem:
    """A question, its worked solution (one string per step) and the expected answer."""

    question: str
    steps: tuple[str, ...]
    answer: str


DEMO_PROBLEMS: tuple[DemoProblem, ...] = (
    DemoProblem(
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
        "in May. How many clips did Natalia sell altogether in April and May?",
        (
            "In May Natalia sold half of 48, that is 48 / 2 = 24 clips.",
            "Altogether she sold 48 + 24 = 72 clips.",
            "The answer is 72",
        ),
        "72",
    ),
    DemoProblem(
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?",
        (
            "Weng earns 12 / 60 = 0.2 dollars per minute.",
            "For 50 minutes she earns 0.2 * 50 = 10 dollars.",
            "The answer is 10",
        ),
        "10",
    ),
    DemoProblem(
        "Betty needs $100 for a wallet. She has half of the money. Her parents give her $15 and "
        "her grandparents twice as much as her parents. How much more money does Betty need?",
        (
            "Betty has 100 / 2 = 50 dollars.",
            "Her grandparents give her 15 * 2 = 30 dollars.",
            "She now has 50 + 15 + 30 = 95 dollars.",
            "She still needs 100 - 95 = 5 dollars.",
            "The answer is 5",
        ),
        "5",
    ),
    DemoProblem(
        "James writes a 3-page letter to 2 different friends twice a week. How many pages does "
        "he write a year?",
        (
            "Each time he writes 3 * 2 = 6 pages.",
            "Each week he writes 6 * 2 = 12 pages.",
            "In a year he writes 12 * 52 = 624 pages.",
            "The answer is 624",
        ),
        "624",
    ),
    DemoProblem(
        "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in "
        "total does it take?",
        (
            "White fiber takes 2 / 2 = 1 bolt.",
            "In total it takes 2 + 1 = 3 bolts.",
            "The answer is 3",
        ),
        "3",
    ),
)

_OPENERS = ("", "", "First note: ", "So ", "Next, ", "We see that ")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ARITHMETIC = re.compile(r"[\d\s.+\-*/^()]*\d[\d\s.+\-*/^()]*")
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def _evaluate(node: ast.AST) -> float:
    """Evaluate +, -, *, /, ** over numbers only: a question is never executed as code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    raise ValueError("not plain arithmetic")


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def solution_for(question: str) -> DemoProblem:
    """The worked solution the demo models follow: a known problem, plain arithmetic, or a guess."""
    for problem in DEMO_PROBLEMS:
        if problem.question.strip() == question.strip():
            return problem
    candidates = [m.strip() for m in _ARITHMETIC.findall(question) if _NUMBER.search(m)]
    for expression in sorted(candidates, key=len, reverse=True):
        try:
            value = _format(_evaluate(ast.parse(expression.replace("^", "**"), mode="eval").body))
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError):
            continue
        steps = (
            f"Write the expression: {expression}.",
            f"Evaluate it: {expression} = {value}.",
            f"The answer is {value}",
        )
        return DemoProblem(question, steps, value)
    steps = ("Read the problem and list its quantities.", "The answer is 0")
    return DemoProblem(question, steps, "0")


def _slip(step: str, rng: random.Random) -> str:
    """The same step with one number wrong: the kind of mistake a PRM should catch."""
    numbers = list(_NUMBER.finditer(step))
    if not numbers:
        return step + " (or so it seems)"
    match = numbers[-1]
    wrong = _format(float(match.group()) + rng.choice((-10, -2, -1, 1, 2, 10)))
    return step[: match.start()] + wrong + step[match.end() :]


class DemoModel:
    """A scripted thought generator that follows the worked solution and slips with ``1 - skill``.

    ``ms_per_token`` makes each call sleep as if every token cost that much, so timing
    comparisons (specsearch against target_only) show the shape they have with real models.
    """

    def __init__(self, name: str, skill: float, ms_per_token: float = 0.0) -> None:
        self.name = name
        self.skill = skill
        self.ms_per_token = ms_per_token

    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        solution = solution_for(question).steps
        groups: list[list[Thought]] = []
        tokens = 0
        for path, count in zip(paths, counts, strict=True):
            rng = random.Random(f"{self.name}:{settings.seed}:{question}:{len(path)}:{path}")
            step = solution[min(len(path), len(solution) - 1)]
            group = []
            for _ in range(count):
                text = step if rng.random() < self.skill else _slip(step, rng)
                opener = rng.choice(_OPENERS)
                if opener and not text.startswith("The answer"):
                    text = opener + text[0].lower() + text[1:]
                used = len(text.split())
                tokens += used
                group.append(Thought(text=text, tokens=used))
            groups.append(group)
        if self.ms_per_token:
            time.sleep(tokens * self.ms_per_token / 1000)
        return groups


class DemoScorer:
    """A stand-in PRM: high when a step's numbers match the worked solution's, low otherwise."""

    def score_last(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[float]:
        return [self(q, list(steps)) for q, steps in zip(questions, step_lists, strict=True)]

    def __call__(self, question: str, steps: list[str]) -> float:
        solution = solution_for(question).steps
        expected = solution[min(len(steps), len(solution)) - 1]
        good = _NUMBER.findall(steps[-1]) == _NUMBER.findall(expected)
        noise = random.Random(f"{question}|{steps[-1]}|{len(steps)}").random()
        return round(0.6 + 0.38 * noise if good else 0.1 + 0.5 * noise, 4)


def demo_models(simulate_latency: bool = False) -> tuple[DemoModel, DemoModel, DemoScorer]:
    """``(drafter, target, scorer)`` for demos; with latency, target tokens cost 5x drafter's."""
    drafter = DemoModel("demo-drafter", skill=0.6, ms_per_token=0.2 if simulate_latency else 0.0)
    target = DemoModel("demo-target", skill=0.9, ms_per_token=1.0 if simulate_latency else 0.0)
    return drafter, target, DemoScorer()
