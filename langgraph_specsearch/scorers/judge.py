"""An LLM-as-judge step scorer over any LangChain chat model, for users without a PRM.

The judge sees the question, the previous steps and the new step, and answers with a grade from 0
to 10 for the new step only; the grade divided by 10 is the score in [0, 1]. All paths of one call
go to the model in a single ``.batch`` call, so a provider's concurrency (or a local model's
batching) is used. A reply without a readable grade scores ``unparsable_score`` (default 0: an
unjudged step should not pass a quality threshold) and is counted in ``parse_failures``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

JUDGE_SYSTEM_PROMPT = (
    "You grade one step of a step-by-step solution to a math problem. Judge only the LAST step: "
    "is it correct, does it follow from the previous steps, and does it make progress toward the "
    "answer? Reply with a short reason and then a final line of the form 'Grade: N', where N is an "
    "integer from 0 (wrong or useless) to 10 (correct and useful)."
)

_GRADE = re.compile(r"grade\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_OUT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d.])")


def parse_grade(text: str, max_grade: float = 10.0) -> float | None:
    """The grade in a judge's reply: 'Grade: N' (last one), else 'N/10', else a lone number."""
    for pattern in (_GRADE, _OUT_OF):
        found = pattern.findall(text)
        if found:
            value = float(found[-1])
            return value if 0 <= value <= max_grade else None
    numbers = [float(n) for n in _NUMBER.findall(text.strip())]
    if len(numbers) == 1 and 0 <= numbers[0] <= max_grade:
        return numbers[0]
    return None


class LLMJudgeScorer:
    """Scores the last step of each path with a chat model's 0-10 grade, mapped to [0, 1].

    ``chat_model`` is any LangChain chat model (or a Runnable taking a message list);
    ``max_concurrency`` is passed to ``.batch``. Implements ``score_last`` and ``score``.
    """

    def __init__(
        self,
        chat_model: Any,
        *,
        system_prompt: str = JUDGE_SYSTEM_PROMPT,
        max_grade: float = 10.0,
        unparsable_score: float = 0.0,
        max_concurrency: int | None = None,
    ) -> None:
        self.chat_model = chat_model
        self.system_prompt = system_prompt
        self.max_grade = float(max_grade)
        self.unparsable_score = unparsable_score
        self.max_concurrency = max_concurrency
        self.name = f"judge[{getattr(chat_model, 'model_name', None) or type(chat_model).__name__}]"
        self.parse_failures = 0
        self.last_replies: list[str] = []
        self.last_seconds = 0.0

    def messages(self, question: str, steps: Sequence[str]) -> list[Any]:
        """The judge prompt for the last of ``steps``."""
        previous = "\n\n".join(f"Step {i}: {s}" for i, s in enumerate(steps[:-1], 1)) or "(none)"
        body = (
            f"Problem:\n{question}\n\nPrevious steps:\n{previous}\n\n"
            f"Step to grade (step {len(steps)}):\n{steps[-1]}\n\nGrade the step to grade."
        )
        return [SystemMessage(content=self.system_prompt), HumanMessage(content=body)]

    def _grade_all(self, prompts: list[list[Any]]) -> list[float]:
        if not prompts:
            return []
        start = time.perf_counter()
        config = {"max_concurrency": self.max_concurrency} if self.max_concurrency else None
        replies = self.chat_model.batch(prompts, config=config)
        self.last_seconds = time.perf_counter() - start
        self.last_replies = [_text(reply) for reply in replies]
        scores = []
        for reply in self.last_replies:
            grade = parse_grade(reply, self.max_grade)
            if grade is None:
                self.parse_failures += 1
                scores.append(self.unparsable_score)
            else:
                scores.append(grade / self.max_grade)
        return scores

    def score_last(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[float]:
        """One judge call per path, all in one batch."""
        if any(not steps for steps in step_lists):
            raise ValueError("cannot score an empty path")
        prompts = [self.messages(q, list(s)) for q, s in zip(questions, step_lists, strict=True)]
        return self._grade_all(prompts)

    def score(
        self, questions: Sequence[str], step_lists: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """Every step judged (one prompt per step prefix), all in one batch."""
        prompts, owners = [], []
        for index, (question, steps) in enumerate(zip(questions, step_lists, strict=True)):
            for j in range(len(steps)):
                prompts.append(self.messages(question, list(steps[: j + 1])))
                owners.append(index)
        flat = self._grade_all(prompts)
        results: list[list[float]] = [[] for _ in step_lists]
        for owner, value in zip(owners, flat, strict=True):
            results[owner].append(value)
        return results

    def __call__(self, question: str, steps: list[str]) -> float:
        return self.score_last([question], [steps])[0]


def _text(reply: Any) -> str:
    content = getattr(reply, "content", reply)
    if isinstance(content, list):  # content blocks
        return " ".join(
            block.get("text", "") if isinstance(block, dict) else str(block) for block in content
        )
    return str(content)
