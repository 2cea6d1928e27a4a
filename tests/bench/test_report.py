"""Summary, tables and plots built from hand-made records with hand-computed results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from extras import require_extra

from langgraph_specsearch.bench.report import (
    build_summary,
    markdown_table,
    plot_stage_time,
    plot_time_vs_accuracy,
    terminal_table,
    write_report,
)
from langgraph_specsearch.bench.stats import wilson_interval

AR, SPS, SPEC, DRAFTER = "target_only", "target_speculative", "specsearch", "drafter_only"
ZERO_STAGES = {"draft": 0.0, "evaluate": 0.0, "reject": 0.0, "correct": 0.0, "select": 0.0}


def _rec(pid: str, mode: str, wall: float, correct: bool, **extra: Any) -> dict[str, Any]:
    record = {
        "problem_id": pid,
        "mode": mode,
        "wall_seconds": wall,
        "correct": correct,
        "finished": True,
        "tokens": {"drafter": 0, "target": 100},
        "seconds": dict(ZERO_STAGES),
    }
    record.update(extra)
    return record


def _stages(draft: float, evaluate: float, correct: float, select: float) -> dict[str, float]:
    return {
        **ZERO_STAGES,
        "draft": draft,
        "evaluate": evaluate,
        "correct": correct,
        "select": select,
    }


# Wall times (s):   AR   SpS  SpecSearch  drafter_only
#   p1              30   15   10          6
#   p2              20   25    5          4
#   p3              12    6    4          3
#   p4              50    -   error       -
RECORDS = [
    _rec("p1", AR, 30.0, True),
    _rec("p1", SPS, 15.0, True),
    _rec("p1", SPEC, 10.0, True, drafted=12, accepted=6, seconds=_stages(4, 2, 3, 0.5)),
    _rec("p1", DRAFTER, 6.0, True, drafted=12, accepted=12),
    _rec("p2", AR, 20.0, True),
    _rec("p2", SPS, 25.0, False),
    _rec("p2", SPEC, 5.0, True, drafted=12, accepted=12, seconds=_stages(2, 1, 1, 0.5)),
    _rec("p2", DRAFTER, 4.0, False, drafted=12, accepted=12),
    _rec("p3", AR, 12.0, True),
    _rec("p3", SPS, 6.0, True),
    _rec("p3", SPEC, 4.0, False, drafted=6, accepted=0, seconds=_stages(2, 1, 0.5, 0.5)),
    _rec("p3", DRAFTER, 3.0, False, drafted=6, accepted=6),
    _rec("p4", AR, 50.0, True),
    _rec("p4", SPEC, 0.5, False, error="RuntimeError: boom", finished=False),
]
MODELS = {"drafter": "Qwen2.5-0.5B-Instruct", "target": "Qwen2.5-1.5B-Instruct"}


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return build_summary(RECORDS, models=MODELS, command="specsearch bench --quick")


def test_required_keys(summary: dict[str, Any]) -> None:
    for key in (
        "n_problems", "accuracy", "accuracy_ci", "speedup_vs_ar", "speedup_vs_sps",
        "speedup_vs_best_baseline", "ideal_speedup", "acceptance_rate", "stage_share",
        "models", "command", "spread",
    ):  # fmt: skip
        assert key in summary
    assert summary["models"] == MODELS
    assert summary["command"] == "specsearch bench --quick"
    assert summary["modes"] == [AR, SPS, SPEC, DRAFTER]
    json.dumps(summary)


def test_accuracy_counts_errors_as_wrong(summary: dict[str, Any]) -> None:
    assert summary["n_problems"] == 4
    assert summary["n_runs"] == {AR: 4, SPS: 3, SPEC: 4, DRAFTER: 3}
    assert summary["accuracy"] == {AR: 1.0, SPS: 2 / 3, SPEC: 0.5, DRAFTER: 1 / 3}
    assert summary["accuracy_ci"][SPEC] == list(wilson_interval(2, 4))
    assert summary["accuracy_ci"][AR][1] == 1.0
    assert summary["errors"] == {AR: 0, SPS: 0, SPEC: 1, DRAFTER: 0}
    assert summary["finished"][SPEC] == 0.75


def test_accuracy_against_ar_is_compared_problem_by_problem(summary: dict[str, Any]) -> None:
    paired = summary["accuracy_vs_ar"]
    assert AR not in paired
    # SpS ran p1-p3: right with AR on p1 and p3, wrong where AR was right on p2.
    assert paired[SPS] == {
        "n": 3, "both": 2, "only_mode": 0, "only_baseline": 1, "neither": 0,
        "points": pytest.approx(-100 / 3), "p_value": 1.0,
    }  # fmt: skip
    # SpecSearch on all four: the error on p4 counts as wrong, as in its accuracy.
    assert (paired[SPEC]["n"], paired[SPEC]["only_baseline"], paired[SPEC]["points"]) == (4, 2, -50)
    assert paired[SPEC]["p_value"] == pytest.approx(0.5)
    # A mode right where AR was wrong counts for the mode.
    flipped = build_summary([_rec("q", AR, 1.0, False), _rec("q", SPEC, 1.0, True)])
    assert flipped["accuracy_vs_ar"][SPEC]["only_mode"] == 1
    assert flipped["accuracy_vs_ar"][SPEC]["points"] == 100
    assert build_summary([_rec("q", SPEC, 1.0, True)])["accuracy_vs_ar"] == {}
    assert build_summary([_rec("q", AR, 1.0, True), _rec("r", SPEC, 1.0, True)])[
        "accuracy_vs_ar"
    ] == {SPEC: None}


def test_speedups_are_medians_of_paired_ratios(summary: dict[str, Any]) -> None:
    # vs AR: 30/10, 20/5, 12/4 = 3, 4, 3 (p4 errored, so no pair): median 3, IQR 3 to 3.5.
    assert summary["speedup_vs_ar"] == 3.0
    spread = summary["spread"]["speedup_vs_ar"]
    assert (spread["q1"], spread["q3"], spread["n"]) == (3.0, 3.5, 3)
    assert spread["ci_low"] <= 3.0 <= spread["ci_high"]
    # vs SpS: 15/10, 25/5, 6/4 = 1.5, 5, 1.5: median 1.5, q3 = 1.5 + 0.5 * 3.5 = 3.25.
    assert summary["speedup_vs_sps"] == 1.5
    assert summary["spread"]["speedup_vs_sps"]["q3"] == 3.25
    # vs best: SpS (46 s over p1-p3, which both ran, against AR's 62 s): 1.5, 5, 1.5.
    assert summary["best_baseline_mode"] == SPS
    assert summary["speedup_vs_best_baseline"] == 1.5
    assert summary["spread"]["speedup_vs_best_baseline"]["q3"] == 3.25
    # Ideal: AR / drafter_only = 5, 5, 4 -> median 5; SpecSearch reaches 3 / 5 of it.
    assert summary["ideal_speedup"] == 5.0
    assert summary["ideal_fraction"] == pytest.approx(0.6)


def test_acceptance_is_pooled_over_thoughts(summary: dict[str, Any]) -> None:
    # 18 of 30 drafts accepted; the mean of per-problem rates would be 0.5.
    assert summary["acceptance_rate"] == pytest.approx(0.6)
    assert summary["acceptance_rate_by_mode"][DRAFTER] == 1.0
    assert summary["acceptance_rate_by_mode"][AR] is None
    assert summary["thoughts"][SPEC] == {
        "drafted": 30,
        "accepted": 18,
        "rejected": 0,
        "corrected": 0,
    }


def test_stage_share_and_seconds_exclude_errored_runs(summary: dict[str, Any]) -> None:
    # Staged: draft 8, evaluate 4, correct 4.5, select 1.5 = 18 of 19 s wall; other 1.
    share = summary["stage_share"][SPEC]
    expected = {"draft": 8, "evaluate": 4, "reject": 0, "correct": 4.5, "select": 1.5, "other": 1}
    assert share == pytest.approx({k: v / 19 for k, v in expected.items()})
    assert summary["stage_seconds"][SPEC] == pytest.approx({k: v / 3 for k, v in expected.items()})
    assert summary["stage_share"][AR]["other"] == 1.0
    assert summary["mean_seconds"][SPEC] == pytest.approx(19 / 3)
    assert summary["mean_seconds"][AR] == 28.0
    assert summary["median_seconds"][AR] == 25.0


def test_missing_modes_give_none_not_errors() -> None:
    summary = build_summary([_rec("p1", SPEC, 2.0, True)])
    assert summary["speedup_vs_ar"] is None
    assert summary["ideal_speedup"] is None
    assert summary["ideal_fraction"] is None
    assert summary["spread"]["speedup_vs_sps"] is None
    assert "| speedup_vs_ar | - | - | - | 0 |" in markdown_table(summary)
    assert "SpecSearch" in terminal_table(summary)


def test_retried_pair_counts_once() -> None:
    records = [
        _rec("p1", SPEC, 1.0, False, error="OOM"),
        _rec("p1", AR, 6.0, True),
        _rec("p1", SPEC, 2.0, True),
    ]
    summary = build_summary(records)
    assert summary["n_runs"][SPEC] == 1
    assert summary["accuracy"][SPEC] == 1.0
    assert summary["speedup_vs_ar"] == 3.0


def test_markdown_table(summary: dict[str, Any]) -> None:
    text = markdown_table(summary)
    lines = text.splitlines()
    assert lines[0] == (
        "| mode | accuracy | 95% CI | n | vs AR: won/lost (p) | mean s | median s | tokens d/t "
        "| accept |"
    )
    assert lines[1] == "|---|---|---|---|---|---|---|---|---|"
    # SpecSearch: wrong where AR was right on p3 and p4 (the error), no win: 0/2, p = 0.5.
    assert "| SpecSearch | 50.0% | " in text and " | 4 | 0/2 (0.50) | " in text
    assert lines[2].startswith("| AR | 100.0% | ")
    assert "| SpecSearch | 50.0% |" in text
    assert "| speedup_vs_ar | 3.00x | 3.00-3.50 |" in text
    assert "| ideal_speedup | 5.00x | 4.50-5.00 |" in text
    assert "60% of the ideal bound" in text


def test_terminal_table_is_aligned(summary: dict[str, Any]) -> None:
    text = terminal_table(summary)
    lines = text.splitlines()
    assert lines[0].startswith("mode ")
    assert set(lines[1].replace(" ", "")) == {"-"}
    mode_rows = lines[2:6]
    assert [r.split()[0] for r in mode_rows] == ["AR", "SpS", "SpecSearch", "drafter"]
    # Every column starts at the same offset in every row.
    offset = lines[0].index("accuracy")
    assert all(row[offset - 2 : offset] == "  " for row in mode_rows)
    assert "speedup_vs_best_baseline" in text and "1.50x" in text
    assert "|" not in text


def test_plots_are_png(summary: dict[str, Any], tmp_path: Path) -> None:
    require_extra("matplotlib", "bench")
    for plot, name in ((plot_time_vs_accuracy, "a.png"), (plot_stage_time, "b.png")):
        path = plot(summary, tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 1000


def test_write_report(tmp_path: Path) -> None:
    require_extra("matplotlib", "bench")
    out = tmp_path / "results" / "run"
    summary = write_report(RECORDS, out, models=MODELS, command="cmd")
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["speedup_vs_ar"] == summary["speedup_vs_ar"] == 3.0
    assert on_disk["command"] == "cmd"
    assert (out / "summary.md").read_text() == markdown_table(summary)
    assert (out / "time_vs_accuracy.png").exists() and (out / "stage_time.png").exists()
    write_report(RECORDS, tmp_path / "noplots", plots=False)
    assert not (tmp_path / "noplots" / "stage_time.png").exists()


def test_sps_reports_how_its_corrections_were_written() -> None:
    """A row called SpS says how much of it was speculative decoding (AR in disguise at 0%)."""
    records = [
        _rec("p1", AR, 10.0, True, correction_strategies={"batched": 4}),
        _rec("p1", SPS, 12.0, True, correction_strategies={"speculative": 3, "batched": 1}),
        _rec("p2", SPS, 12.0, True, correction_strategies={"speculative": 4}),
    ]
    summary = build_summary(records)
    assert summary["correction_strategies"][SPS] == {
        "calls": {"speculative": 7, "batched": 1},
        "speculative_share": 7 / 8,
    }
    assert summary["correction_strategies"][AR]["speculative_share"] == 0.0
    assert "SpS (88% speculative)" in markdown_table(summary)
    assert "SpS (88% speculative)" in terminal_table(summary)


def test_every_mode_has_its_speedup_against_the_best_baseline() -> None:
    """best baseline = AR (25 s against SpS's 29 s); each mode's median ratio best / mode."""
    records = [
        _rec("p1", AR, 10.0, True), _rec("p1", SPS, 8.0, True), _rec("p1", SPEC, 4.0, True),
        _rec("p2", AR, 6.0, True), _rec("p2", SPS, 12.0, True), _rec("p2", SPEC, 12.0, True),
        _rec("p3", AR, 9.0, True), _rec("p3", SPS, 9.0, True), _rec("p3", SPEC, 3.0, True),
    ]  # fmt: skip
    by_mode = build_summary(records)["speedup_vs_best_baseline_by_mode"]
    assert by_mode[SPEC] == pytest.approx(2.5)  # ratios 2.5, 0.5, 3.0
    assert by_mode[AR] == pytest.approx(1.0)  # itself
    assert by_mode[SPS] == pytest.approx(1.0)  # ratios 1.25, 0.5, 1.0


def test_auto_gets_its_paired_spread_in_the_summary_and_the_tables() -> None:
    """auto is not a baseline: its ratios best / auto get a median, IQR and CI, and a row."""
    records = [
        _rec("p1", AR, 10.0, True), _rec("p1", "auto", 10.0, True),
        _rec("p2", AR, 6.0, True), _rec("p2", "auto", 12.0, True),
        _rec("p3", AR, 9.0, True), _rec("p3", "auto", 3.0, True),
    ]  # fmt: skip
    summary = build_summary(records)
    spread = summary["mode_spread"]["auto"]["speedup_vs_best_baseline"]
    assert spread["median"] == pytest.approx(1.0)  # ratios 1.0, 0.5, 3.0
    assert spread["n"] == 3 and spread["q1"] < 1.0 < spread["q3"]
    assert AR not in summary["mode_spread"]
    assert "auto speedup_vs_best_baseline | 1.00x" in markdown_table(summary)


def test_the_best_baseline_is_the_fastest_large_model_only_mode_on_any_engine() -> None:
    """The one mode, of AR, SpS and AR on other engines, with the least total time; with only AR
    run, AR itself. Not the faster per problem (an oracle no user has: 1.6x here)."""
    records = [
        _rec("p1", AR, 30.0, True),
        _rec("p1", "target_only@llamacpp", 12.0, True),
        _rec("p1", SPEC, 10.0, True),
        _rec("p2", AR, 20.0, True),
        _rec("p2", "target_only@llamacpp", 30.0, True),
        _rec("p2", SPEC, 10.0, True),
        _rec("p3", AR, 20.0, True),  # only AR ran p3: not in the comparison of the baselines
    ]
    summary = build_summary(records)
    assert summary["baseline_modes"] == [AR, "target_only@llamacpp"]
    # llama.cpp: 42 s over p1-p2 against AR's 50 s -> ratios 1.2 and 3.0 -> median 2.1
    assert summary["best_baseline_mode"] == "target_only@llamacpp"
    assert summary["speedup_vs_best_baseline"] == pytest.approx(2.1)
    assert summary["speedup_vs_ar"] == pytest.approx(2.5)
    only_ar = build_summary([r for r in records if r["mode"] != "target_only@llamacpp"])
    assert only_ar["speedup_vs_best_baseline"] == pytest.approx(2.5)  # AR alone is the baseline
    assert "AR on llamacpp" in terminal_table(summary)
