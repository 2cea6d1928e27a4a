"""Why every engine run happens on its device's own thread: a llama.cpp decode step while only
that thread has called the engine, and while a second, still-living thread has too (as
LangGraph's worker threads had, before the device thread).

llama.cpp's CPU backend (like torch) parallelises with OpenMP, which keeps a team of worker
threads for each thread that calls in. Once two teams live on a machine with fewer cores than
their threads, libgomp stops spinning at its barriers and sleeps in the kernel instead, at every
one of the hundreds of barriers a decode step has. Two arms alternate over ``--rounds`` rounds;
in both, the timed calls go through the generator as a search's do (on the device's thread):
``one calling thread``, and ``a second calling thread alive``, where a pool thread first made one
1-token call directly on its own thread (as every engine call ran before the device thread) and
lives on until the arm ends (its team with it). Each number is the median of the decode steps
(``llama_decode`` calls of ``rows`` tokens) of one ``rows``-row drafter call of 24 new tokens.

    HF_HUB_OFFLINE=1 python benchmarks/engine_thread.py [--rounds 3]

Writes benchmarks/results/engine_thread.json.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from provenance import write_results

from langgraph_specsearch.bench.estimate import PATHS, _read, _timed_call
from langgraph_specsearch.generators import llamacpp
from langgraph_specsearch.presets.models import load_real_models

ROOT = Path(__file__).resolve().parent
ROWS = (3, 6, 12)
ARMS = ("one calling thread", "a second calling thread alive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "engine_thread.json")
    args = parser.parse_args()
    drafter, target, _ = load_real_models("likelihood-target", engine="llamacpp")
    lib = llamacpp._lib()
    raw_decode = lib.llama_decode
    steps: list[tuple[int, float]] = []

    def timed_decode(context: Any, batch: Any) -> Any:
        start = time.perf_counter()
        result = raw_decode(context, batch)
        steps.append((int(batch.n_tokens), time.perf_counter() - start))
        return result

    lib.llama_decode = timed_decode
    serial = itertools.count(1)

    def step_ms(rows: int) -> float:
        """The median decode step of one ``rows``-row drafter call over two fresh prompts."""
        n = next(serial)
        paths = [[*PATHS[i], f"Then {n} more rolls come out of the oven ({i})."] for i in (0, 1)]
        _read(drafter, PATHS[:2])
        steps.clear()
        _timed_call(drafter, paths, [rows - rows // 2, rows // 2], 24, time.perf_counter, 100)
        return 1000 * statistics.median(s for tokens, s in steps if tokens == rows)

    found: dict[str, dict[int, list[float]]] = {arm: {r: [] for r in ROWS} for arm in ARMS}
    for round_index in range(args.rounds):
        for arm in ARMS if round_index % 2 == 0 else ARMS[::-1]:
            with ThreadPoolExecutor(1) as pool:  # shut down (its team ended) with the arm
                if arm != ARMS[0]:
                    pool.submit(_direct_call, target).result()
                for rows in ROWS:
                    found[arm][rows].append(step_ms(rows))
    command = f"HF_HUB_OFFLINE=1 python benchmarks/engine_thread.py --rounds {args.rounds}"
    write_results(
        args.output,
        {
            "command": command,
            "decode_step_ms": {
                arm: {
                    f"{rows} rows": {
                        "rounds": [round(v, 1) for v in values],
                        "median": round(statistics.median(values), 1),
                    }
                    for rows, values in by_rows.items()
                }
                for arm, by_rows in found.items()
            },
        },
    )


def _direct_call(generator: Any) -> None:
    """A 1-token call run on this thread, not the device's: as engine calls ran before."""
    queue = generator.merger.queue
    queue.on_thread = lambda fn, *args: fn(*args)
    try:
        _timed_call(generator, [PATHS[0]], [1], 1, time.perf_counter, 1)
    finally:
        del queue.on_thread  # the method again


if __name__ == "__main__":
    main()
