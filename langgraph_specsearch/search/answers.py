"""Detect a final answer in a thought, which makes the thought terminal."""

from __future__ import annotations

import re

_ANSWER_IS = re.compile(
    r"(?:final answer|the answer)\s*(?:is|:)\s*[:\s]*\$?\s*(?P<answer>[^\n]+?)\s*\$?\s*(?:\.\s*)?$",
    re.IGNORECASE | re.MULTILINE,
)
_HASHES = re.compile(r"^\s*####\s*(?P<answer>.+?)\s*$", re.MULTILINE)


def extract_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}``, braces balanced, or None."""
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    depth = 0
    begin = start + len("\\boxed{")
    for index in range(begin, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return text[begin:index].strip()
            depth -= 1
    return None


def extract_answer(text: str) -> str | None:
    r"""The final answer stated in ``text``, if any.

    Recognises ``\boxed{...}``, "The answer is ..." / "Final answer: ...", and GSM8K's "#### ...".
    """
    boxed = extract_boxed(text)
    if boxed:
        return boxed
    hashes = list(_HASHES.finditer(text))
    if hashes:
        return _clean(hashes[-1].group("answer"))
    matches = list(_ANSWER_IS.finditer(text))
    if matches:
        return _clean(matches[-1].group("answer"))
    return None


def _clean(answer: str) -> str | None:
    inner = extract_boxed(answer)
    if inner:
        return inner
    cleaned = answer.strip().strip("*").strip().rstrip(".").strip()
    cleaned = cleaned.strip("$").strip()
    return cleaned or None
