"""Labels of drafter-written steps against a gold GSM8K solution (pure functions)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from research.drafted_labels import false_equations, gold_results, label_step, numbers

QUESTION = (
    "James decides to buy birthday candles for his 2 sons.  One of them is 12 and the other is "
    "4 years younger.  A pack of 5 candles costs $3.  How much does James spend on candles?"
)
SOLUTION = (
    "His younger son is 12-4=<<12-4=8>>8 years old\nSo he needs 12+8=<<12+8=20>>20 candles\n"
    "That means he needs 20/5=<<20/5=4>>4 packs of candles\n"
    "The total cost of those is 4*3=$<<4*3=12>>12\n#### 12"
)
AGES = ["The younger son is 12 - 4 = 8 years old."]


def test_numbers_and_gold_results() -> None:
    assert numbers("It costs $1,200.50, or 3 times 7.") == [Fraction("1200.50"), 3, 7]
    assert gold_results(SOLUTION) == {8, 20, 4, 12}


def test_false_equations_are_found_in_every_notation() -> None:
    assert false_equations("So 12 + 8 = 20 candles and 20 / 5 = 4 packs.") == []
    assert false_equations("4 x $3 = $12, and 50% * 10 = 5") == []
    assert false_equations("He needs 12 + 8 = 21 candles.") == ["12 + 8 = 21"]
    assert false_equations("That is 1,000 * 3 = 3,000 dollars") == []


@pytest.mark.parametrize(
    ("previous", "step", "label"),
    [
        ([], "The younger son is 12 - 4 = 8 years old.", 1),
        (AGES, "He needs 12 + 8 = 20 candles.", 1),
        (AGES, "The cost of 5 candles is $3 * 5 = $15.", 0),  # right arithmetic, wrong quantity
        (AGES, "He needs 12 + 8 = 19 candles.", 0),  # wrong arithmetic
        (AGES, "The answer is 12.", 1),
        (AGES, "The answer is $15.", 0),
        (AGES, "A pack of 5 candles costs $3.", None),  # restates the question
    ],
)
def test_label_step(previous: list[str], step: str, label: int | None) -> None:
    assert label_step(QUESTION, previous, step, SOLUTION) == label
