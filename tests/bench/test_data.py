"""Loading benchmark problems, seeded subsets and the committed GSM8K subset."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from extras import skip_unless_ci

from langgraph_specsearch.bench.data import (
    GSM8K_SEED,
    DataError,
    default_problems_path,
    extract_gsm8k_answer,
    load_jsonl,
    seeded_subset,
)

_BUILDER = Path(__file__).resolve().parents[2] / "benchmarks" / "make_gsm8k_subset.py"
_spec = importlib.util.spec_from_file_location("make_gsm8k_subset", _BUILDER)
make_gsm8k_subset = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_gsm8k_subset)
write_gsm8k_subset = make_gsm8k_subset.write_gsm8k_subset
GSM8K_SUBSET = default_problems_path()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_extract_gsm8k_answer_takes_text_after_last_marker() -> None:
    assert extract_gsm8k_answer("9 * 2 = <<9*2=18>>18\n#### 18") == "18"
    assert extract_gsm8k_answer("a #### 1\n#### 1,600 ") == "1,600"
    assert extract_gsm8k_answer("no marker") is None
    assert extract_gsm8k_answer("#### ") is None


def test_load_jsonl_reduces_gsm8k_solutions_and_assigns_stable_ids(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "probs.jsonl",
        [
            json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"}),
            "",
            json.dumps({"question": "x?", "answer": "\\frac{1}{2}"}),
            json.dumps({"question": "y?", "answer": 7, "id": "custom"}),
        ],
    )
    problems = load_jsonl(path)
    assert [p.problem_id for p in problems] == ["probs-0", "probs-1", "custom"]
    assert [p.answer for p in problems] == ["2", "\\frac{1}{2}", "7"]
    assert problems[0].solution == "1+1=2\n#### 2"
    assert problems[0].question == "1+1?"


def test_load_jsonl_custom_fields(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.jsonl", [json.dumps({"problem": "p", "solution": "s", "uid": 3})])
    (problem,) = load_jsonl(path, question_field="problem", answer_field="solution", id_field="uid")
    assert (problem.problem_id, problem.question, problem.answer) == ("3", "p", "s")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"question": "q"}), "missing field(s) 'answer'"),
        (json.dumps({"answer": "a", "question": ""}), "missing field(s) 'question'"),
        (json.dumps({"question": "q", "answer": "work ####  "}), "empty final answer"),
    ],
)
def test_load_jsonl_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps({"question": "q", "answer": "a"})
    path = _write(tmp_path / "bad.jsonl", [good, line])
    with pytest.raises(DataError, match=r"bad\.jsonl:2: ") as info:
        load_jsonl(path)
    assert message in str(info.value)


def test_load_jsonl_rejects_duplicate_ids(tmp_path: Path) -> None:
    row = json.dumps({"question": "q", "answer": "a", "id": "x"})
    with pytest.raises(DataError, match=r"dup\.jsonl:2: duplicate id 'x'"):
        load_jsonl(_write(tmp_path / "dup.jsonl", [row, row]))


def test_seeded_subset_is_reproducible_and_without_replacement() -> None:
    items = list(range(50))
    first = seeded_subset(items, 10, seed=7)
    assert first == seeded_subset(items, 10, seed=7)
    assert first != seeded_subset(items, 10, seed=8)
    assert len(set(first)) == 10
    # A prefix of a larger subset with the same seed is the smaller subset.
    assert seeded_subset(items, 20, seed=7)[:10] == first
    assert seeded_subset(items, 0, seed=1) == []
    with pytest.raises(ValueError, match="exceeds"):
        seeded_subset(items, 51, seed=1)
    with pytest.raises(ValueError, match=">= 0"):
        seeded_subset(items, -1, seed=1)


def test_write_gsm8k_subset_copies_rows_ids_and_licence(tmp_path: Path) -> None:
    source_dir = tmp_path / "gsm8k"
    source_dir.mkdir()
    rows = [{"question": f"q{i}", "answer": f"w\n#### {i}"} for i in range(10)]
    source = _write(source_dir / "test.jsonl", [json.dumps(r) for r in rows])
    (source_dir / "LICENSE").write_text("MIT License\n", encoding="utf-8")
    dest = write_gsm8k_subset(source, tmp_path / "out" / "sub.jsonl", n=4, seed=3)
    problems = load_jsonl(dest)
    expected_rows = seeded_subset(list(range(10)), 4, seed=3)
    assert [p.problem_id for p in problems] == [f"gsm8k-test-{i}" for i in expected_rows]
    assert [p.answer for p in problems] == [str(i) for i in expected_rows]
    assert [p.question for p in problems] == [f"q{i}" for i in expected_rows]
    assert (tmp_path / "out" / "LICENSE.gsm8k").read_text(encoding="utf-8") == "MIT License\n"


def test_committed_gsm8k_subset_is_valid_and_licensed() -> None:
    problems = load_jsonl(GSM8K_SUBSET)
    assert len(problems) == 100
    assert len({p.problem_id for p in problems}) == 100
    assert all(p.problem_id.startswith("gsm8k-test-") for p in problems)
    assert all("####" in p.solution and "####" not in p.answer for p in problems)
    assert (GSM8K_SUBSET.parent / "LICENSE.gsm8k").read_text().startswith("MIT License")
    readme = (GSM8K_SUBSET.parent / "README.md").read_text()
    assert f"seed {GSM8K_SEED}" in readme


def test_committed_subset_matches_source_when_available(tmp_path: Path) -> None:
    GSM8K_SOURCE = make_gsm8k_subset.GSM8K_SOURCE  # noqa: N806
    if not GSM8K_SOURCE.exists():
        skip_unless_ci(f"the GSM8K source {GSM8K_SOURCE} is not beside the repository (../shared)")
    regenerated = write_gsm8k_subset(GSM8K_SOURCE, tmp_path / "sub.jsonl")
    assert regenerated.read_bytes() == GSM8K_SUBSET.read_bytes()
