"""Behaviour the mutation run (``benchmarks/mutation.py``) found unpinned in the core.

Each test pins one behaviour of ``search/`` or ``graph/`` that the other tests let change
unnoticed: boundaries of the budgets, the retry policy's schedule, the answer parser's corner
cases, the counters a user reads in ``result.stats``, and what the stage events and the paused
state show. Only public entry points and the documented pure functions are used.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
from fakes import AuthorScorer, ScriptedGenerator
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from langgraph_specsearch import SpecSearch, SpecSearchConfig, create_specsearch_graph
from langgraph_specsearch.generators.base import Thought
from langgraph_specsearch.graph import SearchDeps
from langgraph_specsearch.graph import retry as retry_module
from langgraph_specsearch.graph.events import emit
from langgraph_specsearch.graph.retry import call_with_retry
from langgraph_specsearch.graph.state import merge_nodes
from langgraph_specsearch.search.answers import extract_answer, extract_boxed
from langgraph_specsearch.search.beam import best_leaf, budget_reason, select_beams
from langgraph_specsearch.search.seeding import step_seed
from langgraph_specsearch.search.thoughts import ROOT_ID, mcts_label, new_node, root_node
from langgraph_specsearch.search.threshold import (
    aggregate,
    expansion_scores,
    judge_drafts,
    threshold_in_force,
    update_threshold,
)
from langgraph_specsearch.search.tree import SearchTree

QUESTION = "What is 99^2 + 99 + 1?"
NO_WAIT = RetryPolicy(max_attempts=2, initial_interval=0.0, jitter=False, retry_on=Exception)


def run(config: SpecSearchConfig, scorer: Any = None, **models: Any):
    drafter = models.get("drafter", ScriptedGenerator("small"))
    target = models.get("target", ScriptedGenerator("large"))
    scorer = scorer or AuthorScorer({"small": 0.55, "large": 0.6}, jitter=0.2)
    return SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config).invoke(QUESTION)


def thought(node_id: str, parent: str, score: float | None, **fields: Any) -> dict[str, Any]:
    """A scored thought for the pure functions' hand-made trees."""
    node = new_node(node_id, {"id": parent, "depth": 0}, [], f"step {node_id}", 1, "", "target",
                    "corrected")  # fmt: skip
    node.update(score=score, **fields)
    return node


# -- answers ---------------------------------------------------------------------------------


def test_braces_without_a_box_are_no_answer() -> None:
    """A step may end in the middle of a formula: a stray closing brace is not a boxed answer."""
    assert extract_answer("so we set x_{n+1}} and carry on") is None
    assert extract_boxed("the set {1, 2}} is closed") is None


def test_extract_boxed_says_none_when_there_is_no_box() -> None:
    r"""``extract_boxed`` returns None (not an empty string) without a box or with an open one."""
    assert extract_boxed("no box here") is None
    assert extract_boxed(r"almost \boxed{12") is None
    assert extract_boxed(r"\boxed{ 12 }") == "12"


def test_the_last_stated_answer_wins() -> None:
    """A thought that corrects itself states its final answer last."""
    assert extract_answer("#### 12\nNo, recount.\n#### 15") == "15"
    assert extract_answer("The answer is 12.\nWait: the answer is 15.") == "15"


def test_a_boxed_answer_survives_a_later_unclosed_box() -> None:
    r"""A thought cut in the middle of a second ``\boxed{`` still answers with its stated box."""
    assert extract_answer("The answer is \\boxed{5}.\nCheck: \\boxed{") == "5"


def test_gsm8k_answers_lose_their_dollar_signs() -> None:
    """GSM8K's "#### $15" is the number 15."""
    assert extract_answer("#### $15") == "15"


def test_an_empty_stated_answer_is_no_answer() -> None:
    """Markup with nothing inside does not make a thought terminal."""
    assert extract_answer("#### **") is None
    assert (
        new_node("n1", root_node(QUESTION), [], "#### **", 2, "", "drafter", "drafted")["terminal"]
        is False
    )


# -- seeds -----------------------------------------------------------------------------------


def test_step_seeds_fit_every_backend_and_never_repeat() -> None:
    """Seeds stay in [0, 2**31) for any run seed, and differ across steps and roles of a run."""
    for seed in (0, 1, 7, 2**31 - 1, 2**40 + 3, 123_456_789_012):
        seeds = [step_seed(seed, step, role) for step in range(1, 40)
                 for role in ("draft", "correct", "reject")]  # fmt: skip
        assert all(0 <= s < 2**31 for s in seeds)
        assert len(set(seeds)) == len(seeds)
    assert any(step_seed(seed, 1, "draft") >= 2**30 for seed in range(1000, 1100))


# -- beam search -----------------------------------------------------------------------------


def test_select_beams_filters_duplicate_paths_by_default() -> None:
    """Two children whose paths read the same (case and spacing aside) share one beam."""
    nodes = {ROOT_ID: root_node(QUESTION)}
    nodes["a"] = thought("a", ROOT_ID, 0.9, text="Add  the numbers")
    nodes["b"] = thought("b", ROOT_ID, 0.8, text="add the NUMBERS")
    nodes["c"] = thought("c", ROOT_ID, 0.7, text="multiply first")
    assert [n["id"] for n in select_beams(nodes, ["a", "b", "c"], 2)] == ["a", "c"]
    chosen = select_beams(nodes, ["a", "b", "c"], 2, filter_duplicates=False)
    assert [n["id"] for n in chosen] == ["a", "b"]


@pytest.mark.parametrize(
    ("tokens", "seconds", "reason"),
    [
        (99, 0.5, ""),
        (100, 0.5, "max_tokens"),
        (101, 0.5, "max_tokens"),
        (10, 1.9, ""),
        (10, 2.0, "time_budget"),
        (10, 2.5, "time_budget"),
    ],
)
def test_a_budget_is_spent_when_it_is_reached(tokens: int, seconds: float, reason: str) -> None:
    """``max_total_tokens`` and ``time_budget_s`` stop the search once used up, not after."""
    config = SpecSearchConfig(max_total_tokens=100, time_budget_s=2.0)
    assert budget_reason(tokens, seconds, config) == reason


def test_a_generous_time_budget_lets_the_search_finish() -> None:
    """A time budget the run stays under changes nothing: the search ends with its answer."""
    result = run(SpecSearchConfig(time_budget_s=3600.0, max_depth=6))
    assert result.finished and result.stop_reason == "answer" and result.answer == "42"


def test_best_leaf_falls_back_to_the_selected_partial_path() -> None:
    """When no beam is left (finished or open), the best selected thought is returned."""
    nodes = {ROOT_ID: root_node(QUESTION)}
    nodes["a"] = thought("a", ROOT_ID, 0.4, selected=True)
    nodes["b"] = thought("b", ROOT_ID, 0.9, selected=False)
    nodes["c"] = thought("c", ROOT_ID, 0.6, selected=True)
    assert best_leaf(nodes, [], []) == "c"
    assert best_leaf({ROOT_ID: root_node(QUESTION)}, [], []) is None


def test_unscored_leaves_rank_below_scored_ones() -> None:
    """A leaf without a score is never preferred to a scored one, even a negative score."""
    nodes = {ROOT_ID: root_node(QUESTION)}
    nodes["a"] = thought("a", ROOT_ID, None)
    nodes["b"] = thought("b", ROOT_ID, -5.0)
    assert best_leaf(nodes, [], ["a", "b"]) == "b"


# -- the threshold ---------------------------------------------------------------------------


def test_ucb_explores_one_standard_deviation_by_default() -> None:
    """``aggregate(..., "ucb")`` is mean + 1 * std unless ``ucb_c`` says otherwise."""
    scores = [0.2, 0.4, 0.9]
    std = math.sqrt(sum((s - 0.5) ** 2 for s in scores) / 3)
    assert aggregate(scores, "ucb") == pytest.approx(0.5 + std)


def test_an_unknown_aggregator_is_an_error() -> None:
    """``aggregate`` names an aggregator it does not know instead of guessing."""
    with pytest.raises(ValueError, match="median"):
        aggregate([0.5], "median")


@pytest.mark.parametrize("policy", ["none", "random"])
def test_policies_without_a_bar_record_none(policy: str) -> None:
    """Under ``threshold="none"``/``"random"`` no bar is in force, at any step of a run."""
    config = SpecSearchConfig(threshold=policy)
    assert threshold_in_force(0.5, config) is None
    result = run(SpecSearchConfig(threshold=policy, max_depth=4))
    assert [r["threshold"] for r in result.threshold_history] == [None] * len(
        result.threshold_history
    )


def test_random_acceptance_follows_its_probability() -> None:
    """A draft is kept when the seeded draw falls below ``random_accept_prob``: 0 keeps none
    (even on a draw of exactly 0), 1 keeps the best ``width``."""

    class Draw(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__(0)
            self.value = value

        def random(self) -> float:
            return self.value

    scores = [0.3, 0.9, 0.5, 0.1]
    never = SpecSearchConfig(threshold="random", random_accept_prob=0.0)
    assert judge_drafts(scores, 2, never, None, Draw(0.0)).accepted == [False] * 4
    always = SpecSearchConfig(threshold="random", random_accept_prob=1.0)
    keep = judge_drafts(scores, 2, always, None, random.Random(3)).accepted
    assert keep == [False, True, True, False]


def test_logprob_acceptance_needs_the_likelihoods() -> None:
    """The log-probability rule refuses to guess without both models' log-probs, keeps the
    drafts the target finds at least as likely, and drafter-only runs never need them."""
    config = SpecSearchConfig(acceptance="logprob")
    with pytest.raises(ValueError, match="log-probs"):
        judge_drafts([0.5, 0.6], 2, config, None, random.Random(0))
    pairs = [(-1.0, -2.0), (-3.0, -1.0)]  # (target, drafter): the first clears, not the second
    keep = judge_drafts([0.5, 0.6], 2, config, None, random.Random(0), pairs).accepted
    assert keep == [True, False]
    drafter_only = SpecSearchConfig(acceptance="logprob", mode="drafter_only")
    keep = judge_drafts([0.5, 0.6], 1, drafter_only, None, random.Random(0)).accepted
    assert keep == [False, True]


def test_only_accepted_drafts_join_the_target_scores() -> None:
    """With ``include_accepted_in_ema`` an expansion feeds the estimate its target thoughts and
    its accepted drafts; rejected drafts and unscored thoughts never count."""
    config = SpecSearchConfig(include_accepted_in_ema=True)
    children = [
        thought("t", ROOT_ID, 0.6),
        thought("a", ROOT_ID, 0.8, model="drafter", status="accepted"),
        thought("r", ROOT_ID, 0.1, model="drafter", status="rejected"),
        thought("u", ROOT_ID, None, model="drafter", status="accepted"),
    ]
    assert expansion_scores(children, config) == [0.6, 0.8]
    assert expansion_scores(children, SpecSearchConfig()) == [0.6]


@pytest.mark.parametrize("acceptance", ["half_split", "logprob"])
def test_acceptance_ablations_have_no_bar(acceptance: str) -> None:
    """The half-split and log-probability ablations accept without a score threshold."""
    assert threshold_in_force(0.5, SpecSearchConfig(acceptance=acceptance)) is None


def test_beam_search_records_name_no_node() -> None:
    """Search-wide records cover a whole step: they have no ``node`` key (the 0.1.0 format)."""
    record = update_threshold(None, 1, [0.4, 0.6], [], SpecSearchConfig())
    assert "node" not in record
    result = run(SpecSearchConfig(max_depth=4))
    assert all("node" not in r for r in result.threshold_history)


# -- the tree --------------------------------------------------------------------------------


def test_every_edge_joins_two_thoughts_of_the_tree() -> None:
    """The root has no parent: edges start and end at thoughts of the tree."""
    result = run(SpecSearchConfig(max_depth=4))
    tree = result.tree
    assert tree.nodes[ROOT_ID]["parent"] is None and tree.nodes[ROOT_ID]["answer"] is None
    assert all(parent in tree.nodes and child in tree.nodes for parent, child in tree.edges)
    assert len(tree.edges) == len(tree.nodes) - 1


def test_a_tree_without_a_best_node_says_so() -> None:
    """``SearchTree.best`` defaults to None, and its JSON form says null."""
    tree = SearchTree(nodes={ROOT_ID: root_node(QUESTION)})
    assert tree.best is None and tree.to_dict()["best"] is None and tree.path() == []


def test_mermaid_labels_show_author_fate_score_and_bar() -> None:
    """Each thought is one labelled box: author, fate, score, the bar a draft faced, and its text
    (shortened to ``max_label``, brackets and quotes made safe); one edge per parent link; one
    class per fate; the returned path marked."""
    result = run(SpecSearchConfig(max_depth=5))
    tree = result.tree
    text = tree.to_mermaid(max_label=12)
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    root["question"]' in lines
    bars = tree.bars()
    for node in tree.nodes.values():
        if node["parent"] is None:
            continue
        label = next(line for line in lines if line.startswith(f'    {node["id"]}["'))
        score = "n/a" if node["score"] is None else f"{node['score']:.2f}"
        assert label.startswith(f'    {node["id"]}["{node["model"]} {node["status"]} · {score}')
        beta = bars.get(node["id"])
        if node["model"] == "drafter" and beta is not None:
            assert f" / β {beta:.2f}<br/>" in label
        else:
            assert " / β " not in label
        shown = label.split("<br/>", 1)[1][:-2]
        assert len(shown) <= 12 and shown.endswith("…") == (len(node["text"]) > 12)
        assert f"    {node['parent']} --> {node['id']}" in lines
    for status in {n["status"] for n in tree.nodes.values()}:
        members = sorted(n["id"] for n in tree.nodes.values() if n["status"] == status)
        line = next(x for x in lines if x.startswith("    class ") and x.endswith(f" {status}"))
        assert sorted(line.split()[1].split(",")) == members
    chosen = next(x for x in lines if x.endswith(" chosen") and x.startswith("    class "))
    assert sorted(chosen.split()[1].split(",")) == sorted(n["id"] for n in result.path)
    odd = dict(tree.nodes[result.path[-1]["id"]], text='say "hi" [x]')
    safe = SearchTree({ROOT_ID: tree.nodes[ROOT_ID], odd["id"]: odd}).to_mermaid()
    assert "say 'hi' (x)" in safe


def test_mermaid_labels_are_48_characters_by_default() -> None:
    """Without ``max_label`` a long thought is cut to 47 characters and an ellipsis."""
    leaf = dict(thought("n1", ROOT_ID, 0.5), text="x" * 60)
    text = SearchTree({ROOT_ID: root_node(QUESTION), "n1": leaf}).to_mermaid()
    assert "<br/>" + "x" * 47 + "…" + '"]' in text
    exact = dict(leaf, text="y" * 48)
    text = SearchTree({ROOT_ID: root_node(QUESTION), "n1": exact}).to_mermaid()
    assert "<br/>" + "y" * 48 + '"]' in text, "a text of exactly max_label is shown whole"


def test_the_tree_round_trips_through_json() -> None:
    """``to_json`` is the JSON text of ``to_dict``."""
    tree = run(SpecSearchConfig(max_depth=3)).tree
    assert json.loads(tree.to_json()) == json.loads(json.dumps(tree.to_dict()))
    assert json.loads(tree.to_json(indent=2))["best"] == tree.best


def test_the_schemas_keep_optional_fields_optional() -> None:
    """Clients validating against the graph's schemas (LangGraph API, Studio) may send messages
    instead of a question, and accept beam search trees and 0.1.0 checkpoints: MCTS fields on
    thoughts and counters, and the ``node`` of a threshold record, are optional."""
    graph = create_specsearch_graph(
        ScriptedGenerator("small"), ScriptedGenerator("large"), AuthorScorer({})
    )
    assert "question" not in graph.get_input_jsonschema().get("required", []), "or messages"
    definitions = graph.get_output_jsonschema()["$defs"]
    assert {"visits", "value"}.isdisjoint(definitions["ThoughtNode"]["required"])
    assert "node" not in definitions["ThresholdRecord"]["required"]
    assert {"simulations", "moves"}.isdisjoint(definitions["RunStats"].get("required", []))


def test_bars_come_from_the_record_of_the_drafts_step() -> None:
    """``SearchTree.bars`` gives each draft the bar of its own step; targets get none."""
    result = run(SpecSearchConfig(max_depth=5))
    by_step = {r["step"]: r["threshold"] for r in result.threshold_history}
    bars = result.tree.bars()
    drafts = [n for n in result.tree.nodes.values() if n["model"] == "drafter"]
    assert drafts and set(bars) == {n["id"] for n in drafts}
    assert all(bars[n["id"]] == by_step[n["depth"]] for n in drafts)


def test_beam_search_thoughts_have_no_mcts_label() -> None:
    """A thought MCTS never visited has an empty label, not None."""
    assert mcts_label(root_node(QUESTION)) == ""


# -- the run's counters ----------------------------------------------------------------------


def test_stats_count_exactly_what_the_tree_holds() -> None:
    """Drafted, accepted, rejected, corrected, tokens per model, the rates and the correction
    strategies all agree with the returned tree."""
    result = run(SpecSearchConfig(beam_width=2, width=3, n_drafts=4, max_depth=6))
    nodes = list(result.tree.nodes.values())
    stats = result.stats
    fates = Counter(n["status"] for n in nodes)
    drafted = sum(n["model"] == "drafter" for n in nodes)
    assert stats["drafted"] == drafted > 0
    assert stats["accepted"] == fates["accepted"] > 0
    assert stats["rejected"] == fates["rejected"] > 0
    assert stats["corrected"] == fates["corrected"] > 0
    assert stats["acceptance_rate"] == pytest.approx(fates["accepted"] / drafted)
    children = fates["accepted"] + fates["corrected"]
    assert stats["draft_share"] == pytest.approx(fates["accepted"] / children)
    for role in ("drafter", "target"):
        spent = sum(n["tokens"] for n in nodes if n["model"] == role)
        assert stats["tokens"][role] == spent > 0
    assert sum(stats["tokens"].values()) == sum(n["tokens"] for n in nodes)
    target_steps = len({n["depth"] for n in nodes if n["model"] == "target"})
    assert stats["correction_strategies"] == {"batched": target_steps}
    assert stats["invalid_scores"] == 0 and stats["failures"] == []
    assert stats["steps"] == max(n["depth"] for n in nodes)


def test_a_run_without_drafts_has_zero_rates() -> None:
    """With nothing drafted, the acceptance rate and the draft share are 0, not undefined."""
    result = run(SpecSearchConfig(mode="target_only", max_depth=4))
    assert result.stats["drafted"] == 0 and result.stats["accepted"] == 0
    assert result.stats["acceptance_rate"] == 0.0 and result.stats["draft_share"] == 0.0
    assert result.stats["clear_rate"] == 0.0


class EmptyDrafter(ScriptedGenerator):
    """Writes only blank thoughts: nothing it drafts can be scored or accepted."""

    def generate(self, question, paths, counts, settings):
        return [[Thought(text="  ", tokens=1) for _ in range(c)] for c in counts]


def test_a_run_that_keeps_no_child_has_zero_rates() -> None:
    """When no draft is accepted and the target writes nothing (drafter-only, blank drafts), the
    search stops without candidates and both rates are 0."""
    result = run(SpecSearchConfig(mode="drafter_only", max_depth=3), drafter=EmptyDrafter("s"))
    assert result.stop_reason == "no_candidates" and result.stats["drafted"] > 0
    assert result.stats["accepted"] == result.stats["corrected"] == 0
    assert result.stats["acceptance_rate"] == 0.0 and result.stats["draft_share"] == 0.0


def test_a_graph_built_without_debug_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """The library writes no output of its own while it runs (``debug`` is off by default)."""
    run(SpecSearchConfig(max_depth=2))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_stage_seconds_are_positive_and_add_up() -> None:
    """Each stage's time is positive, they add up to the total, and the total is wall time."""
    started = time.perf_counter()
    result = run(SpecSearchConfig(max_depth=4))
    wall = time.perf_counter() - started
    seconds = result.stats["seconds"]
    assert all(seconds[stage] > 0 for stage in ("draft", "evaluate", "reject", "correct"))
    assert sum(seconds.values()) == pytest.approx(result.stats["total_seconds"])
    assert 0 < result.stats["total_seconds"] <= wall


class NanForTarget(AuthorScorer):
    """Scores the target's second-step thoughts NaN (a failing scorer), the rest by author."""

    def __call__(self, question: str, steps: list[str]) -> float:
        if len(steps) == 2 and steps[-1].startswith("large"):
            return math.nan
        return super().__call__(question, steps)


def test_invalid_scores_are_counted_once_each() -> None:
    """Every non-finite score is counted in ``invalid_scores``, and nothing else is."""
    scorer = NanForTarget({"small": 0.2, "large": 0.8})
    result = run(SpecSearchConfig(width=2, n_drafts=2, max_depth=4), scorer)
    unscored = [
        n for n in result.tree.nodes.values()
        if n["model"] == "target" and n["depth"] == 2 and n["score"] is None
    ]  # fmt: skip
    assert unscored and result.stats["invalid_scores"] == len(unscored)


def test_a_paused_run_shows_a_fresh_state() -> None:
    """Right after ``prepare`` the state is empty: zero counters, no answer, no threshold."""
    graph = create_specsearch_graph(
        ScriptedGenerator("small"),
        ScriptedGenerator("large"),
        AuthorScorer({"small": 0.5, "large": 0.6}),
        checkpointer=InMemorySaver(),
    )
    thread = {"configurable": {"thread_id": "fresh"}}
    graph.invoke({"question": QUESTION}, thread, interrupt_after=["prepare"])
    values = graph.get_state(thread).values
    assert values["answer"] is None and values["best"] is None and values["finished"] is False
    assert values["threshold"] is None and values["mcts"] is None
    stats = values["stats"]
    assert stats["drafted"] == stats["accepted"] == stats["rejected"] == stats["corrected"] == 0
    assert stats["cleared"] == 0
    assert stats["acceptance_rate"] == stats["clear_rate"] == stats["draft_share"] == 0.0
    assert stats["tokens"] == {"drafter": 0, "target": 0} and stats["tokens_estimated"] is False
    assert set(stats["seconds"].values()) == {0.0} and stats["total_seconds"] == 0.0
    assert stats["invalid_scores"] == 0 and stats["steps"] == 0 and stats["failures"] == []


@pytest.mark.parametrize("mode", ["specsearch", "auto"])
def test_nodes_never_change_the_state_they_were_given(mode: str) -> None:
    """Each streamed state keeps its values: a later step adds to copies of the counters."""
    graph = create_specsearch_graph(
        ScriptedGenerator("small"),
        ScriptedGenerator("large"),
        AuthorScorer({"small": 0.5, "large": 0.6}),
        config=SpecSearchConfig(max_depth=3, mode=mode),
    )
    states = list(graph.stream({"question": QUESTION}, stream_mode="values"))
    first = next(s for s in states if "stats" in s)
    assert first["stats"]["tokens"] == {"drafter": 0, "target": 0}
    assert set(first["stats"]["seconds"].values()) == {0.0}
    assert first["stats"]["speculation_steps"] == {}
    assert sum(states[-1]["stats"]["tokens"].values()) > 0
    if mode == "auto":
        assert sum(states[-1]["stats"]["speculation_steps"].values()) > 0


class AlwaysFailing(ScriptedGenerator):
    """A drafter whose endpoint is gone; records when each call came."""

    def __init__(self) -> None:
        super().__init__("small")
        self.times: list[float] = []

    def generate(self, question, paths, counts, settings):
        self.times.append(time.perf_counter())
        raise ConnectionError("drafter endpoint went away")


def test_a_failing_drafters_recorded_failures_stay_out_of_earlier_states() -> None:
    """The failure list of a streamed state is a copy: a later fallback does not appear in it."""
    graph = create_specsearch_graph(
        AlwaysFailing(),
        ScriptedGenerator("large"),
        AuthorScorer({"small": 0.5, "large": 0.6}),
        config=SpecSearchConfig(max_depth=3, threshold="fixed", fixed_threshold=0.1),
        drafter_retry=NO_WAIT,
    )
    states = list(graph.stream({"question": QUESTION}, stream_mode="values"))
    first = next(s for s in states if "stats" in s)
    assert first["stats"]["failures"] == []
    assert len(states[-1]["stats"]["failures"]) == 3


def test_the_default_drafter_retry_tries_twice_after_a_pause() -> None:
    """By default a failing drafter call is tried twice, 0.2 s or more apart, then the target
    writes the step."""
    drafter = AlwaysFailing()
    result = run(
        SpecSearchConfig(max_depth=1, threshold="fixed", fixed_threshold=0.1), drafter=drafter
    )
    assert len(drafter.times) == 2 and drafter.times[1] - drafter.times[0] >= 0.2
    assert [f["fallback"] for f in result.stats["failures"]] == ["target"]


# -- events ----------------------------------------------------------------------------------


def test_every_stage_event_names_its_step_and_its_thoughts() -> None:
    """All events of a step carry that step's number; draft and correct events list the new
    thoughts; reject events carry the bar of the step's record."""
    graph = create_specsearch_graph(
        ScriptedGenerator("small"),
        ScriptedGenerator("large"),
        AuthorScorer({"small": 0.55, "large": 0.6}, jitter=0.2),
        config=SpecSearchConfig(beam_width=2, max_depth=4),
    )
    events = []
    final: dict[str, Any] = {}
    for mode, chunk in graph.stream({"question": QUESTION}, stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(chunk)
        else:
            final = chunk
    nodes = final["nodes"]
    records = {r["step"]: r for r in final["threshold_history"]}
    steps = [e["step"] for e in events]
    assert steps == sorted(steps) and set(steps) == set(records)
    for event in events:
        step = event["step"]
        if event["stage"] in ("draft", "correct"):
            model = "drafter" if event["stage"] == "draft" else "target"
            expected = [n for n in nodes.values() if n["depth"] == step and n["model"] == model]
            assert [item["id"] for item in event["items"]] == [n["id"] for n in expected]
            assert all(item["text"] == nodes[item["id"]]["text"] for item in event["items"])
        if event["stage"] == "evaluate":
            assert all(nodes[item["id"]]["depth"] == step for item in event["items"])
        if event["stage"] == "reject":
            assert event["threshold"] == records[step]["threshold"]
            assert "thresholds" not in event
            fields = {"id", "accepted", "cleared", "score"}
            assert all(set(item) == fields for item in event["items"])
            assert all(item["cleared"] for item in event["items"] if item["accepted"])


def test_logprob_events_carry_both_models_log_probs() -> None:
    """Under the log-probability ablation only scored drafts are rated by both models, and the
    reject event shows each draft's two log-probabilities (None for a draft not rated)."""
    asked: list[str] = []

    def likelihood(value: float):
        def score(question: str, steps: list[str]) -> float:
            asked.append(steps[-1])
            return value

        return score

    class NanForFirstDrafts(AuthorScorer):
        def __call__(self, question: str, steps: list[str]) -> float:
            if steps[-1].startswith("small") and " #0 " in steps[-1]:
                return math.nan
            return super().__call__(question, steps)

    graph = create_specsearch_graph(
        ScriptedGenerator("small"),
        ScriptedGenerator("large"),
        NanForFirstDrafts({"small": 0.5, "large": 0.6}),
        config=SpecSearchConfig(acceptance="logprob", max_depth=3),
        draft_likelihoods=(likelihood(-2.0), likelihood(-1.0)),
    )
    events = list(graph.stream({"question": QUESTION}, stream_mode="custom"))
    items = [item for e in events if e["stage"] == "reject" for item in e["items"]]
    assert items and all(" #0 " not in text for text in asked)
    for item in items:
        if item["score"] is None:
            assert item["target_logprob"] is None and item["drafter_logprob"] is None
            assert not item["accepted"]
        else:
            assert (item["target_logprob"], item["drafter_logprob"]) == (-1.0, -2.0)


def test_logprob_steps_without_a_rated_draft_ask_no_model() -> None:
    """When no draft of a step can be rated, the log-probability rule asks neither model and
    rejects them all; the target writes the step."""
    asked: list[str] = []

    def likelihood(question: str, steps: list[str]) -> float:
        asked.append(steps[-1])
        return 0.0

    graph = create_specsearch_graph(
        EmptyDrafter("small"),
        ScriptedGenerator("large"),
        AuthorScorer({"small": 0.5, "large": 0.6}),
        config=SpecSearchConfig(acceptance="logprob", max_depth=3),
        draft_likelihoods=(likelihood, likelihood),
    )
    output = graph.invoke({"question": QUESTION})
    assert asked == [] and output["stats"]["accepted"] == 0 and output["answer"] == "42"


@pytest.mark.parametrize("beam_width", [1, 2])
def test_per_path_reject_events_show_each_nodes_bar(beam_width: int) -> None:
    """Under the per-path history a reject event maps every expanded node to its own bar, and
    its single ``threshold`` is that bar only when one node was expanded (None otherwise)."""
    graph = create_specsearch_graph(
        ScriptedGenerator("small", answer_depth=5),
        ScriptedGenerator("large", answer_depth=5),
        AuthorScorer({"small": 0.55, "large": 0.6}, jitter=0.2),
        config=SpecSearchConfig(threshold_scope="path", beam_width=beam_width, max_depth=5),
    )
    events = [
        e for e in graph.stream({"question": QUESTION}, stream_mode="custom")
        if e["stage"] == "reject"
    ]  # fmt: skip
    assert events
    for event in events:
        bars = list(event["thresholds"].values())
        assert event["threshold"] == (bars[0] if len(bars) == 1 else None)
    if beam_width == 1:
        assert any(e["threshold"] is not None for e in events)
    else:
        assert any(len(e["thresholds"]) == 2 for e in events)


def test_emit_needs_no_config() -> None:
    """Any graph node may ``emit`` a stage event without passing its config (no callbacks then);
    the event still reaches the custom stream."""

    class State(TypedDict):
        x: int

    def node(state: State) -> dict[str, int]:
        emit("draft", 1, [{"id": "n1"}])
        emit("select", 1, [], {})
        return {"x": 1}

    graph = StateGraph(State).add_node("node", node).add_edge(START, "node").compile()
    events = list(graph.stream({"x": 0}, stream_mode="custom"))
    assert [e["stage"] for e in events] == ["draft", "select"]


class SeesLLMCalls(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tags: list[list[str]] = []

    def on_chat_model_start(self, serialized, messages, *, tags=None, **kwargs) -> None:
        self.tags.append(list(tags or []))

    def on_llm_start(self, serialized, prompts, *, tags=None, **kwargs) -> None:
        self.tags.append(list(tags or []))


def test_langchain_models_get_the_runs_callbacks_and_tags() -> None:
    """A LangChain drafter and target are called with the run's callback handlers and tags."""
    drafter = FakeListChatModel(responses=["First 99^2 = 9801.", "The answer is 9901."] * 20)
    target = FakeListChatModel(responses=["Then 9801 + 99 + 1.", "The answer is 9901."] * 20)
    graph = create_specsearch_graph(
        drafter, target, lambda question, steps: 0.5, config=SpecSearchConfig(max_depth=3)
    )
    handler = SeesLLMCalls()
    graph.invoke({"question": QUESTION}, {"callbacks": [handler], "tags": ["mutation-run"]})
    assert handler.tags and all("mutation-run" in tags for tags in handler.tags)


# -- building the graph and the run's settings -----------------------------------------------


class SpeculativeTarget(ScriptedGenerator):
    """A target that claims token-level speculative decoding."""

    def supports_assistant(self, assistant: object) -> bool:
        return True

    def generate_speculative(self, question, paths, counts, settings, assistant, strategy="auto"):
        return self.generate(question, paths, counts, settings), "speculative"


def test_specsearch_writes_corrections_speculatively_when_it_can() -> None:
    """In SpecSearch mode a capable target writes its corrections with speculative decoding."""
    result = run(SpecSearchConfig(max_depth=4), target=SpeculativeTarget("large"))
    assert set(result.stats["correction_strategies"]) == {"speculative"}


def test_speculative_corrections_need_a_capable_target() -> None:
    """``correction="speculative"`` is refused when the graph is built with a plain target."""
    with pytest.raises(ValueError, match="speculative"):
        create_specsearch_graph(
            ScriptedGenerator("small"),
            ScriptedGenerator("large"),
            AuthorScorer({}),
            config=SpecSearchConfig(correction="speculative"),
        )


def test_logprob_acceptance_needs_draft_likelihoods_when_built() -> None:
    """The log-probability ablation is refused up front without ``draft_likelihoods``."""
    with pytest.raises(ValueError, match="draft_likelihoods"):
        create_specsearch_graph(
            ScriptedGenerator("small"),
            ScriptedGenerator("large"),
            AuthorScorer({}),
            config=SpecSearchConfig(acceptance="logprob"),
        )


def test_search_deps_check_the_logprob_ablation_too() -> None:
    """``SearchDeps`` built by hand (without the factory) refuses the log-probability ablation
    without ``draft_likelihoods`` just the same."""
    with pytest.raises(ValueError, match="draft_likelihoods"):
        SearchDeps(
            drafter=ScriptedGenerator("small"),
            target=ScriptedGenerator("large"),
            scorer=AuthorScorer({}),
            config=SpecSearchConfig(acceptance="logprob"),
        )


def test_auto_mode_ignores_calls_that_wrote_nothing() -> None:
    """``mode="auto"`` learns costs from calls that produced rows; an empty call is no sample."""
    deps = SearchDeps(
        drafter=ScriptedGenerator("small"),
        target=ScriptedGenerator("large"),
        scorer=AuthorScorer({}),
        config=SpecSearchConfig(mode="auto"),
    )
    deps.measure("target", 0, 1.5)
    assert deps.memory.snapshot()[0] == []
    deps.measure("target", 2, 1.5)
    assert len(deps.memory.snapshot()[0]) == 1


class NeverCalled(ScriptedGenerator):
    def generate(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was called before the run's settings were checked")


@pytest.mark.parametrize(
    ("override", "message"),
    [({"mode": "target_speculative"}, "speculative"), ({"search": "mcts"}, "per run")],
)
def test_per_run_settings_are_checked_before_any_model_call(
    override: dict[str, Any], message: str
) -> None:
    """A run's settings that the graph cannot honour fail in ``prepare``, before any model."""
    graph = create_specsearch_graph(
        NeverCalled("small"), NeverCalled("large"), AuthorScorer({}), checkpointer=InMemorySaver()
    )
    thread = {"configurable": {"thread_id": "refused", **override}}
    with pytest.raises(ValueError, match=message):
        graph.invoke({"question": QUESTION}, thread)
    planted = graph.get_state(thread).values.get("nodes", {})
    assert ROOT_ID not in planted, "refused before a tree was planted"


class ShortGroups(ScriptedGenerator):
    """Writes one thought fewer than asked for the last path, once it writes for two paths."""

    def generate(self, question, paths, counts, settings):
        groups = super().generate(question, paths, counts, settings)
        if len(groups) > 1:
            groups[-1] = groups[-1][:-1]
        return groups


def test_a_model_returning_too_few_thoughts_is_a_clear_error() -> None:
    """The right number of groups with one of them short is refused, naming what came back."""
    config = SpecSearchConfig(mode="target_only", beam_width=2, width=2)
    with pytest.raises(ValueError, match=r"returned \[2, 1\] thoughts per path"):
        run(config, target=ShortGroups("large"))


def test_merge_nodes_refuses_an_incomplete_new_thought() -> None:
    """The tree's reducer adds whole thoughts only; a patch to an unknown id is an error."""
    nodes = {ROOT_ID: root_node(QUESTION)}
    with pytest.raises(ValueError, match="lacks"):
        merge_nodes(nodes, {"n1": {"status": "accepted"}})
    merged = merge_nodes(nodes, {ROOT_ID: {"selected": False}})
    assert merged[ROOT_ID]["selected"] is False and nodes[ROOT_ID]["selected"] is True


# -- retries ---------------------------------------------------------------------------------


def test_retries_stop_after_max_attempts_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """``max_attempts`` counts every call; pauses grow by ``backoff_factor`` up to
    ``max_interval``; jitter stretches each pause by a factor in [1, 2)."""
    pauses: list[float] = []
    monkeypatch.setattr(retry_module.time, "sleep", pauses.append)
    calls = []

    def failing() -> None:
        calls.append(1)
        raise KeyError("flaky")

    policy = RetryPolicy(
        max_attempts=4, initial_interval=0.1, backoff_factor=3.0, max_interval=0.5,
        jitter=False, retry_on=Exception,
    )  # fmt: skip
    with pytest.raises(KeyError):
        call_with_retry(failing, policy)
    assert len(calls) == 4 and pauses == pytest.approx([0.1, 0.3, 0.5])

    monkeypatch.setattr(retry_module.random, "random", lambda: 0.5)
    pauses.clear()
    jittered = RetryPolicy(max_attempts=2, initial_interval=0.2, jitter=True, retry_on=Exception)
    with pytest.raises(KeyError):
        call_with_retry(failing, jittered)
    assert pauses == pytest.approx([0.3])


def test_retry_on_a_tuple_of_error_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """``retry_on`` may list several error types; other errors fail at once."""
    monkeypatch.setattr(retry_module.time, "sleep", lambda _: None)
    policy = RetryPolicy(max_attempts=3, retry_on=(KeyError, ConnectionError))
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("again")
        return "ok"

    assert call_with_retry(flaky, policy) == "ok" and len(attempts) == 3

    def broken() -> None:
        attempts.append(1)
        raise TypeError("a bug, not a hiccup")

    attempts.clear()
    with pytest.raises(TypeError):
        call_with_retry(broken, policy)
    assert len(attempts) == 1


def test_without_a_timeout_a_slow_call_is_waited_for() -> None:
    """No timeout means no limit: the call runs in the caller's thread until it returns."""
    callers = []

    def slow() -> str:
        callers.append(threading.current_thread())
        time.sleep(0.05)
        return "done"

    assert call_with_retry(slow, None) == "done"
    assert callers == [threading.current_thread()]


def test_a_step_whose_drafts_were_all_empty_is_written_by_the_target() -> None:
    """Empty drafts are never accepted: the target fills every slot of that step."""
    result = run(SpecSearchConfig(width=2, max_depth=3), drafter=EmptyDrafter("small"))
    drafts = [n for n in result.tree.nodes.values() if n["model"] == "drafter"]
    assert drafts and all(n["status"] == "rejected" and n["score"] is None for n in drafts)
    assert result.stats["rejected"] == len(drafts)
