"""Answer checking: formatting never counts as wrong, different values always do."""

from __future__ import annotations

import importlib.util
from fractions import Fraction

import pytest
from extras import in_ci

from langgraph_specsearch.bench import grading as answers
from langgraph_specsearch.bench.grading import (
    answers_match,
    clean,
    latex_to_sympy,
    normalize_number,
    strip_boxed,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("18", Fraction(18)),
        ("18.0", Fraction(18)),
        ("18.", Fraction(18)),
        ("-3", Fraction(-3)),
        ("\u22123", Fraction(-3)),
        ("1,000", Fraction(1000)),
        ("1,000.00", Fraction(1000)),
        ("1,450,000", Fraction(1450000)),
        ("$1,000.00", Fraction(1000)),
        ("\\$18", Fraction(18)),
        ("$ 5", Fraction(5)),
        ("18 dollars", Fraction(18)),
        ("18 eggs.", Fraction(18)),
        ("5 km/h", Fraction(5)),
        ("50%", Fraction(50)),
        ("50 %", Fraction(50)),
        ("50\\%", Fraction(50)),
        ("12 percent", Fraction(12)),
        ("0.5", Fraction(1, 2)),
        (".25", Fraction(1, 4)),
        ("1/2", Fraction(1, 2)),
        ("\\frac{3}{4}", Fraction(3, 4)),
        ("\\dfrac{3}{4}", Fraction(3, 4)),
        ("-\\frac{3}{4}", Fraction(-3, 4)),
        ("\\boxed{42}", Fraction(42)),
        ("$42$", Fraction(42)),
        ("x = 7", Fraction(7)),
        ("1e3", Fraction(1000)),
        ("90^\\circ", Fraction(90)),
        ("1{,}000", Fraction(1000)),
    ],
)
def test_normalize_number_values(text: str, value: Fraction) -> None:
    assert normalize_number(text) == value


@pytest.mark.parametrize("text", ["3x", "1,2", "12,34", "(1, 2)", "\\sqrt{2}", "abc", "", "1/0"])
def test_normalize_number_refuses_non_numbers(text: str) -> None:
    assert normalize_number(text) is None


def test_strip_boxed_takes_last_box_with_nested_braces() -> None:
    assert strip_boxed("so \\boxed{1} then \\boxed{\\frac{1}{2}} done") == "\\frac{1}{2}"
    assert strip_boxed("\\fbox{7}") == "7"
    assert strip_boxed("no box") == "no box"


def test_clean_drops_text_and_spacing_commands() -> None:
    assert clean("\\boxed{5\\text{ cm}}") == "5 cm"
    assert clean("\\left( 1,\\! 2 \\right)") == "( 1, 2 )"


HAS_SYMPY = importlib.util.find_spec("sympy") is not None
needs_sympy = pytest.mark.skipif(
    not HAS_SYMPY and not in_ci(), reason="sympy is not installed (the [bench] extra)"
)


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("18", "18"),
        ("$18.00", "18"),
        ("1000", "1,000"),
        ("5,600 dollars", "5,600"),
        ("50%", "50"),
        ("\\frac{1}{2}", "0.5"),
        ("(1,2)", "(1, 2)"),
        ("\\text{(B)}", "(B)"),
        ("y = 2x + 1", "2x+1"),
        pytest.param("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}", marks=needs_sympy),
        pytest.param("2\\sqrt{2}", "\\sqrt{8}", marks=needs_sympy),
        pytest.param("\\sqrt[3]{8}", "2", marks=needs_sympy),
        pytest.param("\\pi/2", "\\frac{\\pi}{2}", marks=needs_sympy),
        pytest.param("x^2+2x+1", "(x+1)^2", marks=needs_sympy),
    ],
)
def test_equivalent_answers_match(predicted: str, gold: str) -> None:
    assert answers_match(predicted, gold)


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        (None, "18"),
        ("", "18"),
        ("17", "18"),
        ("180", "18"),
        ("1,2", "12"),
        ("0.333", "\\frac{1}{3}"),
        ("3x", "3"),
        ("(1,2)", "(2,1)"),
        ("(1,2)", "1"),
        ("\\sqrt{2}", "1.414"),
        ("x^2", "x^3"),
        ('__import__("os")', "1"),
    ],
)
def test_different_answers_do_not_match(predicted: str | None, gold: str) -> None:
    assert not answers_match(predicted, gold)


@pytest.mark.parametrize(
    ("latex", "expected"),
    [
        ("\\frac{1}{2}", "((1)/(2))"),
        ("\\sqrt{x}", "((x)**(1/(2)))"),
        ("2^{10}", "2**(10)"),
        ("3\\cdot 4", "3 * 4"),
    ],
)
def test_latex_to_sympy_translation(latex: str, expected: str) -> None:
    assert latex_to_sympy(latex) == expected


@pytest.mark.parametrize(
    "latex", ["\\int x dx", "a_1", "x.real", "'1'", "import os", "1" * 300, "\\sqrt[3{8}"]
)
def test_latex_to_sympy_refuses_anything_but_arithmetic(latex: str) -> None:
    assert latex_to_sympy(latex) is None


def test_without_sympy_numbers_still_match_and_expressions_fail_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(answers, "_load_sympy", lambda: None)
    assert answers_match("$1,000", "1000")
    assert answers_match("\\frac{1}{2}", "0.5")
    assert answers_match("x + 1", "x+1")
    assert answers.sympy_equal("2\\sqrt{2}", "\\sqrt{8}") is None
    assert not answers_match("2\\sqrt{2}", "\\sqrt{8}")
