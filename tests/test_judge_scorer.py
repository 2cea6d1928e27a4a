"""The LLM-as-judge scorer with langchain_core's fake chat models (offline, instant)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from langgraph_specsearch.scorers.base import LastStepScorer, StepScorer, score_last_steps
from langgraph_specsearch.scorers.judge import LLMJudgeScorer, parse_grade

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"


class KeywordJudge(FakeListChatModel):
    """Grades by content, so answers do not depend on the order of concurrent batch calls."""

    responses: list[str] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list)

    def _generate(self, messages: list[Any], *args: Any, **kwargs: Any) -> ChatResult:
        text = messages[-1].content
        self.seen.append(text)
        last = text.split("Step to grade")[1]
        reply = "Looks wrong.\nGrade: 1" if "= 8" in last else "Correct.\nGrade: 9"
        if "mumble" in last:
            reply = "I cannot say."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ("Grade: 7", 7.0),
        ("The step is fine.\n**Grade:** 10", 10.0),
        ("grade=3.5", 3.5),
        ("I'd give it 6/10.", 6.0),
        ("8 out of 10", 8.0),
        ("9", 9.0),
        ("Grade: 2 ... on reflection, Grade: 4", 4.0),
        ("Grade: 12", None),
        ("no idea", None),
        ("step 2 uses 3 apples", None),
    ],
)
def test_parse_grade(reply, grade):
    assert parse_grade(reply) == grade


def test_score_last_batches_and_maps_grades():
    judge = KeywordJudge()
    scorer = LLMJudgeScorer(judge)
    assert isinstance(scorer, LastStepScorer) and isinstance(scorer, StepScorer)
    paths = [["3 + 4 = 7"], ["3 + 4 = 8"], ["3 + 4 = 7", "He has mumble"]]
    assert scorer.score_last([QUESTION] * 3, paths) == [0.9, 0.1, 0.0]
    assert scorer.parse_failures == 1
    assert len(scorer.last_replies) == 3
    assert "Step 1: 3 + 4 = 7" in judge.seen[-1] and "Problem:" in judge.seen[-1]
    assert score_last_steps(scorer, QUESTION, paths[:2]) == [0.9, 0.1]


def test_score_judges_every_prefix():
    scorer = LLMJudgeScorer(KeywordJudge(), unparsable_score=0.5)
    paths = [["3 + 4 = 8", "So 7"], ["mumble"]]
    assert scorer.score([QUESTION] * 2, paths) == [[0.1, 0.9], [0.5]]
    with pytest.raises(ValueError):
        scorer.score_last([QUESTION], [[]])


def test_fake_list_model_in_order_with_max_concurrency_one():
    model = FakeListChatModel(responses=["Grade: 5", "I rate it 10/10", "Grade: 0"])
    scorer = LLMJudgeScorer(model, max_concurrency=1)
    paths = [["a"], ["a", "b"], ["c"]]
    assert scorer.score_last([QUESTION] * 3, paths) == [0.5, 1.0, 0.0]
    assert scorer(QUESTION, ["d"]) == 0.5  # the fake cycles through its replies
