"""What a batch costs on this CPU: reading a prompt (prefill) against writing one token (decode).

For each batch size, the target reads the same mid-solution prompt in every row and then writes
tokens one forward pass at a time. The medians over rounds show where a search step's time goes:
prefill grows with the rows, decode barely does (it is bound by reading the weights), so a step
costs about prefill(rows) + longest thought x decode step, whatever the number of rows.

    HF_HUB_OFFLINE=1 python benchmarks/prefill_decode.py [--rounds 3] [--batches 1,2,3,6,12]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "prefill_decode.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", default="1,2,3,6,12")
    parser.add_argument("--decode-steps", type=int, default=10)
    parser.add_argument("--role", default="target", choices=["target", "drafter"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from machine_report import machine_facts, write_report
    from prefix_sharing import PATHS, QUESTION  # the same mid-solution prompt

    from langgraph_specsearch.bench.stats import median
    from langgraph_specsearch.presets.assets import load_default_generator

    generator = load_default_generator(args.role)
    prompt = generator.render_prompt(QUESTION, PATHS[1], "\n\n")
    ids = generator.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    batches = [int(b) for b in args.batches.split(",") if b]
    load_before = os.getloadavg()
    samples: dict[int, dict[str, list[float]]] = {b: {"prefill": [], "decode": []} for b in batches}
    with torch.inference_mode():
        generator.model(input_ids=torch.tensor([ids]))  # warm-up
        for round_index in range(args.rounds):
            for rows in batches:
                batch = torch.tensor([ids] * rows)
                start = time.perf_counter()
                cache = generator.model(input_ids=batch, use_cache=True).past_key_values
                samples[rows]["prefill"].append(time.perf_counter() - start)
                token = torch.full((rows, 1), ids[-1])
                start = time.perf_counter()
                for _ in range(args.decode_steps):
                    cache = generator.model(
                        input_ids=token, past_key_values=cache, use_cache=True
                    ).past_key_values
                samples[rows]["decode"].append((time.perf_counter() - start) / args.decode_steps)
                print(
                    f"round {round_index + 1}/{args.rounds} rows {rows}: prefill "
                    f"{samples[rows]['prefill'][-1]:.2f} s, decode step "
                    f"{1000 * samples[rows]['decode'][-1]:.0f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    results = {
        str(rows): {
            "median_prefill_seconds": round(median(runs["prefill"]), 3),
            "median_decode_step_ms": round(1000 * median(runs["decode"]), 1),
            "prefill_in_decode_steps": round(median(runs["prefill"]) / median(runs["decode"]), 1),
            "runs": runs,
        }
        for rows, runs in samples.items()
    }
    report = {
        "what": f"prefill vs decode per batch size, {args.role}, bfloat16, median over rounds",
        "command": " ".join(["HF_HUB_OFFLINE=1", "python", *sys.argv]),
        "model": generator.name,
        "prompt_tokens": len(ids),
        **machine_facts(load_before),
        "results": results,
    }
    write_report(args.output, report)
    for rows, data in results.items():
        print(
            f"rows {rows:>3}: prefill {data['median_prefill_seconds']:6.2f} s, decode step "
            f"{data['median_decode_step_ms']:6.0f} ms ({data['prefill_in_decode_steps']} steps)"
        )


if __name__ == "__main__":
    main()
