r"""Answer checking: is a model's final answer the gold one?

Accuracy is half of the benchmark's claim, so formatting must not count as an error: "$1,000.00",
"1000 dollars" and "1000" are the same GSM8K answer, and "\frac{1}{2}" and "0.5" the same MATH one.
Numbers are compared exactly (as fractions); other MATH-style expressions fall back to sympy when
it is installed, and to a whitespace-insensitive text comparison when it is not.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from types import ModuleType

_MAX_SYMPY_CHARS = 200

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SIMPLE_FRACTION = re.compile(r"([+-]?\d+)\s*/\s*(\d+)")
_LATEX_FRACTION = re.compile(r"([+-]?)\\frac\{\s*([+-]?\d+)\s*\}\{\s*(\d+)\s*\}")
_CURRENCY = re.compile(r"^(?:\$|usd\b|us\$|€|£|rs\.?)\s*", re.IGNORECASE)
_UNITS = re.compile(r"^(?P<number>\S+?)(?:\s*(?:%|percent\b)|\s+[a-zA-Z][a-zA-Z .\-/²³]*)$")
_ASSIGNMENT = re.compile(r"^[a-zA-Z]\w*\s*=\s*(?=\S)")
_SAFE_SYMPY = re.compile(r"[0-9a-zA-Z+\-*/() ,.]*")
_ALLOWED_NAMES = {"sqrt", "pi", "oo", "sin", "cos", "tan", "log", "exp", "E", "I"}


def _braced(text: str, start: int) -> tuple[str, int]:
    """The argument starting at ``start``: a balanced ``{...}`` group or a single character."""
    if start >= len(text):
        return "", start
    if text[start] != "{":
        return text[start], start + 1
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index], index + 1
    return text[start + 1 :], len(text)


def strip_boxed(text: str) -> str:
    r"""The content of the last ``\boxed{...}`` (or ``\fbox``) in ``text``, else ``text``."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start == -1:
        return text
    brace = text.find("{", start)
    if brace == -1:
        return text[start:].split(None, 1)[-1] if " " in text[start:] else text
    return _braced(text, brace)[0]


def clean(text: str) -> str:
    """Remove the formatting that never changes an answer's value: boxes, $...$, spacing, text."""
    text = strip_boxed(text.strip()).strip()
    text = text.replace("\u2212", "-").replace("\\$", "$").replace("\\%", "%").replace("{,}", ",")
    if len(text) >= 2 and text[0] == text[-1] == "$":
        text = text.strip("$")
    for command in ("\\text", "\\mbox", "\\textbf", "\\mathrm"):
        while (start := text.find(command + "{")) != -1:
            inner, end = _braced(text, start + len(command))
            text = text[:start] + inner + text[end:]
    for noise in ("\\left", "\\right", "\\!", "\\,", "\\;", "\\ ", "^\\circ", "^{\\circ}", "°"):
        text = text.replace(noise, "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return text.strip().rstrip(".").strip()


def normalize_number(text: str) -> Fraction | None:
    """The exact value of a plain numeric answer, or None when ``text`` is not one.

    Accepts thousands commas, currency, trailing units or percent, decimals ("18.0" == 18),
    "a/b" and ``\\frac{a}{b}`` with integer parts. Commas not in thousands groups ("1,2") are
    not numbers: in MATH they separate tuple elements.
    """
    text = _ASSIGNMENT.sub("", clean(text))
    text = _CURRENCY.sub("", text).strip()
    units = _UNITS.match(text)
    if units and _is_numeric(units.group("number")):
        text = units.group("number")
    text = _CURRENCY.sub("", text).strip()
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    if _NUMBER.fullmatch(text):
        return Fraction(text)
    if match := _SIMPLE_FRACTION.fullmatch(text):
        return _fraction(match.group(1), match.group(2))
    if match := _LATEX_FRACTION.fullmatch(text):
        value = _fraction(match.group(2), match.group(3))
        return -value if value is not None and match.group(1) == "-" else value
    return None


def _is_numeric(text: str) -> bool:
    text = _CURRENCY.sub("", text)
    return bool(_NUMBER.fullmatch(text) or _THOUSANDS.fullmatch(text))


def _fraction(numerator: str, denominator: str) -> Fraction | None:
    return None if int(denominator) == 0 else Fraction(int(numerator), int(denominator))


def _canonical_text(text: str) -> str:
    return re.sub(r"\s+", "", _ASSIGNMENT.sub("", clean(text)))


def answers_match(predicted: str | None, gold: str) -> bool:
    """True when ``predicted`` states the same answer as ``gold``.

    Order: exact numeric comparison when both are numbers; else canonical text; else sympy
    equivalence (when installed). A missing prediction is never correct.
    """
    if predicted is None or not predicted.strip():
        return False
    pred_value, gold_value = normalize_number(predicted), normalize_number(gold)
    if pred_value is not None and gold_value is not None:
        return pred_value == gold_value
    if _canonical_text(predicted) == _canonical_text(gold):
        return True
    return bool(sympy_equal(predicted, gold))


@functools.cache
def _load_sympy() -> ModuleType | None:
    """sympy if installed: it is optional, and only MATH-style answers need it."""
    try:
        import sympy
    except ImportError:
        return None
    return sympy


def latex_to_sympy(text: str) -> str | None:
    r"""A sympy-parsable string for a small LaTeX subset, or None if ``text`` falls outside it.

    Handles \frac, \sqrt (with index), \cdot, \times, \div, \pi, \infty, ^ and braces. Anything
    else (other commands, underscores, quotes) is refused so that parse_expr, which evaluates
    Python, only ever sees arithmetic.
    """
    text = _ASSIGNMENT.sub("", clean(text))
    out: list[str] = []
    index = 0
    simple = {"\\cdot": "*", "\\times": "*", "\\div": "/", "\\pi": "pi", "\\infty": "oo"}
    while index < len(text):
        if text.startswith("\\frac", index):
            numerator, index = _braced(text, index + len("\\frac"))
            denominator, index = _braced(text, index)
            parts = [latex_to_sympy(numerator), latex_to_sympy(denominator)]
            if None in parts:
                return None
            out.append(f"(({parts[0]})/({parts[1]}))")
        elif text.startswith("\\sqrt", index):
            index += len("\\sqrt")
            root = "2"
            if index < len(text) and text[index] == "[":
                close = text.find("]", index)
                if close == -1:
                    return None
                root, index = text[index + 1 : close], close + 1
            radicand, index = _braced(text, index)
            parts = [latex_to_sympy(radicand), latex_to_sympy(root)]
            if None in parts:
                return None
            out.append(f"(({parts[0]})**(1/({parts[1]})))")
        elif text[index] == "\\":
            command = next((c for c in simple if text.startswith(c, index)), None)
            if command is None:
                return None
            out.append(f" {simple[command]} ")
            index += len(command)
        else:
            out.append({"{": "(", "}": ")", "^": "**"}.get(text[index], text[index]))
            index += 1
    result = re.sub(r"\s+", " ", "".join(out)).strip()
    if not result or len(result) > _MAX_SYMPY_CHARS or not _SAFE_SYMPY.fullmatch(result):
        return None
    if re.search(r"\.[a-zA-Z]", result):
        return None
    names = set(re.findall(r"[a-zA-Z]+", result))
    if any(len(name) > 1 and name not in _ALLOWED_NAMES for name in names):
        return None
    return result


def sympy_equal(predicted: str, gold: str) -> bool | None:
    """Whether two expressions are mathematically equal; None if sympy is absent or can't tell."""
    sympy = _load_sympy()
    if sympy is None:
        return None
    from sympy.parsing.sympy_parser import (
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    transformations = (*standard_transformations, implicit_multiplication_application)
    sources = [latex_to_sympy(predicted), latex_to_sympy(gold)]
    if None in sources:
        return None
    try:
        left, right = (parse_expr(s, transformations=transformations) for s in sources)
        if isinstance(left, tuple) or isinstance(right, tuple):
            if not (isinstance(left, tuple) and isinstance(right, tuple)):
                return False
            if len(left) != len(right):
                return False
            return all(_expr_equal(sympy, a, b) for a, b in zip(left, right, strict=True))
        return _expr_equal(sympy, left, right)
    except Exception:  # any parse or simplify failure means "cannot tell"
        return None


def _expr_equal(sympy: ModuleType, left: object, right: object) -> bool:
    difference = sympy.simplify(sympy.sympify(left) - sympy.sympify(right))
    if difference == 0:
        return True
    if difference.is_number:
        return abs(complex(sympy.N(difference))) < 1e-9
    return False
