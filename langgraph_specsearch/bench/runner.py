"""Run every mode on the same problems, interleaved, and record each run as it finishes.

The modes share one drafter, one target and one scorer, so a speedup can only come from the search,
never from different settings. Runs go problem by problem (AR, SpS, SpecSearch, drafter-only, then
the next problem) so drift on a shared machine cancels in the per-problem ratios.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph_specsearch.bench.data import (
    Problem,
    default_problems_path,
    load_jsonl,
    seeded_subset,
)
from langgraph_specsearch.bench.records import (
    Record,
    RecordWriter,
    done_pairs,
    error_record,
    latest_records,
    pending,
    read_records,
    record_from_result,
)
from langgraph_specsearch.bench.report import AR, ENGINE_SEPARATOR, terminal_table, write_report
from langgraph_specsearch.bench.variants import Variant, parse_variants
from langgraph_specsearch.config import SpecSearchConfig
from langgraph_specsearch.generators.base import can_speculate
from langgraph_specsearch.presets import (
    DEFAULT_SCORER,
    ENGINES,
    SCORERS,
    config_from_args,
    load_real_models,
    make_draft_likelihoods,
    resolve_engine,
)
from langgraph_specsearch.runnable import SpecSearch

MODES = ("target_only", "target_speculative", "specsearch", "drafter_only")
OPTIONAL_MODES = ("auto",)  # run when asked: --modes ... auto
DEFAULT_DATA = default_problems_path()
ReasonerFactory = Callable[[str], SpecSearch]


def forget_between_runs(objects: Sequence[Any]) -> None:
    """Empty what the models and scorers keep between calls, so no run reads another's work.

    Without this a mode run after another on the same problem finds its prompts prefilled
    (llama.cpp's prompt cache), its prefixes scored, or a thought's free score kept, and
    looks faster than the mode run first.
    """
    for each in {id(each): each for each in objects}.values():  # models need not be hashable
        clear = getattr(each, "clear_prefix_cache", None)
        if callable(clear):
            clear()
        kept_scores = getattr(each, "generated", None)
        if callable(getattr(kept_scores, "clear", None)):
            kept_scores.clear()


def run_benchmark(
    problems: Sequence[Problem],
    modes: Sequence[str],
    make_reasoner: ReasonerFactory,
    records_path: Path,
    *,
    progress: bool = True,
    retry_errors: bool = False,
    before_each: Callable[[], None] | None = None,
) -> list[Record]:
    """Run the pending (problem, mode) pairs, appending one record per finished run.

    A record already in ``records_path`` is never run again, so a killed run resumes where it
    stopped. A run that raises is recorded as an error (wrong, and left out of every timing).
    ``before_each`` runs before every run, outside its timing: the CLI empties the scorer's
    prefix cache there, so no mode reads another's cached prefixes (SpS follows AR's paths
    token for token and would otherwise score them for free).
    """
    done = (
        done_pairs(read_records(records_path), retry_errors=retry_errors)
        if records_path.exists()
        else set()
    )
    todo = list(pending(problems, modes, done))
    reasoners = {mode: make_reasoner(mode) for mode in modes}
    bar = _progress(len(todo), progress)
    with RecordWriter(records_path) as writer:
        for problem, mode in todo:
            bar.set_description(f"{problem.problem_id} {mode}")
            if before_each is not None:
                before_each()
            start = time.perf_counter()
            try:
                result = reasoners[mode].invoke(problem.question)
            except Exception as error:  # recorded, never hidden: the summary counts errors
                writer.write(error_record(problem, mode, error, time.perf_counter() - start))
            else:
                record = record_from_result(problem, mode, result, time.perf_counter() - start)
                record["stop_reason"] = result.stop_reason
                record["correction_strategies"] = result.stats.get("correction_strategies", {})
                record["invalid_scores"] = result.stats.get("invalid_scores", 0)
                writer.write(record)
            bar.update(1)
    bar.close()
    return read_records(records_path)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="run", file=sys.stderr)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``specsearch bench`` options (the search settings are added by the CLI)."""
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="JSONL with question/answer"
    )
    parser.add_argument("--n", type=int, default=30, help="problems (a seeded random subset)")
    parser.add_argument("--subset-seed", type=int, default=0, help="seed of the problem subset")
    parser.add_argument(
        "--modes", nargs="+", default=list(MODES), choices=[*MODES, *OPTIONAL_MODES]
    )
    parser.add_argument(
        "--baseline-engines",
        nargs="+",
        default=[],
        choices=ENGINES,
        metavar="ENGINE",
        help="also run AR on these engines, interleaved, as mode target_only@ENGINE: the best "
        "baseline is then the fastest large-model-only configuration across engines",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:FIELD=VALUE[,...]",
        help="also run SpecSearch with other settings as mode specsearch-NAME, interleaved "
        "(repeatable; e.g. m6:n_drafts=6)",
    )
    parser.add_argument("--run-name", default=None, help="results folder name [bench-<n>]")
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 problems, N=2, M=2, depth 6: a few minutes on real models",
    )
    parser.add_argument(
        "--fake",
        action="store_true",
        help="scripted demo models instead of the real pair (tests the pipeline)",
    )
    parser.add_argument(
        "--scorer",
        default=DEFAULT_SCORER,
        choices=SCORERS,
        help=f"the step scorer of every mode [{DEFAULT_SCORER}]",
    )
    parser.add_argument(
        "--sps-strategy",
        default="speculative",
        choices=["auto", "speculative", "batched"],
        help="how target_speculative writes thoughts [speculative: the SpS row measures "
        "token-level speculation; auto lets the backend pick plain batching, which makes it AR]",
    )
    parser.add_argument(
        "--num-assistant-tokens",
        type=int,
        default=None,
        help="draft length of token-level speculation",
    )
    parser.add_argument("--restart", action="store_true", help="discard earlier records")
    parser.add_argument("--retry-errors", action="store_true", help="rerun runs that raised")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="summarise the run's records as they are (e.g. of a stopped run); run nothing",
    )


def main(args: argparse.Namespace) -> int:
    """``specsearch bench``: run, then write records.jsonl, summary.json/.md and plots."""
    if args.quick:
        args.n, args.width, args.n_drafts, args.max_depth = 3, 2, 2, 6
        args.beam_width = min(args.beam_width, args.width)
    if not args.data.exists():
        raise SystemExit(f"no benchmark data at {args.data}: pass --data FILE.jsonl")
    try:
        variants = parse_variants(args.variant, config_from_args(args, "specsearch"))
    except ValueError as error:
        raise SystemExit(str(error)) from error
    problems = seeded_subset(load_jsonl(args.data), args.n, args.subset_seed)
    run_dir = args.out_dir / (args.run_name or f"bench-{args.n}" + ("-fake" if args.fake else ""))
    run_dir.mkdir(parents=True, exist_ok=True)
    records_path = run_dir / "records.jsonl"
    if args.restart and records_path.exists():
        records_path.unlink()
    if args.report_only:
        if not records_path.exists():
            raise SystemExit(f"no records to summarise at {records_path}")
        records = latest_records(read_records(records_path))
        return _report(args, run_dir, records, _names(args), variants)
    assistants: dict[str, Any] = {}  # a mode's own small model, when it cannot share the drafter
    if not args.fake:
        try:
            args.engine = resolve_engine(args.engine, args.scorer, args.modes)
        except ValueError as error:
            raise SystemExit(str(error)) from error
    if args.fake:
        from langgraph_specsearch.testing import DemoModel, DemoScorer

        drafter, target, scorer = DemoModel("drafter", 0.7), DemoModel("target", 0.9), DemoScorer()
        if "target_speculative" in args.modes:  # scripted models have no token-level speculation
            print("--fake: skipping target_speculative", file=sys.stderr)
            args.modes = [mode for mode in args.modes if mode != "target_speculative"]
        models = {"drafter": "demo", "target": "demo", "scorer": "demo"}
    else:
        drafter, target, scorer = load_real_models(args.scorer, args.drafter, args.engine)
        if args.num_assistant_tokens:
            target.num_assistant_tokens = args.num_assistant_tokens
        models = _names(args)
        if "target_speculative" in args.modes and not can_speculate(target, drafter):
            # SpS needs an assistant with the target's tokenizer; a thought drafter with another
            # tokenizer (SmolLM2) cannot be one, so SpS keeps the default drafter as assistant.
            from langgraph_specsearch.presets.assets import load_default_generator

            assistants["target_speculative"] = load_default_generator("drafter")
            models["sps_assistant"] = assistants["target_speculative"].name

    others: dict[str, tuple[Any, Any]] = {}  # engine -> (target, scorer) for target_only@engine
    for engine in dict.fromkeys(args.baseline_engines):
        if args.fake or engine == args.engine:
            continue
        try:
            resolve_engine(engine, args.scorer)
        except ValueError as error:
            raise SystemExit(str(error)) from error
        _, other_target, other_scorer = load_real_models(args.scorer, args.drafter, engine)
        others[engine] = (other_target, other_scorer)
        models[f"target@{engine}"] = f"{other_target.name} ({engine})"
    extra_modes = [f"{AR}{ENGINE_SEPARATOR}{engine}" for engine in others]

    def make_reasoner(mode: str) -> SpecSearch:
        if ENGINE_SEPARATOR in mode:
            base, _, engine = mode.partition(ENGINE_SEPARATOR)
            other_target, other_scorer = others[engine]
            return SpecSearch(
                drafter=other_target,  # AR never drafts
                target=other_target,
                scorer=other_scorer,
                config=config_from_args(args, base),
            )
        if mode in variants:
            config = variants[mode].config(config_from_args(args, "specsearch"))
        else:
            config = config_from_args(args, mode)
        if mode == "target_speculative":
            config = SpecSearchConfig(**{**config.model_dump(), "correction": args.sps_strategy})
        small = assistants.get(mode, drafter)
        likelihoods = None
        if config.acceptance == "logprob" and config.speculates:
            likelihoods = draft_likelihoods(small)
        return SpecSearch(
            drafter=small,
            target=target,
            scorer=scorer,
            config=config,
            draft_likelihoods=likelihoods,
        )

    kept = [scorer, drafter, target, *assistants.values()]
    kept += [model for pair in others.values() for model in pair]

    def draft_likelihoods(small: Any) -> tuple[Any, Any]:
        """The log-prob pair of the logprob ablation, on the loaded models (caches kept clear)."""
        if args.fake:
            raise SystemExit("acceptance=logprob needs the models' log-probabilities: drop --fake")
        pair = make_draft_likelihoods(small, target)
        kept.extend(pair)
        return pair

    def clear_caches() -> None:
        forget_between_runs(kept)

    records = run_benchmark(
        problems,
        [*args.modes, *extra_modes, *variants],
        make_reasoner,
        records_path,
        retry_errors=args.retry_errors,
        before_each=clear_caches,
    )
    return _report(args, run_dir, records, models, variants)


def _names(args: argparse.Namespace) -> dict[str, str]:
    """What a run used, without loading the models (for --report-only)."""
    if args.fake:
        return {"drafter": "demo", "target": "demo", "scorer": "demo"}
    from langgraph_specsearch.presets.assets import DRAFTERS, SPECS

    drafter = SPECS[DRAFTERS[args.drafter]]
    engine = args.engine or resolve_engine(None, args.scorer, args.modes)
    return {
        "drafter": drafter.upstream.split("/")[-1],
        "target": SPECS["target"].upstream.split("/")[-1],
        "scorer": args.scorer,
        "engine": engine,
        # llama.cpp reads the shipped GGUF as is; transformers dequantizes it to bfloat16
        "weights": "GGUF as shipped" if engine == "llamacpp" else "bfloat16",
    }


def _report(
    args: argparse.Namespace,
    run_dir: Path,
    records: list[Record],
    models: dict[str, str],
    variants: Mapping[str, Variant],
) -> int:
    argv = [a for a in sys.argv[2:] if a != "--report-only"]
    command = "specsearch bench " + shlex.join(argv)
    summary = write_report(
        records, run_dir, models=models, command=command.strip(), plots=not args.no_plots
    )
    summary["settings"] = config_from_args(args, "specsearch").model_dump()
    summary["search"] = summary["settings"]["search"]
    summary["engine"] = models.get("engine", "demo")
    summary["sps_strategy"] = args.sps_strategy
    if variants:
        summary["variant_settings"] = {mode: v.overrides for mode, v in variants.items()}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(terminal_table(summary))
    print(f"results in {run_dir}", file=sys.stderr)
    return 0
