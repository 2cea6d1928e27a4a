"""The ``specsearch`` command on the demo models: what a user sees, and no tracebacks (issue 15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from langgraph_specsearch import cli
from langgraph_specsearch.testing import demo_models

QUESTION = "What is 99^2 + 99 + 1?"


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """``solve`` runs the scripted demo models instead of loading the real pair."""
    monkeypatch.setattr(cli, "load_real_models", lambda *args: demo_models())


@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("models were loaded for input that should have been refused")

    monkeypatch.setattr(cli, "load_real_models", refuse)


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("specsearch: error: "), err
    for word in words:
        assert word in err, err
    return err


def test_tree_of_a_json_result_says_which_file_it_needs(demo, tmp_path, capsys) -> None:
    assert cli.main(["solve", QUESTION, "--json", "--width", "2", "-M", "2"]) == 0
    saved = tmp_path / "result.json"
    saved.write_text(capsys.readouterr().out)
    assert json.loads(saved.read_text())["answer"] == "9901"
    assert cli.main(["tree", str(saved)]) == 2
    _one_line_error(capsys, str(saved), "solve --output")


def test_tree_of_a_saved_output_renders(demo, tmp_path, capsys) -> None:
    saved = tmp_path / "result.json"
    assert cli.main(["solve", QUESTION, "--json", "--output", str(saved)]) == 0
    capsys.readouterr()
    assert cli.main(["tree", str(saved)]) == 0
    assert capsys.readouterr().out.startswith("flowchart TD")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ["no such file"]),
        ("not json {", ["not JSON"]),
        ("[1, 2]", ["no search tree"]),
        ('{"tree": {"nodes": 3}}', ["no search tree"]),
        ('{"nodes": [{"id": "root"}]}', ["no search tree"]),
        ('{"nodes": [{"text": "a step"}]}', ["no search tree"]),
    ],
    ids=["missing", "not-json", "list", "nodes-not-a-list", "node-without-fields", "node-no-id"],
)
def test_tree_refuses_a_bad_file_in_one_line(tmp_path, capsys, content, words) -> None:
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["tree", str(path)]) == 2
    _one_line_error(capsys, str(path), *words)


def test_png_needs_an_output_file(demo, tmp_path, capsys) -> None:
    saved = tmp_path / "result.json"
    assert cli.main(["solve", QUESTION, "--output", str(saved)]) == 0
    capsys.readouterr()
    assert cli.main(["tree", str(saved), "--format", "png"]) == 2
    _one_line_error(capsys, "--output")


@pytest.mark.parametrize(
    ("question", "words"),
    [("  ", ["question is empty"]), ("x" * 20_001, ["20001 characters", "20000"])],
    ids=["empty", "too-long"],
)
def test_solve_refuses_a_bad_question_before_loading_models(
    no_models, capsys, question, words
) -> None:
    assert cli.main(["solve", question]) == 2
    _one_line_error(capsys, *words)


def test_solve_refuses_bad_settings_in_one_line(no_models, capsys) -> None:
    assert cli.main(["solve", QUESTION, "--width", "1", "--beam-width", "2"]) == 2
    _one_line_error(capsys, "beam_width")


def test_the_process_exits_2_without_a_traceback(tmp_path) -> None:
    missing = tmp_path / "missing.json"
    run = subprocess.run(
        [sys.executable, "-m", "langgraph_specsearch.cli", "tree", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_missing_model_packages_are_one_line(monkeypatch, capsys) -> None:
    from langgraph_specsearch.presets.assets import ModelAssetsError

    def missing(*args: object) -> None:
        raise ModelAssetsError("the default drafter model needs the model part packages")

    monkeypatch.setattr(cli, "load_real_models", missing)
    assert cli.main(["solve", QUESTION]) == 1
    _one_line_error(capsys, "part packages")


def test_a_reader_that_stops_early_gets_no_traceback(demo, tmp_path, capsys) -> None:
    """``specsearch tree result.json | head -1``: a closed pipe ends the command quietly."""
    saved = tmp_path / "result.json"
    assert cli.main(["solve", QUESTION, "--json", "--output", str(saved)]) == 0
    capsys.readouterr()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        writer = subprocess.run(
            [sys.executable, "-m", "langgraph_specsearch.cli", "tree", str(saved)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert writer.returncode == 1
    assert "Traceback" not in writer.stderr, writer.stderr


def test_the_progress_line_names_the_search(demo, capsys) -> None:
    assert cli.main(["solve", QUESTION, "--search", "mcts", "--simulations", "2"]) == 0
    assert "MCTS, 2 simulations per move" in capsys.readouterr().err
    assert cli.main(["solve", QUESTION]) == 0
    assert "beam search, B=2" in capsys.readouterr().err
