"""Answer detection marks a thought terminal."""

from __future__ import annotations

import pytest

from langgraph_specsearch import extract_answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (r"So the total is \boxed{9901}.", "9901"),
        (r"Thus \boxed{\frac{1}{2}} is it", r"\frac{1}{2}"),
        ("The answer is 42.", "42"),
        ("Therefore, the final answer is: $18", "18"),
        ("Final answer: 3/4", "3/4"),
        ("She pays 5*3 = 15 dollars.\n#### 15", "15"),
        ("The answer is **1,000**.", "1,000"),
    ],
)
def test_detects_answers(text: str, answer: str) -> None:
    assert extract_answer(text) == answer


@pytest.mark.parametrize("text", ["First, 3 + 4 = 7.", "The answer depends on x", r"\boxed{"])
def test_no_answer(text: str) -> None:
    assert extract_answer(text) is None
