"""MCTS's own nodes: ``select_leaf``, ``backup``, ``choose_move`` and its ``finalize``.

The algorithm is :mod:`langgraph_specsearch.search.mcts`; these nodes apply it to the state and
route the graph. Expansion is not here: ``select_leaf`` sets the frontier to the one leaf to
expand and hands it to the same draft, evaluate, reject and correct nodes beam search uses, so
every mode (AR, SpS, drafter-only, SpecSearch and the ablations) runs under MCTS unchanged.

One simulation: ``select_leaf`` -> (draft -> evaluate -> reject -> correct when the leaf needs
children) -> ``backup``; after ``mcts_simulations`` of them, ``choose_move`` commits to a child
(``mcts_style="moves"``), or the search ends (``"paths"``). Every node returns deltas: visit and
value patches for the thoughts on the path, and the small ``mcts`` record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from langgraph_specsearch.graph.deps import SearchDeps
from langgraph_specsearch.graph.events import emit
from langgraph_specsearch.graph.state import MctsState, SpecSearchState, new_mcts_state
from langgraph_specsearch.graph.stats import copy_stats, refresh_rates, timed
from langgraph_specsearch.search.beam import budget_reason, stop_reason
from langgraph_specsearch.search.mcts import (
    answer_leaf,
    backup,
    choose_move,
    descend,
    eligible,
    leaf_value,
    move_rule,
    needs_expansion,
    puct_scores,
    select_child,
    visits,
)
from langgraph_specsearch.search.thoughts import ThoughtNode
from langgraph_specsearch.search.threshold import children_of
from langgraph_specsearch.search.tree import path_steps

SelectLeafNode = Callable[[SpecSearchState, RunnableConfig], Command[Literal["draft", "backup"]]]
BackupNode = Callable[
    [SpecSearchState, RunnableConfig],
    Command[Literal["select_leaf", "choose_move", "finalize"]],
]
MoveNode = Callable[[SpecSearchState, RunnableConfig], Command[Literal["select_leaf", "finalize"]]]


def make_select_leaf(outer: SearchDeps) -> SelectLeafNode:
    """A node that walks down by PUCT to the leaf this simulation expands (or backs up)."""

    def select_leaf(
        state: SpecSearchState, config: RunnableConfig
    ) -> Command[Literal["draft", "backup"]]:
        deps = outer.for_state(state)
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        search = _search(state)
        with timed(stats, "select"):
            index = children_of(nodes)
            path = descend(nodes, search["cursor"] or search["root"], deps.config, index)
            leaf = path[-1]
            expand = needs_expansion(nodes, leaf, deps.config, index)
            items = _path_items(nodes, path, index, deps)
        emit(
            "select_leaf",
            state["depth"] + 1,
            items,
            config,
            leaf=leaf,
            expand=expand,
            simulation=search["simulations"] + 1,
            move=search["moves"] + 1,
        )
        update: dict[str, Any] = {
            "mcts": {**search, "leaf": leaf, "expanding": expand},
            "stats": stats,
        }
        if expand:
            update["frontier"] = [leaf]
            return Command(update=update, goto="draft")
        return Command(update=update, goto="backup")

    return select_leaf


def make_backup(outer: SearchDeps) -> BackupNode:
    """A node that ends a simulation: its leaf's PRM score goes up the path to the root."""

    def backup_node(
        state: SpecSearchState, config: RunnableConfig
    ) -> Command[Literal["select_leaf", "choose_move", "finalize"]]:
        deps = outer.for_state(state)
        settings = deps.config
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        search = _search(state)
        step = state["depth"] + (1 if search["expanding"] else 0)
        stats["steps"] = step
        refresh_rates(stats)
        leaf = search["leaf"] or search["root"]
        tokens = sum(stats["tokens"].values())
        with timed(stats, "select"):
            index = children_of(nodes)
            child = select_child(nodes, leaf, settings, index) if search["expanding"] else None
            go_on = (
                settings.mcts_style == "paths"
                and child is not None
                and needs_expansion(nodes, child["id"], settings, index)
            )
            end = child["id"] if child is not None and not go_on else leaf
            value = leaf_value(nodes[end])
            patches = {} if go_on else backup(nodes, end, value)
        budget = budget_reason(tokens, stats["total_seconds"], settings)
        if go_on:
            # the authors' paths go on down from the node just expanded; the backup waits for
            # the finished thought at the end of the path
            emit("backup", step, [], config, leaf=None, leaf_value=None, deferred=True)
            update = {"depth": step, "stats": stats, "mcts": {**search, "cursor": leaf}}
            if budget:
                return Command(update={**update, "stop_reason": budget}, goto="finalize")
            return Command(update=update, goto="select_leaf")
        finished = [end] if nodes[end]["terminal"] and visits(nodes[end]) == 0 else []
        done = search["simulation"] + 1
        search = {
            **search,
            "cursor": None,
            "simulation": done,
            "simulations": search["simulations"] + 1,
        }
        stats["simulations"] = search["simulations"]
        stats["moves"] = search["moves"]
        items = [{"id": i, **patch} for i, patch in reversed(patches.items())]
        emit("backup", step, items, config, leaf=end, leaf_value=value)
        update = {
            "nodes": patches,
            "depth": step,
            "stats": stats,
            "completed": finished,
            "mcts": search,
        }
        if budget:
            return Command(update={**update, "stop_reason": budget}, goto="finalize")
        if done < settings.mcts_simulations:
            return Command(update=update, goto="select_leaf")
        if settings.mcts_style == "paths":
            return Command(update=update, goto="finalize")
        return Command(update=update, goto="choose_move")

    return backup_node


def make_choose_move(outer: SearchDeps) -> MoveNode:
    """A node that commits the move's root to one child, which roots the next move."""

    def choose(
        state: SpecSearchState, config: RunnableConfig
    ) -> Command[Literal["select_leaf", "finalize"]]:
        deps = outer.for_state(state)
        settings = deps.config
        stats, nodes = copy_stats(state["stats"]), state["nodes"]
        search = _search(state)
        with timed(stats, "select"):
            index = children_of(nodes)
            root = search["root"]
            distinct = settings.filter_duplicates
            chosen = choose_move(nodes, root, move_rule(settings), index, distinct)
            items = [
                {**_item(kid), "chosen": chosen is not None and kid["id"] == chosen["id"]}
                for kid in eligible(index.get(root, []), distinct)
            ]
        tokens = sum(stats["tokens"].values())
        update: dict[str, Any] = {"stats": stats}
        if chosen is None:
            reason = "answer" if state["completed"] else "no_candidates"
        else:
            terminal = bool(chosen["terminal"])
            reason = stop_reason(
                [] if terminal else [chosen["id"]],
                [chosen["id"]] if terminal else [],
                chosen["depth"],
                tokens,
                stats["total_seconds"],
                settings,
            )
            search = {**search, "root": chosen["id"], "simulation": 0, "moves": search["moves"] + 1}
            stats["moves"] = search["moves"]
            update["nodes"] = {chosen["id"]: {"selected": True}}
            update["mcts"] = search
        emit("choose_move", state["depth"], items, config, root=root, move=search["moves"])
        if reason:
            return Command(update={**update, "stop_reason": reason}, goto="finalize")
        return Command(update=update, goto="select_leaf")

    return choose


def make_finalize(outer: SearchDeps) -> Callable[[SpecSearchState], dict[str, Any]]:
    """A node that returns the path ``mcts_answer`` picks (see :func:`answer_leaf`)."""

    def finalize(state: SpecSearchState) -> dict[str, Any]:
        deps = outer.for_state(state)
        nodes = state["nodes"]
        search = _search(state)
        best = answer_leaf(nodes, search["root"], state["completed"], deps.config)
        finished = best is not None and bool(nodes[best]["terminal"])
        reason = state["stop_reason"]
        if not reason:
            deep = best is not None and nodes[best]["depth"] >= deps.config.max_depth
            reason = "answer" if finished else "max_depth" if deep else "no_candidates"
        return {
            "best": best,
            "answer": nodes[best]["answer"] if best and finished else None,
            "steps": path_steps(nodes, best) if best else [],
            "finished": finished,
            "stop_reason": reason,
        }

    return finalize


def _search(state: Mapping[str, Any]) -> MctsState:
    return state.get("mcts") or new_mcts_state()


def _item(node: ThoughtNode) -> dict[str, Any]:
    return {
        "id": node["id"],
        "score": node["score"],
        "visits": visits(node),
        "value": node.get("value"),
        "terminal": node["terminal"],
    }


def _path_items(
    nodes: Mapping[str, ThoughtNode],
    path: list[str],
    index: Mapping[str, list[ThoughtNode]],
    deps: SearchDeps,
) -> list[dict[str, Any]]:
    """The path's thoughts with their statistics, and at each one the choice PUCT made: every
    eligible sibling with its statistics and PUCT, so a reader can check the arg-max."""
    items = [{**_item(nodes[path[0]]), "puct": None, "choices": []}]
    for parent, node_id in pairwise(path):
        kids = eligible(index.get(parent, []), deps.config.filter_duplicates)
        ranked = puct_scores(nodes[parent], kids, deps.config)
        choices = [{**_item(kid), "puct": score} for kid, score in zip(kids, ranked, strict=True)]
        chosen = next(c["puct"] for c in choices if c["id"] == node_id)
        items.append({**_item(nodes[node_id]), "puct": chosen, "choices": choices})
    return items
