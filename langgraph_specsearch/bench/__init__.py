"""Benchmark foundation: data, answer checking, statistics, records and reports.

Pure Python and model-free, so the arithmetic behind every reported speedup can be unit tested.
"""

from langgraph_specsearch.bench.data import DataError, Problem, load_jsonl, seeded_subset
from langgraph_specsearch.bench.grading import answers_match, normalize_number
from langgraph_specsearch.bench.records import RecordWriter, done_pairs, read_records
from langgraph_specsearch.bench.report import build_summary, markdown_table, terminal_table
from langgraph_specsearch.bench.stats import (
    ideal_speedup,
    paired_ratios,
    ratio_summary,
    stage_share,
    wilson_interval,
)

__all__ = [
    "DataError",
    "Problem",
    "RecordWriter",
    "answers_match",
    "build_summary",
    "done_pairs",
    "ideal_speedup",
    "load_jsonl",
    "markdown_table",
    "normalize_number",
    "paired_ratios",
    "ratio_summary",
    "read_records",
    "seeded_subset",
    "stage_share",
    "terminal_table",
    "wilson_interval",
]
