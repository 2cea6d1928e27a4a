"""The ``specsearch`` command: solve a problem, render a saved search tree, run the benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph_specsearch.presets import (
    DEFAULT_SCORER,
    SCORERS,
    add_drafter_option,
    add_search_options,
    config_from_args,
    load_real_models,
)

EXAMPLE = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?"
)


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


def solve(args: argparse.Namespace) -> int:
    from langgraph_specsearch.runnable import SearchResult, SpecSearch

    config = config_from_args(args, args.mode)
    drafter, target, scorer = load_real_models(args.scorer, args.drafter)
    reasoner = SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config)
    _log(
        f"searching ({config.mode}, B={config.beam_width}, N={config.width}, "
        f"M={config.drafts_per_node}) ..."
    )
    final: dict[str, Any] = {}
    for mode, chunk in reasoner.graph.stream(
        {"question": args.question}, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            _print_event(chunk)
        else:
            final = chunk
    result = SearchResult.from_state(args.question, final)
    data = result.to_dict()
    data["scorer"] = args.scorer
    if args.output:
        Path(args.output).write_text(json.dumps(data, indent=2))
    if args.json:
        data.pop("tree")
        print(json.dumps(data, indent=2))
        return 0
    print(f"Question: {args.question}\n")
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


def tree(args: argparse.Namespace) -> int:
    from langgraph_specsearch.search.tree import SearchTree

    data = json.loads(Path(args.result).read_text())
    raw = data.get("tree", data)
    nodes = raw["nodes"]
    search_tree = SearchTree(
        nodes={n["id"]: n for n in nodes} if isinstance(nodes, list) else nodes,
        threshold_history=raw.get("threshold_history", []),
        best=raw.get("best"),
    )
    if args.format == "mermaid":
        text = search_tree.to_mermaid()
        if args.output:
            Path(args.output).write_text(text)
        else:
            print(text)
        return 0
    if not args.output:
        raise SystemExit("--format png needs --output FILE.png")
    search_tree.draw_png(args.output)
    _log(f"wrote {args.output}")
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
        choices=["specsearch", "target_only", "target_speculative", "drafter_only"],
    )
    solve_parser.add_argument(
        "--scorer",
        default=DEFAULT_SCORER,
        choices=SCORERS,
        help="the step scorer [likelihood-target: the target's likelihood of the step, the best "
        "measured on the drafter's steps; prm-head: a value head on the drafter, nearly free]",
    )
    add_drafter_option(solve_parser)
    solve_parser.add_argument("--json", action="store_true", help="print one JSON object")
    solve_parser.add_argument("--output", help="also save the full result (with tree) as JSON")
    add_search_options(solve_parser)
    solve_parser.set_defaults(func=solve)

    tree_parser = commands.add_parser(
        "tree",
        help="render a saved result's search tree",
        description="Render the tree of a result saved by `specsearch solve --output`.",
    )
    tree_parser.add_argument("result", help="a JSON file written by `solve --output`")
    tree_parser.add_argument("--format", choices=["mermaid", "png"], default="mermaid")
    tree_parser.add_argument("--output", help="write here instead of standard output")
    tree_parser.set_defaults(func=tree)

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
    add_search_options(bench_parser)
    bench_parser.set_defaults(func=bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
