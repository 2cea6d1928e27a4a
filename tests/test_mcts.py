"""MCTS with speculative expansion, pinned to numbers worked out by hand and to its invariants.

The pure algorithm (``search/mcts.py``) is checked on hand-made trees; the graph is checked on a
scripted two-level problem whose whole search was computed by hand (see
``test_a_small_search_matches_the_hand_computation``), and, on fake models whose scores depend on
the whole path, against invariants recomputed from the returned tree and the stage events.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from extras import require_extra
from fakes import AuthorScorer, ScriptedGenerator
from langgraph.checkpoint.memory import InMemorySaver
from test_search_correctness import PathGenerator, hash_scorer, path_of

import langgraph_specsearch.search.mcts as mcts
from langgraph_specsearch import SpecSearchConfig, create_specsearch_graph
from langgraph_specsearch.generators.base import GenerationSettings, Thought
from langgraph_specsearch.search.mcts import (
    answer_leaf,
    backup,
    choose_move,
    descend,
    exploration,
    puct_scores,
    select_child,
)
from langgraph_specsearch.search.thoughts import ROOT_ID

QUESTION = "How many ways are there to tile a 2x10 board with dominoes?"
Nodes = dict[str, dict[str, Any]]


def node(
    node_id: str,
    parent: str | None,
    score: float | None,
    *,
    depth: int = 1,
    status: str = "corrected",
    model: str = "target",
    terminal: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": node_id,
        "parent": parent,
        "depth": depth,
        "text": node_id,
        "score": score,
        "model": model,
        "status": status,
        "tokens": 1,
        "selected": parent is None,
        "terminal": terminal,
        "answer": node_id if terminal else None,
        "finish_reason": "delimiter",
        **extra,
    }


def hand_tree() -> Nodes:
    """The root was visited 4 times: twice into a (value 0.6), once into b (value 0.9); c is
    unvisited (score 0.7) and d is a rejected draft scored 0.99, which PUCT must never see."""
    return {
        ROOT_ID: node(
            ROOT_ID, None, None, depth=0, status="root", model="root", visits=4, value=0.675
        ),
        "a": node("a", ROOT_ID, 0.5, visits=2, value=0.6),
        "b": node("b", ROOT_ID, 0.9, visits=1, value=0.9),
        "c": node("c", ROOT_ID, 0.7),
        "d": node("d", ROOT_ID, 0.99, status="rejected", model="drafter"),
        "a1": node("a1", "a", 0.4, depth=2, visits=1, value=0.4),
        "a2": node("a2", "a", 0.8, depth=2, visits=1, value=0.8),
    }


# -- the pure algorithm, by hand ---------------------------------------------------------------


def test_puct_matches_the_formula_worked_by_hand() -> None:
    """c = log((4 + 19652 + 1) / 19652) + 1.25 = 1.2502544; bonus = c * (1/3) * sqrt(4)."""
    config = SpecSearchConfig(search="mcts")
    assert exploration(4, config) == pytest.approx(1.2502544, abs=1e-7)
    nodes = hand_tree()
    kids = [nodes["a"], nodes["b"], nodes["c"]]
    # a: 0.6 + 0.8335029 / 3; b: 0.9 + 0.8335029 / 2; c (unvisited, so its score): 0.7 + 0.8335029
    assert puct_scores(nodes[ROOT_ID], kids, config) == pytest.approx(
        [0.8778343, 1.3167515, 1.5335029], abs=1e-6
    )


def test_puct_picks_the_arg_max_and_never_a_rejected_draft() -> None:
    config = SpecSearchConfig(search="mcts")
    nodes = hand_tree()
    assert select_child(nodes, ROOT_ID, config)["id"] == "c"  # arg-max; the arg-min is "a"
    assert descend(nodes, ROOT_ID, config) == [ROOT_ID, "c"]  # c has no children: the leaf
    nodes["c"].update(visits=3, value=0.1)  # c now looks bad: b wins
    assert select_child(nodes, ROOT_ID, config)["id"] == "b"


def test_an_unvisited_parent_picks_the_best_scored_child() -> None:
    """With N_parent = 0 the exploration term vanishes: PUCT is greedy on the PRM score."""
    config = SpecSearchConfig(search="mcts")
    nodes = {ROOT_ID: node(ROOT_ID, None, None, depth=0, status="root", model="root")}
    nodes.update({i: node(i, ROOT_ID, s) for i, s in [("x", 0.3), ("y", 0.8), ("z", 0.8)]})
    assert select_child(nodes, ROOT_ID, config)["id"] == "y"  # ties: the earlier child


def test_siblings_that_read_the_same_count_once() -> None:
    nodes = hand_tree()
    nodes["c2"] = node("c2", ROOT_ID, 0.95, text=" C ")  # "c" again, up to case and spacing
    kept = [n["id"] for n in mcts.eligible(list(nodes.values())[1:])]
    assert kept == ["a", "b", "c", "a1", "a2"]  # the rejected d and the copy c2 are out
    assert select_child(nodes, ROOT_ID, SpecSearchConfig(search="mcts"))["id"] == "c"
    both = SpecSearchConfig(search="mcts", filter_duplicates=False)
    assert select_child(nodes, ROOT_ID, both)["id"] == "c2"  # 0.95 + a smaller bonus (P = 1/4)


def test_backup_adds_a_visit_and_keeps_the_mean_of_the_leaf_values() -> None:
    nodes = hand_tree()
    patches = backup(nodes, "a2", 0.2)
    assert set(patches) == {"a2", "a", ROOT_ID}
    assert patches["a2"] == {"visits": 2, "value": pytest.approx((0.8 + 0.2) / 2)}
    assert patches["a"] == {"visits": 3, "value": pytest.approx((0.6 * 2 + 0.2) / 3)}
    assert patches[ROOT_ID] == {"visits": 5, "value": pytest.approx((0.675 * 4 + 0.2) / 5)}
    fresh = backup(nodes, "c", 0.7)
    assert fresh["c"] == {"visits": 1, "value": 0.7}


def test_the_move_is_the_most_visited_child_or_the_highest_value() -> None:
    nodes = hand_tree()
    assert choose_move(nodes, ROOT_ID, "most_visited")["id"] == "a"  # 2 visits
    assert choose_move(nodes, ROOT_ID, "max_value")["id"] == "b"  # value 0.9, visited
    nodes["b"].update(visits=2, value=0.9)
    assert choose_move(nodes, ROOT_ID, "most_visited")["id"] == "b"  # tie on visits: value
    assert choose_move(nodes, "c", "most_visited") is None


def test_the_answer_rule() -> None:
    nodes = hand_tree()
    nodes["a1"].update(terminal=True, answer="1")
    nodes["a2"].update(terminal=True, answer="2")
    visited = SpecSearchConfig(search="mcts", mcts_answer="most_visited")
    # the moves led to a (most visited), then below it the most visited leaf: a2 (tie: value)
    assert answer_leaf(nodes, ROOT_ID, ["a1", "a2"], visited) == "a2"
    best = SpecSearchConfig(search="mcts", mcts_answer="best_score")
    nodes["a1"]["score"] = 0.95
    assert answer_leaf(nodes, ROOT_ID, ["a1", "a2"], best) == "a1"
    assert answer_leaf(nodes, ROOT_ID, [], best) == "a2"  # nothing finished: the moves' path


def test_q_and_leaf_values_read_the_right_field() -> None:
    """Q is the backed-up value only once visited, else the PRM score (-inf with neither); a
    simulation ending at a node backs up its score, else its value (None with neither)."""
    assert mcts.q_value({"visits": 0, "value": 0.2, "score": 0.8}) == 0.8
    assert mcts.q_value({"visits": 1, "value": 0.2, "score": 0.8}) == 0.2
    assert mcts.q_value({"visits": 1, "value": None, "score": 0.8}) == 0.8
    assert mcts.q_value({"visits": 0, "score": None}) == -math.inf
    assert mcts.leaf_value({"score": 0.3, "value": 0.9}) == 0.3
    assert mcts.leaf_value({"score": None, "value": 0.4}) == 0.4
    assert mcts.leaf_value({"score": None, "value": None}) is None
    assert mcts.q_score({"score": None}) == -math.inf and mcts.q_score({"score": 0.5}) == 0.5


def test_select_child_takes_a_later_arg_max_and_none_without_eligible_children() -> None:
    config = SpecSearchConfig(search="mcts")
    nodes = {ROOT_ID: node(ROOT_ID, None, None, depth=0, status="root", model="root")}
    nodes.update({"x": node("x", ROOT_ID, 0.2), "y": node("y", ROOT_ID, 0.9)})
    assert select_child(nodes, ROOT_ID, config)["id"] == "y"
    nodes["y"]["status"] = "rejected"
    nodes["x"]["score"] = None  # unscored: not eligible either
    assert select_child(nodes, ROOT_ID, config) is None
    assert descend(nodes, ROOT_ID, config) == [ROOT_ID]  # expanded, but a dead end


def test_backup_through_a_visited_node_that_has_no_value_yet() -> None:
    """A dead-end root counts visits without a value; the first value backed up is taken whole."""
    nodes = {
        ROOT_ID: node(
            ROOT_ID, None, None, depth=0, status="root", model="root", visits=2, value=None
        ),
        "x": node("x", ROOT_ID, 0.5),
    }
    patches = backup(nodes, "x", 0.5)
    assert patches[ROOT_ID] == {"visits": 3, "value": 0.5}
    assert backup(nodes, ROOT_ID, None)[ROOT_ID] == {"visits": 3, "value": None}


def test_moves_skip_copies_prefer_visited_children_and_break_ties_by_order() -> None:
    nodes = {ROOT_ID: node(ROOT_ID, None, None, depth=0, status="root", model="root", visits=6)}
    nodes["a"] = node("a", ROOT_ID, 0.4, text="same", visits=1, value=0.4)
    nodes["b"] = node("b", ROOT_ID, 0.4, text=" Same ", visits=3, value=0.4)  # a copy of a
    assert choose_move(nodes, ROOT_ID, "most_visited")["id"] == "a"  # copies count once
    assert choose_move(nodes, ROOT_ID, "most_visited", distinct=False)["id"] == "b"
    assert mcts.principal_path(nodes, ROOT_ID, "most_visited") == [ROOT_ID, "a"]
    nodes["b"]["text"] = "other"
    nodes["b"].update(visits=1)  # a and b now tie on visits and value: the earlier one
    assert choose_move(nodes, ROOT_ID, "most_visited")["id"] == "a"
    assert choose_move(nodes, ROOT_ID, "max_value")["id"] == "a"
    nodes["c"] = node("c", ROOT_ID, 0.95, text="unvisited")  # scored high, never visited
    assert choose_move(nodes, ROOT_ID, "max_value")["id"] == "a"  # only visited children
    for kid in ("a", "b"):
        nodes[kid].update(visits=0, value=None)
    assert choose_move(nodes, ROOT_ID, "max_value")["id"] == "c"  # none visited: the best scored


def test_the_answer_breaks_score_ties_by_order_and_ranks_unscored_last() -> None:
    best = SpecSearchConfig(search="mcts", mcts_answer="best_score")
    nodes = {ROOT_ID: node(ROOT_ID, None, None, depth=0, status="root", model="root")}
    assert answer_leaf(nodes, ROOT_ID, [], best) is None  # nothing below the root
    nodes["u"] = node("u", ROOT_ID, None, terminal=True, status="accepted")
    nodes["s"] = node("s", ROOT_ID, 0.3, terminal=True)
    nodes["t"] = node("t", ROOT_ID, 0.3, terminal=True)
    assert answer_leaf(nodes, ROOT_ID, ["u", "t", "s"], best) == "s"  # ties: the earlier node
    visited = SpecSearchConfig(search="mcts", mcts_answer="most_visited")
    nodes["m"] = node("m", ROOT_ID, 0.1, visits=5, value=0.1)  # the moves' path: no answer
    assert answer_leaf(nodes, ROOT_ID, ["u", "t", "s"], visited) == "s"  # a budget ran out
    assert answer_leaf(nodes, ROOT_ID, [], visited) == "m"  # nothing finished: that path


# -- a whole search, by hand -------------------------------------------------------------------

# Children per path and their scores. Every depth-2 thought states an answer.
SCRIPT: dict[tuple[str, ...], list[str]] = {
    (): ["A", "B"],
    ("A",): ["AA. The answer is 1", "AB. The answer is 2"],
    ("B",): ["BA. The answer is 8", "BB. The answer is 7"],
}
SCORES = {"A": 0.6, "B": 0.5, "AA": 0.9, "AB": 0.3, "BA": 0.8, "BB": 0.7}


class ScriptTarget:
    name = "script"

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, ...]]] = []

    def generate(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        counts: Sequence[int],
        settings: GenerationSettings,
    ) -> list[list[Thought]]:
        self.calls.append([tuple(p) for p in paths])
        return [
            [Thought(text, 3) for text in SCRIPT[tuple(path)][:count]]
            for path, count in zip(paths, counts, strict=True)
        ]


def script_scorer(question: str, steps: list[str]) -> float:
    return SCORES[steps[-1].split(".")[0]]


def by_text(nodes: Nodes) -> dict[str, dict[str, Any]]:
    return {n["text"].split(".")[0]: n for n in nodes.values() if n["parent"] is not None}


def test_a_small_search_matches_the_hand_computation() -> None:
    """Two children per node, 3 simulations per move, depth limit 2 (AR under MCTS).

    Move 1 from the root. Sim 1 expands the root (A 0.6, B 0.5) and, the root being unvisited,
    enters the best scored: A, backing up 0.6. Sim 2: c(1) = 1.2501018, bonus 0.6250509 * P 1/2:
    A 0.6 + 0.3125 = 0.9125 < B 0.5 + 0.6251 = 1.1251: B is expanded (BA 0.8, BB 0.7) and BA
    backs up 0.8. Sim 3: bonus 1.2501527 * 0.5 * sqrt 2 = 0.8840: A 1.0420 < B 0.8 + 0.4420 =
    1.2420; under B (1 visit): BA 0.8 + 0.3125 = 1.1125 < BB 0.7 + 0.6251 = 1.3251: BB, at the
    depth limit, backs up 0.7. Move: B (2 visits) over A (1).
    Move 2 from B. Sim 4: bonus 0.8840 at 2 visits: BA 1.2420 > BB 1.1420 (0.8 backed up).
    Sim 5: 3 visits, bonus 1.2502035 * 0.5 * sqrt 3 = 1.0827: BA 0.8 + 1.0827 / 3 = 1.1609 < BB
    0.7 + 1.0827 / 2 = 1.2414 (0.7). Sim 6: 4 visits, bonus 1.2502544: BA 0.8 + 0.4168 > BB
    0.7 + 0.4168 (0.8). Move: BA (3 visits) over BB (2); it states an answer: the search ends.
    """
    target = ScriptTarget()
    config = SpecSearchConfig(
        search="mcts", mode="target_only", width=2, beam_width=1, max_depth=2, mcts_simulations=3
    )
    graph = create_specsearch_graph(
        ScriptedGenerator("small"), target, script_scorer, config=config
    )
    out = graph.invoke({"question": QUESTION})
    nodes = by_text(out["nodes"])
    assert set(nodes) == {"A", "B", "BA", "BB"}  # A was never expanded
    stats = {name: (n.get("visits", 0), n.get("value")) for name, n in nodes.items()}
    assert stats == {
        "A": (1, pytest.approx(0.6)),
        "B": (5, pytest.approx((0.8 + 0.7 + 0.8 + 0.7 + 0.8) / 5)),
        "BA": (3, pytest.approx(0.8)),
        "BB": (2, pytest.approx(0.7)),
    }
    root = out["nodes"][ROOT_ID]
    assert root["visits"] == 6 and root["value"] == pytest.approx(4.4 / 6)
    assert target.calls == [[()], [("B",)]]  # two expansions, one path each
    assert out["stats"]["simulations"] == 6 and out["stats"]["moves"] == 2
    assert out["stats"]["steps"] == 2
    assert [n for n, v in nodes.items() if v["selected"]] == ["B", "BA"]  # the moves
    assert out["answer"] == "8" and out["finished"] and out["stop_reason"] == "answer"
    assert out["steps"] == ["B", "BA. The answer is 8"]


def test_paths_style_descends_to_an_answer_each_simulation() -> None:
    """The authors' loop: each path expands what it meets until a finished thought.

    Path 1: the root is expanded and, unvisited, enters its best scored child A, which is
    expanded too; A enters AA (0.9, at the depth limit), and 0.9 goes up the whole path.
    Path 2 (root 1 visit, bonus 0.6250509 * 1/2): A 0.9 + 0.3125 = 1.2125 > B 0.5 + 0.6251;
    under A (1 visit): AA 0.9 + 0.3125 = 1.2125 > AB 0.3 + 0.6251 = 0.9251: AA again (0.9).
    Path 3 (root 2 visits, bonus 0.8840): A 0.9 + 0.8840 / 3 = 1.1947 < B 0.5 + 0.8840 = 1.3840:
    B is expanded and BA (0.8) ends the path. No moves; the answer follows the most visited
    children from the root: A (2 visits), then AA.
    """
    target = ScriptTarget()
    config = SpecSearchConfig(
        search="mcts",
        mode="target_only",
        width=2,
        beam_width=1,
        max_depth=2,
        mcts_simulations=3,
        mcts_style="paths",
    )
    graph = create_specsearch_graph(
        ScriptedGenerator("small"), target, script_scorer, config=config
    )
    out = graph.invoke({"question": QUESTION})
    nodes = by_text(out["nodes"])
    assert target.calls == [[()], [("A",)], [("B",)]]
    visits = {name: n.get("visits", 0) for name, n in nodes.items()}
    assert visits == {"A": 2, "B": 1, "AA": 2, "AB": 0, "BA": 1, "BB": 0}
    assert nodes["A"]["value"] == pytest.approx(0.9) and nodes["B"]["value"] == pytest.approx(0.8)
    assert out["nodes"][ROOT_ID]["visits"] == 3
    assert out["stats"]["simulations"] == 3 and out["stats"].get("moves") == 0
    assert out["answer"] == "1" and out["steps"] == ["A", "AA. The answer is 1"]
    assert not any(n["selected"] for n in nodes.values())  # no moves


# -- invariants of real runs ---------------------------------------------------------------------


def run_with_events(config: SpecSearchConfig, **models: Any) -> tuple[dict[str, Any], list[dict]]:
    graph = create_specsearch_graph(
        models.get("drafter", PathGenerator("small", answer_from=3, answer_at=6)),
        models.get("target", PathGenerator("large", answer_from=3, answer_at=6)),
        models.get("scorer", hash_scorer),
        config=config,
    )
    events: list[dict] = []
    out: dict[str, Any] = {}
    for mode, chunk in graph.stream({"question": QUESTION}, stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(chunk)
        else:
            out = chunk
    return out, events


def children(nodes: Nodes, parent: str) -> list[dict[str, Any]]:
    return [
        n
        for n in nodes.values()
        if n["parent"] == parent
        and n["status"] in ("accepted", "corrected")
        and n["score"] is not None
    ]


def subtree_leaves(nodes: Nodes, node_id: str, leaves: Sequence[str]) -> list[int]:
    """Indices of the simulations whose leaf lies in ``node_id``'s subtree (itself included)."""
    found = []
    for index, leaf in enumerate(leaves):
        current: str | None = leaf
        while current is not None and current != node_id:
            current = nodes[current]["parent"]
        if current == node_id:
            found.append(index)
    return found


def puct_by_hand(parent_visits: int, choice: dict[str, Any], siblings: int) -> float:
    """PUCT written out again from the event's numbers, not with the package's function."""
    c = math.log((parent_visits + 19652 + 1) / 19652) + 1.25
    q = choice["value"] if choice["visits"] > 0 else choice["score"]
    return q + c * (1 / siblings) * math.sqrt(parent_visits) / (1 + choice["visits"])


def check_puct_choices(events: list[dict]) -> int:
    """Every selection step took the arg-max of PUCT (the first on ties); returns their count."""
    checked = 0
    for event in events:
        if event["stage"] != "select_leaf":
            continue
        items = event["items"]
        for parent, item in pairwise(items):
            choices = item["choices"]
            ranked = [puct_by_hand(parent["visits"], c, len(choices)) for c in choices]
            best = max(range(len(ranked)), key=lambda i: (ranked[i], -i))
            assert choices[best]["id"] == item["id"], (ranked, item["id"])
            checked += len(choices) > 1
    return checked


MCTS_CONFIGS = [
    SpecSearchConfig(search="mcts", width=3, n_drafts=4, max_depth=6, seed=1),
    SpecSearchConfig(search="mcts", width=3, n_drafts=4, max_depth=6, seed=2, mcts_simulations=5),
    SpecSearchConfig(search="mcts", width=3, n_drafts=4, max_depth=6, seed=3, mcts_style="paths"),
    SpecSearchConfig(
        search="mcts", width=2, n_drafts=3, max_depth=6, seed=4, mcts_answer="max_value"
    ),
]


@pytest.mark.parametrize("config", MCTS_CONFIGS, ids=lambda c: f"{c.mcts_style}-{c.seed}")
def test_visits_values_and_moves_obey_the_invariants(config: SpecSearchConfig) -> None:
    """Recomputed from the tree and the backup events of a run on path-dependent fakes:

    - the root's visits are the simulations, and every thought's visits are the simulations that
      ended at it plus its children's visits;
    - every value is the mean of the leaf values backed up from its subtree;
    - every selection took PUCT's arg-max; every move took the most visited (or best valued)
      child, and each move had exactly ``mcts_simulations`` simulations.
    """
    out, events = run_with_events(config)
    nodes: Nodes = out["nodes"]
    backups = [e for e in events if e["stage"] == "backup" and not e.get("deferred")]
    leaves = [e["leaf"] for e in backups]
    values = [e["leaf_value"] for e in backups]
    simulations = out["stats"]["simulations"]
    assert len(leaves) == simulations == nodes[ROOT_ID]["visits"] >= config.mcts_simulations
    ended = Counter(leaves)
    for node_id, item in nodes.items():
        below = sum(k.get("visits", 0) for k in children(nodes, node_id))
        assert item.get("visits", 0) == ended[node_id] + below, node_id
        through = subtree_leaves(nodes, node_id, leaves)
        assert item.get("visits", 0) == len(through), node_id
        if through:
            mean = sum(values[i] for i in through) / len(through)
            assert item["value"] == pytest.approx(mean), node_id
        else:
            assert item.get("value") is None
    assert check_puct_choices(events) >= 3, "some selections must have had a real choice"
    rule = "max_value" if config.mcts_answer == "max_value" else "most_visited"
    moves = [e for e in events if e["stage"] == "choose_move"]
    for move in moves:
        chosen = [i for i in move["items"] if i["chosen"]]
        assert len(chosen) == 1
        if rule == "most_visited":
            assert chosen[0]["visits"] == max(i["visits"] for i in move["items"])
        else:
            visited = [i for i in move["items"] if i["visits"]]
            assert chosen[0]["value"] == max(i["value"] for i in visited)
    if config.mcts_style == "moves":
        assert moves and out["stats"]["moves"] == len(moves)
        per_move = Counter()
        move_index = 0
        for event in events:
            if event["stage"] == "choose_move":
                move_index += 1
            elif event["stage"] == "backup" and not event.get("deferred"):
                per_move[move_index] += 1
        full = [per_move[i] for i in range(len(moves))]
        assert full == [config.mcts_simulations] * len(moves)
        committed = [n for n in nodes.values() if n["selected"] and n["parent"] is not None]
        assert len(committed) == len(moves)
        for move in committed:  # later simulations start below the move: it stays ahead
            siblings = children(nodes, move["parent"])
            if rule == "most_visited":
                assert move["visits"] == max(s.get("visits", 0) for s in siblings)
    else:
        assert not moves and simulations == config.mcts_simulations
    assert out["finished"] and out["answer"] is not None


def test_a_puct_that_picks_the_arg_min_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The invariant check above fails when selection is broken on purpose."""
    config = MCTS_CONFIGS[0]

    def arg_min(nodes, node_id, settings, children=None):
        index = children or mcts.children_of(nodes)
        kids = mcts.eligible(index.get(node_id, []))
        scores = mcts.puct_scores(nodes[node_id], kids, settings)
        return min(zip(scores, range(len(kids)), kids, strict=True))[2] if kids else None

    monkeypatch.setattr(mcts, "select_child", arg_min)
    _, events = run_with_events(config)
    with pytest.raises(AssertionError):
        check_puct_choices(events)


# -- every mode, every acceptance rule, under MCTS ----------------------------------------------


class SpeculativeTarget(ScriptedGenerator):
    def supports_assistant(self, assistant: object) -> bool:
        return True

    def generate_speculative(self, question, paths, counts, settings, assistant, strategy="auto"):
        return self.generate(question, paths, counts, settings), "speculative"


def likelihood(spread: int):
    """A fake log-probability in (-3, 0], fixed by the path, different per model."""

    def score(question: str, steps: list[str]) -> float:
        return -((hash_scorer(question, steps) * spread) % 1) * 3

    return score


MODES = [
    ("specsearch", {}),
    ("target_only", {}),
    ("target_speculative", {}),
    ("drafter_only", {}),
    ("specsearch", {"acceptance": "half_split"}),
    ("specsearch", {"acceptance": "logprob"}),
    ("specsearch", {"threshold": "random"}),
    ("specsearch", {"threshold": "fixed", "fixed_threshold": 0.5}),
    ("specsearch", {"threshold_scope": "path", "aggregator": "max",
                    "include_accepted_in_ema": True, "threshold_init_scale": 0.9}),
]  # fmt: skip


@pytest.mark.parametrize("style", ["moves", "paths"])
@pytest.mark.parametrize(("mode", "extra"), MODES, ids=lambda v: str(v))
def test_every_mode_finishes_under_mcts(mode: str, extra: dict[str, Any], style: str) -> None:
    drafter = ScriptedGenerator("small")
    target = (
        SpeculativeTarget("large") if mode == "target_speculative" else ScriptedGenerator("large")
    )
    config = SpecSearchConfig(
        search="mcts", mode=mode, width=4, n_drafts=5, max_depth=6, mcts_style=style, **extra
    )
    pair = (likelihood(7), likelihood(11)) if extra.get("acceptance") == "logprob" else None
    graph = create_specsearch_graph(
        drafter,
        target,
        AuthorScorer({"small": 0.55, "large": 0.6}, jitter=0.2),
        config=config,
        draft_likelihoods=pair,
    )
    out = graph.invoke({"question": QUESTION})
    nodes: Nodes = out["nodes"]
    assert out["finished"] and out["stop_reason"] == "answer" and out["answer"] == "42"
    assert nodes[ROOT_ID]["visits"] == out["stats"]["simulations"] > 0
    expanded = {n["parent"] for n in nodes.values() if n["parent"] is not None}
    if mode in ("target_only", "target_speculative"):
        assert drafter.calls == [] and out["stats"]["drafted"] == 0
    if mode == "target_speculative":
        assert set(out["stats"]["correction_strategies"]) == {"speculative"}
    if mode == "drafter_only":
        assert target.calls == [] and out["stats"]["corrected"] == 0
    for parent in expanded:  # N children per expansion, whatever wrote them
        kids = [n for n in nodes.values() if n["parent"] == parent]
        kept = [n for n in kids if n["status"] in ("accepted", "corrected")]
        assert len(kept) == config.width or mode == "drafter_only"
        drafts = [n for n in kids if n["model"] == "drafter"]
        if extra.get("acceptance") == "half_split":
            assert len(drafts) == config.width // 2
            assert all(n["status"] == "accepted" for n in drafts)
        if extra.get("acceptance") == "logprob":
            drafter_lp, target_lp = pair  # type: ignore[misc]
            for draft in drafts:
                path = path_of(nodes, draft["id"])
                if draft["status"] == "accepted":
                    assert target_lp(QUESTION, path) >= drafter_lp(QUESTION, path)
    if extra.get("acceptance") == "logprob":
        assert out["stats"]["accepted"] > 0 and out["stats"]["rejected"] > 0


def test_logprob_acceptance_without_likelihoods_is_refused_with_what_it_needs() -> None:
    with pytest.raises(ValueError, match=r"draft_likelihoods=\(drafter_scorer, target_scorer\)"):
        create_specsearch_graph(
            ScriptedGenerator("small"),
            ScriptedGenerator("large"),
            hash_scorer,
            config=SpecSearchConfig(acceptance="logprob"),
        )


def test_the_search_cannot_change_per_run() -> None:
    graph = create_specsearch_graph(
        ScriptedGenerator("small"), ScriptedGenerator("large"), hash_scorer
    )
    with pytest.raises(ValueError, match="search='mcts' cannot be set per run"):
        graph.invoke({"question": QUESTION}, context={"search": "mcts"})


def test_a_deep_mcts_never_hits_the_recursion_limit() -> None:
    config = SpecSearchConfig(search="mcts", width=2, n_drafts=2, max_depth=15, mcts_simulations=4)
    never = (
        PathGenerator("small", answer_from=None, answer_at=None),
        PathGenerator("large", answer_from=None, answer_at=None),
    )
    out = create_specsearch_graph(*never, hash_scorer, config=config).invoke({"question": QUESTION})
    assert out["stop_reason"] == "max_depth" and not out["finished"]
    assert len(out["steps"]) == 15 and out["answer"] is None


@pytest.mark.parametrize("style", ["moves", "paths"])
def test_a_token_budget_stops_mcts_mid_move(style: str) -> None:
    """In the paths style the budget can run out mid-path, before any backup."""
    config = SpecSearchConfig(
        search="mcts",
        mcts_style=style,
        width=2,
        n_drafts=2,
        max_depth=15,
        max_total_tokens=60,
    )
    never = (
        PathGenerator("small", answer_from=None, answer_at=None),
        PathGenerator("large", answer_from=None, answer_at=None),
    )
    out = create_specsearch_graph(*never, hash_scorer, config=config).invoke({"question": QUESTION})
    assert out["stop_reason"] == "max_tokens" and out["steps"] and out["answer"] is None


# -- checkpoints ---------------------------------------------------------------------------------


PAUSES = [
    ("moves", "select_leaf"),
    ("moves", "reject"),
    ("moves", "backup"),
    ("moves", "choose_move"),
    ("paths", "select_leaf"),
    ("paths", "correct"),
    ("paths", "backup"),
]


@pytest.mark.parametrize(("style", "pause"), PAUSES)
def test_resuming_mid_mcts_equals_an_uninterrupted_run(style: str, pause: str) -> None:
    """Paused before ``pause`` three times (each time by a new graph on the same checkpointer,
    as after a restart), then resumed to the end: the same tree, history and answer."""
    config = SpecSearchConfig(
        search="mcts", width=3, n_drafts=4, max_depth=6, seed=5, mcts_style=style,
        threshold_scope="path" if pause in ("reject", "correct") else "depth",
    )  # fmt: skip

    def build(checkpointer: InMemorySaver | None = None) -> Any:
        return create_specsearch_graph(
            PathGenerator("small", answer_from=3, answer_at=6),
            PathGenerator("large", answer_from=3, answer_at=6),
            hash_scorer,
            config=config,
            checkpointer=checkpointer,
        )

    whole = build().invoke({"question": QUESTION})
    saver = InMemorySaver()
    thread = {"configurable": {"thread_id": f"{style}-{pause}"}}
    build(saver).invoke({"question": QUESTION}, thread, interrupt_before=[pause])
    for _ in range(3):
        paused = build(saver).get_state(thread)
        assert paused.next == (pause,) and paused.values["answer"] is None
        build(saver).invoke(None, thread, interrupt_before=[pause])
    resumed = build(saver).invoke(None, thread)
    for key in ("nodes", "threshold_history", "best", "steps", "answer", "finished", "stop_reason"):
        assert resumed[key] == whole[key], key
    assert resumed["stats"]["simulations"] == whole["stats"]["simulations"]


# -- pictures and events ---------------------------------------------------------------------


def test_pictures_and_events_show_visits_and_values() -> None:
    from langgraph_specsearch.runnable import SearchResult

    config = SpecSearchConfig(search="mcts", width=2, n_drafts=3, max_depth=5, seed=3)
    out, events = run_with_events(config)
    tree = SearchResult.from_state(QUESTION, out).tree
    mermaid = tree.to_mermaid()
    root = out["nodes"][ROOT_ID]
    assert f"question<br/>N {root['visits']} · V {root['value']:.2f}" in mermaid
    visited = [n for n in out["nodes"].values() if n.get("visits") and n["parent"]]
    assert all(f"N {n['visits']} · V {n['value']:.2f}" in mermaid for n in visited)
    stages = {e["stage"] for e in events}
    assert {
        "select_leaf",
        "draft",
        "evaluate",
        "reject",
        "correct",
        "backup",
        "choose_move",
    } <= stages
    backups = [e for e in events if e["stage"] == "backup" and e["items"]]
    assert all({"visits", "value"} <= set(i) for e in backups for i in e["items"])
    records = out["threshold_history"]
    assert records and all("node" in r for r in records)  # one record per expansion
    require_extra("matplotlib", "bench")
    from langgraph_specsearch.search.render import draw_tree

    texts = [t.get_text() for t in draw_tree(tree).axes[0].texts]
    assert any(f"N {root['visits']} · V {root['value']:.2f}" in t for t in texts)
    drafted = [r for r in records if r["threshold"] is not None]
    assert drafted and any(f"β {drafted[0]['threshold']:.3f}" in t for t in texts)


def test_the_hand_search_s_events_carry_its_numbers() -> None:
    """The stage events of the search worked by hand in
    ``test_a_small_search_matches_the_hand_computation``: simulations and moves counted from 1,
    the step a selection works on (one below the deepest expansion so far), PUCT's pick and its
    value at every level, the values backed up, and each finished thought recorded once."""
    config = SpecSearchConfig(
        search="mcts", mode="target_only", width=2, beam_width=1, max_depth=2, mcts_simulations=3
    )
    out, events = run_with_events(
        config, drafter=ScriptedGenerator("small"), target=ScriptTarget(), scorer=script_scorer
    )
    selects = [e for e in events if e["stage"] == "select_leaf"]
    assert [(e["simulation"], e["move"]) for e in selects] == [
        (1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)
    ]  # fmt: skip
    assert [e["step"] for e in selects] == [1, 2, 3, 3, 3, 3]
    picked = [[i["puct"] for i in e["items"][1:]] for e in selects]
    assert picked == [
        [],
        [pytest.approx(1.1250509)],
        [pytest.approx(1.2419957), pytest.approx(1.3250509)],
        [pytest.approx(1.2419957)],
        [pytest.approx(1.2413540)],
        [pytest.approx(1.2167515)],
    ]
    for event in selects:
        first = event["items"][0]
        assert first["puct"] is None and first["choices"] == []
        for item in event["items"][1:]:
            assert item["puct"] == max(c["puct"] for c in item["choices"])
            assert item["id"] in {c["id"] for c in item["choices"]}
    backups = [e for e in events if e["stage"] == "backup"]
    assert [e["leaf_value"] for e in backups] == [0.6, 0.8, 0.7, 0.8, 0.7, 0.8]
    names = {n["id"]: n["text"].split(".")[0] for n in out["nodes"].values()}
    assert [names[i] for i in out["completed"]] == ["BA", "BB"]  # each once, when first reached


def test_paths_style_defers_the_backup_until_a_finished_thought() -> None:
    config = SpecSearchConfig(
        search="mcts",
        mcts_style="paths",
        mode="target_only",
        width=2,
        beam_width=1,
        max_depth=2,
        mcts_simulations=2,
    )
    out, events = run_with_events(
        config, drafter=ScriptedGenerator("small"), target=ScriptTarget(), scorer=script_scorer
    )
    deferred = [e for e in events if e["stage"] == "backup" and e.get("deferred")]
    assert deferred and all(
        (e["leaf"], e["leaf_value"], e["items"]) == (None, None, []) for e in deferred
    )
    assert out["stop_reason"] == "answer"


def test_a_finished_thought_is_recorded_when_first_reached() -> None:
    """Two simulations per move: BA is reached in simulations 2 and 4, BB only in 3."""
    config = SpecSearchConfig(
        search="mcts", mode="target_only", width=2, beam_width=1, max_depth=2, mcts_simulations=2
    )
    out, events = run_with_events(
        config, drafter=ScriptedGenerator("small"), target=ScriptTarget(), scorer=script_scorer
    )
    names = {n["id"]: n["text"].split(".")[0] for n in out["nodes"].values()}
    backups = [names[e["leaf"]] for e in events if e["stage"] == "backup"]
    assert backups == ["A", "BA", "BB", "BA"]
    assert [names[i] for i in out["completed"]] == ["BA", "BB"]


@pytest.mark.parametrize("style", ["moves", "paths"])
@pytest.mark.parametrize(
    ("script", "max_depth", "reason"),
    [
        ({(): ["A", "B"]}, 1, "max_depth"),
        ({(): ["", " "]}, 2, "no_candidates"),
        ({(): ["A", "B"], ("A",): ["", " "], ("B",): ["", " "]}, 3, "no_candidates"),  # dead ends
    ],
)
def test_a_search_without_an_answer_says_why(
    monkeypatch: pytest.MonkeyPatch, script: dict, max_depth: int, reason: str, style: str
) -> None:
    """The moves style stops at its move; the paths style leaves the reason to finalize."""
    monkeypatch.setitem(globals(), "SCRIPT", script)
    config = SpecSearchConfig(
        search="mcts",
        mcts_style=style,
        mode="target_only",
        width=2,
        max_depth=max_depth,
        mcts_simulations=2,
    )
    out, _ = run_with_events(
        config, drafter=ScriptedGenerator("small"), target=ScriptTarget(), scorer=script_scorer
    )
    assert (out["stop_reason"], out["answer"], out["finished"]) == (reason, None, False)


def test_mcts_keeps_the_acceptance_rate_of_its_drafts() -> None:
    out, _ = run_with_events(SpecSearchConfig(search="mcts", width=2, n_drafts=3, seed=3))
    stats = out["stats"]
    assert stats["drafted"] > 0 and 0 < stats["accepted"] < stats["drafted"]
    assert stats["acceptance_rate"] == stats["accepted"] / stats["drafted"]
    kept = stats["accepted"] + stats["corrected"]
    assert stats["draft_share"] == stats["accepted"] / kept


# -- the graph -----------------------------------------------------------------------------------

SNAPSHOTS = Path(__file__).parent / "snapshots"


def test_mcts_graph_shape_snapshot() -> None:
    """MCTS reuses the four generator nodes between its own select_leaf and backup; the beam
    graph is unchanged (tests/test_runnable.py compares it with snapshots/graph.mmd)."""
    scorer = AuthorScorer({"small": 0.5, "large": 0.6})
    models = ScriptedGenerator("small"), ScriptedGenerator("large")
    graph = create_specsearch_graph(*models, scorer, config=SpecSearchConfig(search="mcts"))
    mermaid = graph.get_graph().draw_mermaid()
    expected = (SNAPSHOTS / "graph_mcts.mmd").read_text()
    assert mermaid == expected, "MCTS graph shape changed: review and update the snapshot"
    beam = create_specsearch_graph(*models, scorer).get_graph().draw_mermaid()
    assert beam == (SNAPSHOTS / "graph.mmd").read_text()
    names = set(graph.get_graph().nodes)
    assert {
        "select_leaf",
        "draft",
        "evaluate",
        "reject",
        "correct",
        "backup",
        "choose_move",
    } <= names
    assert "select" not in names
