"""Run one benchmark script at two commits, problem by problem in alternating order.

A change to an engine is judged against the commit before it on the same machine at the same
time: each commit gets a git worktree, the script under test is copied from this checkout into
both (so both are measured the same way), and for each problem the two commits run back to back,
the first of the pair alternating (ABBA), so a slow spell on a shared machine falls on both. The
script must take ``--start`` and ``--problems`` and print one JSON object per line; every line is
kept with its commit, and the medians of the per-(problem, mode) ratios of ``seconds`` and of the
tokens prefilled are reported.

    python benchmarks/ab_commits.py 885f86a d62aa63 --script benchmarks/prompt_reads.py --problems 4

Writes benchmarks/results/ab_<a>_<b>.json unless ``--output`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from provenance import write_results

ROOT = Path(__file__).resolve().parent.parent


def worktree(commit: str) -> Path:
    """A detached worktree of ``commit`` under the system's temporary directory (reused)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ab-{commit}"
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
            check=True,
            capture_output=True,
        )
    return path


def run(tree: Path, script: Path, problem: int) -> list[dict[str, Any]]:
    """The script's JSON lines for one problem, with the worktree's package first on the path."""
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'benchmarks'}"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    command = [sys.executable, str(tree / "benchmarks" / script.name)]
    done = subprocess.run(
        [*command, "--start", str(problem), "--problems", "1"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the commit before the change")
    parser.add_argument("b", help="the commit with the change")
    parser.add_argument("--script", type=Path, required=True)
    parser.add_argument("--problems", type=int, default=4)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    trees = {commit: worktree(commit) for commit in (args.a, args.b)}
    for tree in trees.values():
        shutil.copy(args.script, tree / "benchmarks" / args.script.name)

    rows: list[dict[str, Any]] = []
    for problem in range(args.problems):
        order = [args.a, args.b] if problem % 2 == 0 else [args.b, args.a]
        for commit in order:
            for line in run(trees[commit], args.script, problem):
                rows.append({"commit": commit, **line})
                print(json.dumps(rows[-1]), flush=True)

    def paired(key: str) -> dict[str, dict[str, float]]:
        """Per mode: the spread over problems of a's value / b's value."""
        pairs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for row in rows:
            pairs.setdefault((row["problem_id"], str(row.get("mode"))), {})[row["commit"]] = row
        ratios: dict[str, list[float]] = {}
        for (_, mode), pair in pairs.items():
            if len(pair) == 2 and _value(pair[args.b], key):
                ratio = _value(pair[args.a], key) / _value(pair[args.b], key)
                ratios.setdefault(mode, []).append(ratio)
        return {mode: spread(values) for mode, values in ratios.items()}

    summary = {
        "command": " ".join(["python", *sys.argv]),
        "commits": {"a": args.a, "b": args.b},
        "a_over_b": {"seconds": paired("seconds"), "prefilled": paired("prefilled")},
        "rows": rows,
    }
    output = args.output or ROOT / "benchmarks" / "results" / f"ab_{args.a}_{args.b}.json"
    write_results(output, summary)


def _value(row: dict[str, Any], key: str) -> float:
    value = row[key]
    return float(sum(value.values()) if isinstance(value, dict) else value)


if __name__ == "__main__":
    main()
