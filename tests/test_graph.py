"""The algorithm, pinned with deterministic fake models and scorers."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
from fakes import AuthorScorer, ScriptedGenerator

from langgraph_specsearch import SpecSearch, SpecSearchConfig
from langgraph_specsearch.generators.base import GenerationSettings, Thought

QUESTION = "What is 99^2 + 99 + 1?"


def run(config: SpecSearchConfig, scorer: object, **models: object):
    drafter = models.get("drafter", ScriptedGenerator("small"))
    target = models.get("target", ScriptedGenerator("large"))
    return SpecSearch(drafter=drafter, target=target, scorer=scorer, config=config).invoke(QUESTION)


def test_ema_threshold_follows_the_formula(mixed_scorer: AuthorScorer) -> None:
    config = SpecSearchConfig(beam_width=2, width=3, n_drafts=4, theta=0.9, max_depth=5)
    history = run(config, mixed_scorer).threshold_history
    assert history[0]["threshold"] is None  # step 1: the target initialises beta
    assert history[0]["next_threshold"] == pytest.approx(
        sum(history[0]["target_scores"]) / len(history[0]["target_scores"])
    )
    for before, record in itertools.pairwise(history):
        assert record["threshold"] == pytest.approx(before["next_threshold"])
        if record["target_scores"]:
            mean = sum(record["target_scores"]) / len(record["target_scores"])
            expected = 0.9 * record["threshold"] + 0.1 * mean
        else:
            expected = record["threshold"]
        assert record["next_threshold"] == pytest.approx(expected)


def test_drafts_below_the_target_are_all_rejected() -> None:
    scorer = AuthorScorer({"small": 0.2, "large": 0.8})
    result = run(SpecSearchConfig(width=3, n_drafts=4, max_depth=5), scorer)
    assert result.finished and result.answer == "42"
    assert result.stats["drafted"] > 0
    assert result.stats["accepted"] == 0 and result.stats["acceptance_rate"] == 0.0
    children = [n for n in result.tree.nodes.values() if n["status"] in ("accepted", "corrected")]
    assert children and all(n["model"] == "target" for n in children)


def test_drafts_above_the_target_are_all_accepted_after_the_first_step() -> None:
    scorer = AuthorScorer({"small": 0.9, "large": 0.5})
    config = SpecSearchConfig(beam_width=2, width=3, n_drafts=4, max_depth=5)
    result = run(config, scorer)
    target_nodes = [n for n in result.tree.nodes.values() if n["model"] == "target"]
    assert {n["depth"] for n in target_nodes} == {1}  # only the initial thoughts
    assert result.stats["corrected"] == config.width
    assert all(n["model"] == "drafter" for n in result.path[1:])


def test_widths_are_respected_at_every_depth(mixed_scorer: AuthorScorer) -> None:
    config = SpecSearchConfig(beam_width=2, width=3, n_drafts=5, max_depth=6)
    result = run(config, mixed_scorer)
    nodes = result.tree.nodes
    expanded = {n["parent"] for n in nodes.values() if n["parent"] is not None}
    for parent in expanded:
        kids = result.tree.children(parent)
        drafts = [n for n in kids if n["model"] == "drafter"]
        assert len(drafts) in (0, config.drafts_per_node)
        assert len([n for n in kids if n["status"] in ("accepted", "corrected")]) == config.width
    selected = Counter(n["depth"] for n in nodes.values() if n["selected"] and n["depth"] > 0)
    assert all(count <= config.beam_width for count in selected.values())
    for node in nodes.values():
        if node["parent"] is not None:
            assert node["depth"] == nodes[node["parent"]]["depth"] + 1
            assert nodes[node["parent"]]["selected"]  # only selected paths are expanded


def test_terminal_thoughts_stop_their_beam(mixed_scorer: AuthorScorer) -> None:
    drafter, target = ScriptedGenerator("small", answer_depth=2), ScriptedGenerator("large", 2)
    result = run(SpecSearchConfig(max_depth=8), mixed_scorer, drafter=drafter, target=target)
    assert result.finished and result.stop_reason == "answer"
    assert len(result.steps) == 2 and result.answer == "42"
    assert max(n["depth"] for n in result.tree.nodes.values()) == 2
    assert result.path[-1]["terminal"]


def test_depth_budget_returns_the_best_partial_path(mixed_scorer: AuthorScorer) -> None:
    never = {
        "drafter": ScriptedGenerator("small", None),
        "target": ScriptedGenerator("large", None),
    }
    result = run(SpecSearchConfig(max_depth=30, width=2, n_drafts=2), mixed_scorer, **never)
    assert not result.finished and result.stop_reason == "max_depth"
    assert result.answer is None and len(result.steps) == 30


def test_token_budget(mixed_scorer: AuthorScorer) -> None:
    never = {
        "drafter": ScriptedGenerator("small", None),
        "target": ScriptedGenerator("large", None),
    }
    result = run(SpecSearchConfig(max_total_tokens=50, max_depth=20), mixed_scorer, **never)
    assert not result.finished and result.stop_reason == "max_tokens"
    assert sum(result.stats["tokens"].values()) >= 50


def test_target_only_never_calls_the_drafter(mixed_scorer: AuthorScorer) -> None:
    drafter, target = ScriptedGenerator("small"), ScriptedGenerator("large")
    result = run(SpecSearchConfig(mode="target_only"), mixed_scorer, drafter=drafter, target=target)
    assert drafter.calls == [] and target.calls
    assert result.stats["drafted"] == 0 and result.stats["tokens"]["drafter"] == 0
    assert result.finished


def test_drafter_only_never_calls_the_target(mixed_scorer: AuthorScorer) -> None:
    drafter, target = ScriptedGenerator("small"), ScriptedGenerator("large")
    config = SpecSearchConfig(mode="drafter_only", width=3)
    result = run(config, mixed_scorer, drafter=drafter, target=target)
    assert target.calls == [] and result.stats["corrected"] == 0
    assert all(count == [3, 3] or count == [3] for _, count in drafter.calls)
    assert result.finished


def test_all_frontier_drafts_go_in_one_call(mixed_scorer: AuthorScorer) -> None:
    drafter = ScriptedGenerator("small")
    run(SpecSearchConfig(beam_width=2, width=3, n_drafts=4), mixed_scorer, drafter=drafter)
    assert all(paths == len(counts) for paths, counts in drafter.calls)
    assert any(paths == 2 for paths, _ in drafter.calls)


def test_target_speculative_needs_a_capable_backend(mixed_scorer: AuthorScorer) -> None:
    with pytest.raises(ValueError, match="speculative"):
        run(SpecSearchConfig(mode="target_speculative"), mixed_scorer)


class SpeculativeTarget(ScriptedGenerator):
    """A target that claims token-level speculative decoding, recording how it was asked."""

    def supports_assistant(self, assistant: object) -> bool:
        return True

    def generate_speculative(self, question, paths, counts, settings, assistant, strategy="auto"):
        return self.generate(question, paths, counts, settings), "speculative"


def test_speculative_corrections_are_used_and_recorded(mixed_scorer: AuthorScorer) -> None:
    target = SpeculativeTarget("large")
    result = run(SpecSearchConfig(mode="target_speculative"), mixed_scorer, target=target)
    assert set(result.stats["correction_strategies"]) == {"speculative"}
    result = run(SpecSearchConfig(correction="batched"), mixed_scorer, target=target)
    assert set(result.stats["correction_strategies"]) == {"batched"}


def test_fixed_threshold_accepts_drafts_at_the_bar() -> None:
    scorer = AuthorScorer({"small": 0.7, "large": 0.9})
    result = run(SpecSearchConfig(threshold="fixed", fixed_threshold=0.7, width=3), scorer)
    assert result.stats["corrected"] == 0  # no warm-up step under a fixed bar
    result = run(SpecSearchConfig(threshold="fixed", fixed_threshold=0.71, width=3), scorer)
    assert result.stats["accepted"] == 0


def test_no_rejection_keeps_the_best_drafts(mixed_scorer: AuthorScorer) -> None:
    result = run(SpecSearchConfig(threshold="none", width=3, n_drafts=5), mixed_scorer)
    assert result.stats["corrected"] == 0
    assert result.stats["accepted"] == 3 * (result.stats["drafted"] // 5)


def test_same_seed_same_tree(mixed_scorer: AuthorScorer) -> None:
    config = SpecSearchConfig(seed=3)
    first, second = run(config, mixed_scorer), run(config, mixed_scorer)
    assert first.tree.nodes == second.tree.nodes and first.answer == second.answer
    other = run(SpecSearchConfig(seed=4), mixed_scorer)
    assert [n["text"] for n in other.path] != [n["text"] for n in first.path]


class BrokenScorer:
    def score(self, questions, step_lists):
        return [[0.5] * len(steps) for steps in step_lists][:-1]


def test_wrong_number_of_scores_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="score lists"):
        run(SpecSearchConfig(), BrokenScorer())


def test_nan_scores_are_rejected_never_accepted() -> None:
    def scorer(question: str, steps: list[str]) -> float:
        return math.nan if steps[-1].startswith("small") else 0.5

    result = run(SpecSearchConfig(threshold="none", width=3), scorer)
    assert result.stats["accepted"] == 0 and result.stats["invalid_scores"] > 0
    assert all(n["model"] == "target" for n in result.path)


class Scores:
    """A search-and-learn style PRM: every step of every path."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def score(self, questions, step_lists):
        self.seen.append(len(step_lists))
        return [[0.9 if s.startswith("small") else 0.5 for s in steps] for steps in step_lists]


def test_batched_prm_interface_is_called_once_per_stage() -> None:
    prm = Scores()
    result = run(SpecSearchConfig(width=3, n_drafts=4), prm)
    assert result.finished and max(prm.seen) > 1


class EmptyDrafter(ScriptedGenerator):
    def generate(self, question, paths, counts, settings: GenerationSettings):
        return [[Thought(text="", tokens=0, finish_reason="empty")] * c for c in counts]


def test_empty_drafts_are_never_scored_or_accepted(mixed_scorer: AuthorScorer) -> None:
    result = run(SpecSearchConfig(threshold="none"), mixed_scorer, drafter=EmptyDrafter("small"))
    drafts = [n for n in result.tree.nodes.values() if n["model"] == "drafter"]
    assert drafts and all(n["status"] == "rejected" and n["score"] is None for n in drafts)
    assert result.finished


class EchoGenerator:
    """Every thought at a depth reads the same (up to case and spacing): a collapsed sampler."""

    name = "echo"

    def generate(self, question, paths, counts, settings):  # type: ignore[no-untyped-def]
        def text(depth: int, index: int) -> str:
            step = f"Step  {depth}" if index % 2 else f"step {depth}"
            return step + (". The answer is 7" if depth >= 3 else "")

        return [
            [Thought(text=text(len(path) + 1, i), tokens=3) for i in range(count)]
            for path, count in zip(paths, counts, strict=True)
        ]


@pytest.mark.parametrize("filter_duplicates", [True, False])
def test_identical_paths_share_one_beam(filter_duplicates: bool) -> None:
    config = SpecSearchConfig(
        mode="target_only", beam_width=2, width=3, max_depth=5, filter_duplicates=filter_duplicates
    )
    result = run(config, lambda question, steps: 0.5, target=EchoGenerator())
    assert result.answer == "7"
    selected = Counter(n["depth"] for n in result.tree.nodes.values() if n["selected"])
    expected = 1 if filter_duplicates else 2
    assert [selected[d] for d in (1, 2, 3)] == [expected] * 3
