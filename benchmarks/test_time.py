"""Is the test suite slower than at another commit? Both suites, alternately, on one machine.

The house issue (14) asked for "the full test suite no slower than today". This script checks out
``--before`` and ``--after`` into temporary git worktrees, runs each one's whole suite
(``HF_HUB_OFFLINE=1 CI=true python -m pytest``, the package imported from its own worktree) in
the order before, after, after, before (ABBA, so a drift of the machine falls on both), and
compares the wall time of the whole suites and of the tests both commits have (matched by test
name: files moved in the house change). Per-test times come from pytest's JUnit XML.

    python benchmarks/test_time.py --before ad7fbc0 --after HEAD [--rounds 2]

Writes benchmarks/results/test_time.json. Run it alone: any other load lands on one suite only.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "test_time.json"


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def run_suite(tree: Path, xml: Path) -> float:
    """Wall seconds of one whole suite run in ``tree``; its per-test times go to ``xml``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "CI": "true"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-15:])
        raise SystemExit(f"the suite at {tree} failed:\n{tail}")
    return seconds


def per_test(xml: Path) -> dict[str, float]:
    """Seconds per test name (parametrised ids included), summed over same-named tests."""
    out: dict[str, float] = collections.defaultdict(float)
    for case in ET.parse(xml).getroot().iter("testcase"):
        out[case.get("name", "")] += float(case.get("time", 0))
    return dict(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the older commit")
    parser.add_argument("--after", default="HEAD", help="the newer commit [HEAD]")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds: 2 = ABBA")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    commits = {"before": git("rev-parse", args.before), "after": git("rev-parse", args.after)}
    walls: dict[str, list[float]] = {"before": [], "after": []}
    tests: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="test-time-") as scratch:
        trees = {}
        for which, commit in commits.items():
            # a sibling of the repository, so ../shared resolves as in a clone
            trees[which] = REPO.parent / f".test-time-{which}-{commit[:8]}"
            git("worktree", "add", "--force", "--detach", str(trees[which]), commit)
        try:
            for index in range(args.rounds):
                order = ["before", "after"] if index % 2 == 0 else ["after", "before"]
                for which in order:
                    xml = Path(scratch) / f"{which}-{index}.xml"
                    walls[which].append(run_suite(trees[which], xml))
                    tests[which].append(per_test(xml))
                    print(f"{which} round {index}: {walls[which][-1]:.1f} s", file=sys.stderr)
        finally:
            for tree in trees.values():
                git("worktree", "remove", "--force", str(tree))
    common = sorted(set.intersection(*(set(t) for t in tests["before"] + tests["after"])))

    def total(which: str, names: list[str]) -> list[float]:
        return [round(sum(run[n] for n in names), 1) for run in tests[which]]

    slow = [n for n in common if min(run[n] for run in tests["before"]) >= 0.3]
    ratios = [
        math.log(sum(r[n] for r in tests["after"]) / sum(r[n] for r in tests["before"]))
        for n in slow
    ]
    report = {
        "command": "python " + " ".join(sys.argv),
        "commits": commits,
        "order": "ABBA" if args.rounds >= 2 else "AB",
        "whole_suite_wall_seconds": {k: [round(v, 1) for v in w] for k, w in walls.items()},
        "tests": {k: len(v[0]) for k, v in tests.items()},
        "common_tests": len(common),
        "common_tests_seconds": {k: total(k, common) for k in walls},
        "new_tests_seconds": [
            round(sum(v for n, v in run.items() if n not in set(common)), 1)
            for run in tests["after"]
        ],
        "median_per_test_ratio_after_over_before": round(math.exp(statistics.median(ratios)), 3)
        if ratios
        else None,
        "per_test_ratio_over": f"{len(slow)} common tests of at least 0.3 s",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
