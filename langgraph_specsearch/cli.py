"""The ``specsearch`` command: solve a problem, render a saved search tree, run the benchmark."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from langgraph_specsearch.presets import (
    DEFAULT_SCORER,
    SCORERS,
    add_drafter_option,
    add_engine_option,
    add_search_options,
    config_from_args,
    load_real_models,
    resolve_engine,
)
from langgraph_specsearch.presets.assets import ModelAssetsError

EXAMPLE = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?"
)


# What rendering a tree reads of each node (see search/tree.py and search/render.py).
_NODE_KEYS = ("id", "parent", "depth", "text", "score", "model", "status", "selected", "answer")


class CliError(Exception):
    """A problem the user can fix (a bad file, question or setting): one line, exit code 2."""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_event(event: dict[str, Any]) -> None:
    stage, step, items = event["stage"], event["step"], event["items"]
    if stage == "draft" and items:
        _log(f"step {step}: drafter wrote {len(items)} thoughts")
    elif stage == "reject" and items:
        kept = sum(1 for item in items if item["accepted"])
        beta = event.get("threshold")
        bar = "n/a" if beta is None else f"{beta:.3f}"
        _log(f"step {step}: accepted {kept}/{len(items)} drafts (threshold {bar})")
    elif stage == "correct" and items:
        _log(f"step {step}: target wrote {len(items)} thoughts")
    elif stage == "select":
        done = sum(1 for item in items if item["terminal"])
        _log(f"step {step}: kept {len(items)} beams ({done} finished)")


def _settings(args: argparse.Namespace) -> Any:
    """The validated search settings, or a one-line CliError naming the bad ones."""
    try:
        return config_from_args(args, args.mode)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        raise CliError(f"invalid search settings: {problems}") from error


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from error


def solve(args: argparse.Namespace) -> int:
    from langgraph_specsearch.runnable import SearchResult, SpecSearch, checked_question

    config = _settings(args)
    try:  # before loading the models, which takes a while
        question = checked_question(args.question, config)
        engine = resolve_engine(args.engine, args.scorer, [config.mode])
    except (TypeError, ValueError) as error:
        raise CliError(str(error)) from error
    drafter, target, scorer = load_real_models(args.scorer, args.drafter, engine)
    reasoner = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config)
    _log(f"searching ({config.mode}, {_search_label(config)}, on {engine}) ...")
    final: dict[str, Any] = {}
    for mode, chunk in reasoner.graph.stream(
        {"question": question}, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            _print_event(chunk)
        else:
            final = chunk
    result = SearchResult.from_state(question, final)
    data = result.to_dict()
    data["scorer"] = args.scorer
    data["engine"] = engine
    if args.output:
        _write(args.output, json.dumps(data, indent=2))
    if args.json:
        data.pop("tree")
        print(json.dumps(data, indent=2))
        return 0
    print(f"Question: {question}\n")
    for index, node in enumerate(result.path, 1):
        print(f"[{index}] ({node['model']}, score {node['score']:.3f}) {node['text']}\n")
    print(f"Answer: {result.answer}  (finished={result.finished}, {result.stop_reason})")
    stats = result.stats
    print(
        f"drafted {stats['drafted']}, accepted {stats['accepted']}, rejected {stats['rejected']}, "
        f"corrected {stats['corrected']}, acceptance rate {stats['acceptance_rate']:.2f}; "
        f"tokens {stats['tokens']}; {stats['total_seconds']:.1f} s"
    )
    print("seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in stats["seconds"].items()))
    return 0


def _read_json(path: str) -> object:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"{path}: cannot read it ({error})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(f"{path}: not JSON ({error})") from error


def _is_node(node: object) -> bool:
    return isinstance(node, dict) and all(key in node for key in _NODE_KEYS)


def _load_tree(path: str) -> Any:
    """The saved search tree of ``path``, or a CliError saying which file is needed."""
    from langgraph_specsearch.search.tree import SearchTree

    data = _read_json(path)
    raw = data.get("tree", data) if isinstance(data, dict) else None
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    if isinstance(nodes, dict):
        nodes = list(nodes.values())
    if not isinstance(nodes, list) or not nodes or not all(map(_is_node, nodes)):
        summary = isinstance(data, dict) and "answer" in data and "tree" not in data
        why = " (`solve --json` prints a summary without it)" if summary else ""
        raise CliError(
            f"{path}: no search tree in this file{why}; save one with "
            "`specsearch solve --output RESULT.json`"
        )
    assert isinstance(raw, dict)
    return SearchTree(
        nodes={n["id"]: n for n in nodes},
        threshold_history=raw.get("threshold_history") or [],
        best=raw.get("best"),
    )


def tree(args: argparse.Namespace) -> int:
    if args.format == "png" and not args.output:
        raise CliError("--format png needs --output FILE.png")
    search_tree = _load_tree(args.result)
    try:
        if args.format == "png":
            search_tree.draw_png(args.output)
            _log(f"wrote {args.output}")
            return 0
        text = search_tree.to_mermaid()
    except (KeyError, TypeError, ValueError) as error:  # e.g. a parent that is not in the file
        raise CliError(f"{args.result}: cannot render its tree ({error!r})") from error
    if args.output:
        _write(args.output, text)
    else:
        print(text)
    return 0


def estimate(args: argparse.Namespace) -> int:
    """Measure the pair on this machine and a few problems; predict each mode and advise."""
    from langgraph_specsearch.bench.data import default_problems_path, load_jsonl
    from langgraph_specsearch.bench.estimate import estimate as run_estimate
    from langgraph_specsearch.bench.estimate import format_estimate

    if args.problems < 1:
        raise CliError("--problems must be at least 1")
    config = config_from_args(args, "specsearch")
    try:
        engine = resolve_engine(args.engine, args.scorer)
    except ValueError as error:
        raise CliError(str(error)) from error
    drafter, target, scorer = load_real_models(args.scorer, args.drafter, engine)
    questions = [p.question for p in load_jsonl(default_problems_path())[: args.problems]]
    _log(f"measuring the pair, then {len(questions)} problem(s) with SpecSearch ...")
    found = run_estimate(drafter, target, scorer, config, questions, engine=engine)
    print(json.dumps(found.to_dict(), indent=2) if args.json else format_estimate(found))
    return 0


def bench(args: argparse.Namespace) -> int:
    from langgraph_specsearch.bench.runner import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specsearch",
        description="Speculative Search: a small model drafts reasoning steps, a step scorer "
        "rejects the weak ones, and the large model rewrites only those.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    solve_parser = commands.add_parser(
        "solve",
        help="solve one problem with the default model pair",
        description="Solve QUESTION with the default pair (Qwen2.5-Coder 0.5B drafts, 1.5B "
        "target) on this machine, printing each step and which model wrote it.",
    )
    solve_parser.add_argument("question", nargs="?", default=EXAMPLE, help="the problem")
    solve_parser.add_argument(
        "--mode",
        default="specsearch",
        choices=["specsearch", "auto", "target_only", "target_speculative", "drafter_only"],
        help="auto: SpecSearch that drafts a step only when measured costs say it pays",
    )
    solve_parser.add_argument(
        "--scorer",
        default=DEFAULT_SCORER,
        choices=SCORERS,
        help="the step scorer [likelihood-target: the target's likelihood of the step, the best "
        "measured on the drafter's steps; prm-head: a value head on the drafter, nearly free]",
    )
    add_drafter_option(solve_parser)
    add_engine_option(solve_parser)
    solve_parser.add_argument(
        "--json", action="store_true", help="print one JSON object (a summary without the tree)"
    )
    solve_parser.add_argument(
        "--output", help="also save the full result, with its tree, as JSON (for `tree`)"
    )
    add_search_options(solve_parser)
    solve_parser.set_defaults(func=solve)

    tree_parser = commands.add_parser(
        "tree",
        help="render a saved result's search tree",
        description="Render the tree of a result saved by `specsearch solve --output`.",
    )
    tree_parser.add_argument(
        "result", help="a JSON file written by `solve --output` (`solve --json` has no tree)"
    )
    tree_parser.add_argument("--format", choices=["mermaid", "png"], default="mermaid")
    tree_parser.add_argument("--output", help="write here instead of standard output")
    tree_parser.set_defaults(func=tree)

    estimate_parser = commands.add_parser(
        "estimate",
        help="predict whether speculation pays on this pair and machine",
        description="Measure each model's calls at a few batch sizes and the scorer, run a few "
        "GSM8K problems with SpecSearch for the acceptance rate, then print the predicted time "
        "of each mode, the break-even acceptance, the cost ratio 2x would need, and advice.",
    )
    estimate_parser.add_argument("--problems", type=int, default=2, help="problems to run [2]")
    estimate_parser.add_argument("--scorer", default=DEFAULT_SCORER, choices=SCORERS)
    estimate_parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_drafter_option(estimate_parser)
    add_engine_option(estimate_parser)
    add_search_options(estimate_parser)
    estimate_parser.set_defaults(func=estimate)

    try:
        from langgraph_specsearch.bench.runner import add_bench_arguments
    except ImportError:  # the benchmark runner is optional
        return parser
    bench_parser = commands.add_parser(
        "bench",
        help="compare specsearch with the AR and SpS baselines",
        description="Run every mode on the same problems, interleaved, and summarise.",
    )
    add_bench_arguments(bench_parser)
    add_drafter_option(bench_parser)
    add_engine_option(bench_parser)
    add_search_options(bench_parser)
    bench_parser.set_defaults(func=bench)
    return parser


def _search_label(config: Any) -> str:
    """The search and its shape, as the progress line shows it."""
    drafts = f"N={config.width}, M={config.drafts_per_node}"
    if config.search == "mcts":
        return f"MCTS, {config.mcts_simulations} simulations per move, {drafts}"
    return f"beam search, B={config.beam_width}, {drafts}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; a user's mistake is one line on stderr and exit code 2, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as error:
        _log(f"specsearch: error: {error}")
        return 2
    except ModelAssetsError as error:
        _log(f"specsearch: error: {error}")
        return 1
    except KeyboardInterrupt:
        _log("specsearch: interrupted")
        return 130
    except BrokenPipeError:  # `specsearch tree result.json | head`: the reader had enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
