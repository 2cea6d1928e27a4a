"""Turn per-problem records into the benchmark's summary, tables and plots.

Everything here reads only records (or the summary built from them), so a report can be rebuilt
from a committed JSONL without models, and the numbers in docs trace back to raw measurements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph_specsearch.bench.records import Record, latest_records
from langgraph_specsearch.bench.stats import (
    STAGES,
    ideal_speedup,
    mcnemar_exact,
    median,
    paired_ratios,
    ratio_summary,
    stage_share,
    wilson_interval,
)
from langgraph_specsearch.bench.variants import PREFIX as VARIANT_PREFIX

AR, SPS, SPEC, DRAFTER = "target_only", "target_speculative", "specsearch", "drafter_only"
MODES = (AR, SPS, SPEC, DRAFTER)
MODE_LABELS = {AR: "AR", SPS: "SpS", SPEC: "SpecSearch", DRAFTER: "drafter only"}
SPEEDUPS = ("speedup_vs_ar", "speedup_vs_sps", "speedup_vs_best_baseline", "ideal_speedup")
THOUGHTS = ("drafted", "accepted", "rejected", "corrected")
ENGINE_SEPARATOR = "@"  # "target_only@llamacpp": AR on another engine (bench --baseline-engines)


def is_baseline(mode: str) -> bool:
    """Whether ``mode`` is a large-model-only configuration (AR or SpS, on any engine)."""
    return mode.split(ENGINE_SEPARATOR)[0] in (AR, SPS)


def best_baseline_mode(times: Mapping[str, Mapping[str, float]]) -> str | None:
    """The fastest large-model-only mode: the least total time over the problems every such mode
    ran (the most problems per hour); the first in mode order on a tie, None if none ran.

    What a user would pick instead of SpecSearch is one target-only configuration, whichever
    engine and decoding it uses; with only AR run, that is AR. It is not the faster mode problem
    by problem: no user can choose that in advance, and the minimum of two noisy times is below
    both, so even the baselines themselves would score under 1x against it.
    """
    baselines = [mode for mode in times if is_baseline(mode)]
    if not baselines:
        return None
    shared = set.intersection(*(set(times[mode]) for mode in baselines))
    return min(baselines, key=lambda mode: sum(times[mode][k] for k in shared))


def best_baseline_times(times: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The best baseline's time per problem, over the problems every baseline mode ran."""
    best = best_baseline_mode(times)
    if best is None:
        return {}
    shared = set.intersection(*(set(times[mode]) for mode in times if is_baseline(mode)))
    return {k: times[best][k] for k in shared}


def _times(records: Iterable[Record]) -> dict[str, float]:
    """Wall time per problem; errored runs have no meaningful time and are left out."""
    return {
        str(r["problem_id"]): float(r["wall_seconds"])
        for r in records
        if not r.get("error") and r.get("wall_seconds") is not None
    }


def paired_accuracy(baseline: Iterable[Record], other: Iterable[Record]) -> dict[str, Any] | None:
    """Right and wrong of two modes on the problems both ran (an error counts as wrong).

    Accuracy is compared problem by problem because the problems differ far more than the modes:
    ``points`` is the gap in percentage points over the shared problems, and ``p_value`` the
    exact McNemar test of the discordant ones. None if the modes share no problem.
    """
    right = {str(r["problem_id"]): bool(r.get("correct")) for r in baseline}
    theirs = {str(r["problem_id"]): bool(r.get("correct")) for r in other}
    shared = sorted(right.keys() & theirs.keys())
    if not shared:
        return None
    only_other = sum(theirs[k] and not right[k] for k in shared)
    only_baseline = sum(right[k] and not theirs[k] for k in shared)
    return {
        "n": len(shared),
        "both": sum(right[k] and theirs[k] for k in shared),
        "only_mode": only_other,
        "only_baseline": only_baseline,
        "neither": sum(not right[k] and not theirs[k] for k in shared),
        "points": 100 * (only_other - only_baseline) / len(shared),
        "p_value": mcnemar_exact(only_other, only_baseline),
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def build_summary(
    records: Iterable[Record],
    *,
    models: Mapping[str, str] | None = None,
    command: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The benchmark summary: accuracy with Wilson CIs, paired speedups with spread, and costs.

    Speedups are medians of per-problem ratios (baseline time / SpecSearch time) over problems
    where both ran without error; ``speedup_vs_best_baseline`` uses the fastest of the
    large-model-only modes run (AR, SpS, and AR on other engines: ``baseline_modes``), by total
    time over the problems all of them ran (``best_baseline_mode``).
    Their IQR and bootstrap CI are under ``spread``. ``ideal_speedup`` is AR / drafter_only and
    ``ideal_fraction`` how much of it SpecSearch reaches. A retried pair counts once (its last).
    ``accuracy_vs_ar`` compares each mode's right answers with AR's problem by problem
    (``paired_accuracy``). ``speedup_vs_best_baseline_by_mode`` gives every mode's median ratio
    against that baseline (``mode_spread`` its IQR and CI for auto and drafter only, ``variants``
    for variants), and ``correction_strategies`` how each mode's corrections were written.
    """
    records = latest_records(records)
    present = {str(r["mode"]) for r in records}
    modes = [m for m in MODES if m in present] + sorted(present - set(MODES))
    by_mode = {m: [r for r in records if r["mode"] == m] for m in modes}
    times = {m: _times(by_mode[m]) for m in modes}

    accuracy: dict[str, float] = {}
    accuracy_ci: dict[str, list[float]] = {}
    for mode, rows in by_mode.items():
        correct = sum(bool(r.get("correct")) for r in rows)
        accuracy[mode] = correct / len(rows)
        accuracy_ci[mode] = list(wilson_interval(correct, len(rows)))

    ar, sps, spec = times.get(AR, {}), times.get(SPS, {}), times.get(SPEC, {})
    best = best_baseline_times(times)
    spread = {
        "speedup_vs_ar": ratio_summary(paired_ratios(ar, spec), seed=seed),
        "speedup_vs_sps": ratio_summary(paired_ratios(sps, spec), seed=seed),
        "speedup_vs_best_baseline": ratio_summary(paired_ratios(best, spec), seed=seed),
        "ideal_speedup": ideal_speedup(ar, times.get(DRAFTER, {}), seed=seed),
    }
    variants = {
        mode: {
            "speedup_vs_ar": ratio_summary(paired_ratios(ar, times[mode]), seed=seed),
            "speedup_vs_best_baseline": ratio_summary(paired_ratios(best, times[mode]), seed=seed),
            "speedup_vs_specsearch": ratio_summary(paired_ratios(spec, times[mode]), seed=seed),
        }
        for mode in modes
        if mode.startswith(VARIANT_PREFIX)
    }
    # the other modes that are not baselines (auto, drafter only): the same paired spread
    mode_spread = {
        mode: {
            "speedup_vs_ar": ratio_summary(paired_ratios(ar, times[mode]), seed=seed),
            "speedup_vs_best_baseline": ratio_summary(paired_ratios(best, times[mode]), seed=seed),
        }
        for mode in modes
        if not is_baseline(mode) and mode != SPEC and mode not in variants
    }
    by_mode_speedup = {mode: _median_ratio(paired_ratios(best, times[mode])) for mode in modes}
    medians = {name: (s["median"] if s else None) for name, s in spread.items()}
    vs_ar, ideal = medians["speedup_vs_ar"], medians["ideal_speedup"]

    thoughts = {
        m: {k: sum(int(r.get(k) or 0) for r in by_mode[m]) for k in THOUGHTS} for m in modes
    }
    acceptance = {
        m: (t["accepted"] / t["drafted"] if t["drafted"] else None) for m, t in thoughts.items()
    }
    ok_rows = {m: [r for r in by_mode[m] if not r.get("error")] for m in modes}
    stage_seconds: dict[str, dict[str, float]] = {}
    for mode, rows in ok_rows.items():
        n = max(len(rows), 1)
        per_stage = {
            s: sum(float(r.get("seconds", {}).get(s, 0.0)) for r in rows) / n for s in STAGES
        }
        wall = sum(times[mode].values()) / n
        stage_seconds[mode] = {**per_stage, "other": max(0.0, wall - sum(per_stage.values()))}

    return {
        "n_problems": len({str(r["problem_id"]) for r in records}),
        "modes": modes,
        "n_runs": {m: len(rows) for m, rows in by_mode.items()},
        "errors": {m: sum(bool(r.get("error")) for r in rows) for m, rows in by_mode.items()},
        "accuracy": accuracy,
        "accuracy_ci": accuracy_ci,
        "accuracy_vs_ar": {
            mode: paired_accuracy(by_mode[AR], by_mode[mode])
            for mode in modes
            if mode != AR and AR in by_mode
        },
        "finished": {m: _mean([float(bool(r.get("finished"))) for r in by_mode[m]]) for m in modes},
        **medians,
        "ideal_fraction": vs_ar / ideal if vs_ar is not None and ideal else None,
        "spread": spread,
        "variants": variants,
        "mode_spread": mode_spread,
        "speedup_vs_best_baseline_by_mode": by_mode_speedup,
        "baseline_modes": [m for m in modes if is_baseline(m)],
        "best_baseline_mode": best_baseline_mode(times),
        "correction_strategies": {m: strategy_mix(by_mode[m]) for m in modes},
        "acceptance_rate": acceptance.get(SPEC),
        "acceptance_rate_by_mode": acceptance,
        "thoughts": thoughts,
        "mean_seconds": {m: _mean(list(times[m].values())) for m in modes},
        "median_seconds": {m: _median_or_none(list(times[m].values())) for m in modes},
        "stage_share": {
            m: stage_share(
                [r.get("seconds", {}) for r in ok_rows[m]], sum(times[m].values()) or None
            )
            for m in modes
        },
        "stage_seconds": stage_seconds,
        "tokens": {
            m: {
                side: _mean([float(r.get("tokens", {}).get(side, 0)) for r in ok_rows[m]])
                for side in ("drafter", "target")
            }
            for m in modes
        },
        "models": dict(models or {}),
        "command": command,
    }


def strategy_mix(records: Iterable[Record]) -> dict[str, Any]:
    """How a mode's corrections were written: calls per strategy and the speculative share.

    A row called SpS measures speculative decoding only when its share is 1: with
    ``correction="auto"`` the backend may pick plain batched generation for every call.
    """
    calls: dict[str, int] = {}
    for record in records:
        for strategy, count in (record.get("correction_strategies") or {}).items():
            calls[strategy] = calls.get(strategy, 0) + int(count)
    total = sum(calls.values())
    share = calls.get("speculative", 0) / total if total else None
    return {"calls": calls, "speculative_share": share}


def _median_ratio(ratios: list[float]) -> float | None:
    return median(ratios) if ratios else None


def mode_label(mode: str, summary: Mapping[str, Any] | None = None) -> str:
    """The table name of a mode; SpS carries the share of its corrections written speculatively."""
    base, _, engine = mode.partition(ENGINE_SEPARATOR)
    label = MODE_LABELS.get(base, base) + (f" on {engine}" if engine else "")
    if mode == SPS and summary is not None:
        share = summary.get("correction_strategies", {}).get(mode, {}).get("speculative_share")
        if share is not None:
            label += f" ({100 * share:.0f}% speculative)"
    return label


def _median_or_none(values: list[float]) -> float | None:
    return median(values) if values else None


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _mode_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["mode", "accuracy", "95% CI", "n", "vs AR: won/lost (p)", "mean s", "median s"]
    header += ["tokens d/t", "accept"]
    rows = []
    for mode in summary["modes"]:
        low, high = summary["accuracy_ci"][mode]
        tokens = summary["tokens"][mode]
        paired = summary.get("accuracy_vs_ar", {}).get(mode)
        rows.append(
            [
                mode_label(mode, summary),
                _fmt(100 * summary["accuracy"][mode], ".1f", "%"),
                f"{100 * low:.1f}-{100 * high:.1f}%",
                str(summary["n_runs"][mode]),
                _won_lost(paired),
                _fmt(summary["mean_seconds"][mode], ".1f"),
                _fmt(summary["median_seconds"][mode], ".1f"),
                f"{_fmt(tokens['drafter'], '.0f')}/{_fmt(tokens['target'], '.0f')}",
                _fmt(_pct(summary["acceptance_rate_by_mode"][mode]), ".0f", "%"),
            ]
        )
    return header, rows


def _won_lost(paired: Mapping[str, Any] | None) -> str:
    """Problems only this mode solved / only AR solved, with the McNemar p-value."""
    if not paired:
        return "-"
    return f"{paired['only_mode']}/{paired['only_baseline']} ({paired['p_value']:.2f})"


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _speedup_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["speedup (median of paired ratios)", "median", "IQR", "95% CI", "pairs"]
    named = [(name, summary["spread"].get(name)) for name in SPEEDUPS]
    for key in ("variants", "mode_spread"):
        for mode, spreads in summary.get(key, {}).items():
            named += [(f"{mode} {name}", s) for name, s in spreads.items()]
    rows = []
    for name, s in named:
        if s is None:
            rows.append([name, "-", "-", "-", "0"])
            continue
        rows.append(
            [
                name,
                f"{s['median']:.2f}x",
                f"{s['q1']:.2f}-{s['q3']:.2f}",
                f"{s['ci_low']:.2f}-{s['ci_high']:.2f}",
                str(s["n"]),
            ]
        )
    return header, rows


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), "  ".join("-" * w for w in widths)]
    out += [line.format(*row) for row in rows]
    return "\n".join(s.rstrip() for s in out)


def _stage_line(summary: Mapping[str, Any]) -> str:
    share = summary["stage_share"].get(SPEC)
    if not share:
        return ""
    parts = ", ".join(f"{k} {100 * v:.0f}%" for k, v in share.items() if v > 0)
    return f"SpecSearch time share: {parts}"


def markdown_table(summary: Mapping[str, Any]) -> str:
    """The per-mode table and the speedup table, in GitHub Markdown."""
    text = _markdown(*_mode_rows(summary)) + "\n\n" + _markdown(*_speedup_rows(summary))
    if summary.get("ideal_fraction") is not None:
        text += f"\n\nSpecSearch reaches {100 * summary['ideal_fraction']:.0f}% of the ideal bound."
    stages = _stage_line(summary)
    return text + (f"\n\n{stages}." if stages else "") + "\n"


def terminal_table(summary: Mapping[str, Any]) -> str:
    """The same tables as plain aligned text for the terminal."""
    text = _plain(*_mode_rows(summary)) + "\n\n" + _plain(*_speedup_rows(summary))
    if summary.get("ideal_fraction") is not None:
        text += f"\n\nSpecSearch reaches {100 * summary['ideal_fraction']:.0f}% of the ideal bound."
    stages = _stage_line(summary)
    return text + (f"\n{stages}" if stages else "") + "\n"


def _figure(width: float, height: float) -> Any:
    """A Figure on the Agg canvas, with no pyplot global state (safe in threads and headless)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def plot_time_vs_accuracy(summary: Mapping[str, Any], path: str | Path) -> Path:
    """Mean wall time per problem against accuracy (with its 95% CI), one point per mode."""
    figure = _figure(6, 4)
    axes = figure.add_subplot()
    for mode in summary["modes"]:
        seconds, acc = summary["mean_seconds"][mode], summary["accuracy"][mode]
        if seconds is None:
            continue
        low, high = summary["accuracy_ci"][mode]
        axes.errorbar(
            [seconds],
            [100 * acc],
            yerr=[[100 * (acc - low)], [100 * (high - acc)]],
            fmt="o",
            capsize=4,
            label=MODE_LABELS.get(mode, mode),
        )
    axes.set_xlabel("mean wall time per problem (s)")
    axes.set_ylabel("accuracy (%), 95% CI")
    axes.set_title(f"Time vs accuracy ({summary['n_problems']} problems)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def plot_stage_time(summary: Mapping[str, Any], path: str | Path) -> Path:
    """Mean seconds per problem in each stage, stacked per mode: where the time goes."""
    figure = _figure(6, 4)
    axes = figure.add_subplot()
    modes = list(summary["modes"])
    labels = [MODE_LABELS.get(m, m) for m in modes]
    bottoms = [0.0] * len(modes)
    for stage in (*STAGES, "other"):
        heights = [summary["stage_seconds"][m].get(stage, 0.0) for m in modes]
        axes.bar(labels, heights, bottom=bottoms, label=stage)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    axes.set_ylabel("mean seconds per problem")
    axes.set_title("Time per stage")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def write_report(
    records: Iterable[Record],
    out_dir: str | Path,
    *,
    models: Mapping[str, str] | None = None,
    command: str | None = None,
    plots: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Write summary.json, summary.md and (optionally) the two PNG plots into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = build_summary(records, models=models, command=command, seed=seed)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out_dir / "summary.md").write_text(markdown_table(summary), encoding="utf-8")
    if plots:
        plot_time_vs_accuracy(summary, out_dir / "time_vs_accuracy.png")
        plot_stage_time(summary, out_dir / "stage_time.png")
    return summary
