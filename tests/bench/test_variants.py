"""SpecSearch variants: parsed and validated before any model loads, run beside the modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_specsearch.bench.report import markdown_table
from langgraph_specsearch.bench.variants import parse_variant, parse_variants
from langgraph_specsearch.cli import main
from langgraph_specsearch.config import SpecSearchConfig

BASE = SpecSearchConfig(mode="specsearch", width=3, n_drafts=3, theta=0.9)


def test_a_variant_overrides_settings_and_keeps_the_rest() -> None:
    variant = parse_variant("m6:n_drafts=6,theta=0.5", BASE)
    assert variant.mode == "specsearch-m6"
    config = variant.config(BASE)
    assert (config.n_drafts, config.theta, config.width, config.mode) == (6, 0.5, 3, "specsearch")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("m6", "expected NAME:FIELD=VALUE"),
        ("M 6:n_drafts=6", "the name must be"),
        ("m6:n_drafts", "is not FIELD=VALUE"),
        ("m6:drafts=6", "unknown setting 'drafts'"),
        ("m6:mode=target_only", "unknown setting 'mode'"),
        ("m6:n_drafts=many", "n_drafts"),
        ("w0:width=0", "width"),
    ],
)
def test_bad_variants_are_named(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as error:
        parse_variant(text, BASE)
    assert repr(text) in str(error.value)  # the user's own text is echoed back


def test_a_name_used_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="used twice"):
        parse_variants(["a:n_drafts=4", "a:n_drafts=6"], BASE)


def test_variants_run_interleaved_and_are_summarised(tmp_path: Path, demo_data: Path) -> None:
    args = ["bench", "--fake", "--data", str(demo_data), "--n", "2", "--out-dir", str(tmp_path)]
    args += ["--run-name", "v", "--width", "2", "--no-plots", "--modes", "target_only"]
    args += ["specsearch", "--variant", "m4:n_drafts=4"]
    assert main(args) == 0
    records = [
        json.loads(line) for line in (tmp_path / "v" / "records.jsonl").read_text().splitlines()
    ]
    modes = [r["mode"] for r in records]
    assert modes == ["target_only", "specsearch", "specsearch-m4"] * 2
    drafted = {r["mode"]: r["drafted"] for r in records[:3]}
    assert drafted["specsearch-m4"] > drafted["specsearch"]  # its own M, not the base's
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["variant_settings"] == {"specsearch-m4": {"n_drafts": "4"}}
    spreads = summary["variants"]["specsearch-m4"]
    assert spreads["speedup_vs_ar"]["n"] == 2
    assert spreads["speedup_vs_specsearch"]["n"] == 2
    assert "specsearch-m4 speedup_vs_specsearch" in markdown_table(summary)


def test_a_bad_variant_stops_the_bench_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown setting"):
        main(["bench", "--fake", "--out-dir", str(tmp_path), "--variant", "x:nope=1"])
    assert not any(tmp_path.iterdir())
