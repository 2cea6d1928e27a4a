"""Mutation testing of the core (``search/``, ``graph/``, and the call merger of ``generators/``): a
small AST mutation runner.

Rerun (about 10-30 minutes on two shared cores)::

    HF_HUB_OFFLINE=1 python benchmarks/mutation.py --json benchmarks/results/mutation.json

Other uses: ``--list`` prints the mutants without running anything, ``--show ID`` prints one
mutant's change, ``--only ID [ID ...]`` runs some of them, ``--jobs N`` sets the parallel children.

The repository is never modified. It is copied to ``--workdir`` (default: a fresh folder under
the system's temporary directory), the tests run there, and every mutant lives only in the memory
of a forked child: the child's import system compiles the mutated syntax tree in place of that one
module, then runs pytest. The parent imports the heavy third-party packages once (langgraph,
langchain-core, pydantic, pytest, hypothesis) and never imports this package, so each child
imports the package fresh, with its mutant, in well under a second.

Operators (Python's ``ast``): comparison flips (``<`` to ``<=`` and ``>``, ``==`` to ``!=``,
``is``/``is not``, ``in``/``not in``), ``+``/``-``, ``*``/``/`` and their augmented forms,
``and``/``or``, negated ``if``/``while``/ternary/comprehension conditions, dropped ``not`` and
unary minus (which also reverses ``key=lambda x: -x`` sorts), numbers and booleans (``0``/``1``,
``n`` to ``n + 1``, ``True``/``False``, ``None`` to ``""``), ``max``/``min`` and ``any``/``all``,
statement deletion (calls, augmented and attribute/item assignments, reassignments, ``raise``,
``break``, ``continue``) and return-value replacement (``return x`` to ``return None``). Strings,
annotations, ``TYPE_CHECKING`` blocks and ``# pragma: no cover`` lines are not mutated.

A baseline run records which lines every test executes and how long it takes; each mutant then
runs only the tests that execute its lines, fastest first, with ``-x`` (a mutant of import-time
code runs them all). A mutant no test executes survives without running. Hypothesis is made
deterministic (``derandomize``, no example database, no deadline) so results do not depend on
the order mutants run in or on the machine's load.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import datetime as dt
import fnmatch
import gc
import importlib
import importlib.abc
import importlib.util
import json
import os
import pickle
import platform
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "langgraph_specsearch"

# The core: the search algorithm's pure functions and the graph's nodes.
MODULES = [
    "search/thoughts.py",
    "search/tree.py",
    "search/threshold.py",
    "search/beam.py",
    "search/seeding.py",
    "search/answers.py",
    "search/mcts.py",
    "search/speculation.py",
    # not search/render.py (the PNG picture): 96 of its 160 mutants move pixel positions, sizes
    # and colours, which its tests do not pin (they read the picture's text); run 2026-12-02
    "graph/context.py",  # renamed deps.py
    "graph/deps.py",
    "graph/prepare.py",
    "graph/draft.py",
    "graph/evaluate.py",
    "graph/reject.py",
    "graph/correct.py",
    "graph/select.py",
    "graph/state.py",
    "graph/stats.py",
    "graph/events.py",
    "graph/retry.py",
    "graph/factory.py",
    "graph/mcts.py",
    "generators/merging.py",
]
EXCLUDE = ["*/__init__.py"]

# Fast unit tests that exercise the core (no real models, notebooks, docs, studio server, CLI
# subprocesses): a test running in a subprocess could not see the in-memory mutant.
TESTS = [
    "tests/test_answers.py",
    "tests/test_threshold.py",
    "tests/test_search_correctness.py",
    "tests/test_graph.py",
    "tests/test_properties.py",
    "tests/test_runnable.py",
    "tests/test_reliability.py",
    "tests/test_tree_render.py",
    "tests/test_stage_events.py",
    "tests/test_checkpoint_compat.py",
    "tests/test_durable_corrections.py",
    "tests/test_run_settings.py",
    "tests/test_agent_pipelines.py",
    "tests/test_threshold_variants.py",
    "tests/test_auto_mode.py",
    "tests/test_mcts.py",
    "tests/test_inputs.py",
    "tests/test_merging.py",
    "tests/test_core_mutants.py",
]
# Run after all the others for every mutant: a mutant they alone kill counts as killed "only by
# the new tests", so one run gives the score with and without them.
NEW_TESTS = ["tests/test_core_mutants.py"]
MEMORY_LIMIT = 3 * 2**30  # bytes of address space per child: a runaway mutant fails, not the box

# Plugins are named, not discovered: scanning every installed distribution's entry points costs
# seconds per child on a machine with many packages.
PLUGINS = ["pytest_asyncio.plugin", "hypothesis.extra.pytestplugin"]
PYTEST_ARGS = [
    "-q",
    "--no-header",
    "-rN",
    "-p",
    "no:cacheprovider",
    *(arg for plugin in PLUGINS for arg in ("-p", plugin)),
]

# Survivors judged equivalent or unkillable, keyed by (module, source line, mutation).
# The source line is the stripped text of the mutated line, so the key survives line shifts.
_STRICT = "equivalent: the zipped sequences always have the same length, so strict never fires"
EXPLAINED: dict[tuple[str, str, str], str] = {
    (
        "search/thoughts.py",
        "for parent, path, group in zip(parents, paths, groups, strict=True):",
        "True  ->  False",
    ): f"{_STRICT} (paths are built from the frontier; groups pass checked(), one per path)",
    (
        "search/tree.py",
        "def path(self, node_id: str | None = None) -> list[ThoughtNode]:",
        "None  ->  ''",
    ): "equivalent: the default is only read as `node_id or self.best`, where '' acts as None",
    (
        "search/threshold.py",
        "return score if math.isfinite(score) else -math.inf",
        "-math.inf  ->  math.inf",
    ): "equivalent: it only moves non-finite scores within the sort, and judge_drafts skips "
    "every non-finite score without counting it against the width or drawing a random number, "
    "so the finite drafts are decided in the same order",
    (
        "search/seeding.py",
        '_ROLE_OFFSET: dict[str, int] = {"draft": 1, "correct": 2, "reject": 3}',
        "3  ->  4",
    ): "equivalent to the specification: the offsets need only be distinct and below the step "
    "multiplier 101 for every (step, role) seed of a run to differ (pinned by "
    "test_step_seeds_fit_every_backend_and_never_repeat), and 4 is. It only selects another "
    "pseudo-random stream for threshold='random'; the draft and correct offsets are pinned by "
    "the 0.1.0 checkpoint's exact replay, the reject stream by nothing specified",
    (
        "graph/deps.py",
        "retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None",
        "None  ->  ''",
    ): "equivalent: create_specsearch_graph always passes retry_policy, and call_with_retry "
    "reads '' as an empty sequence of policies, i.e. no retry, like None",
    (
        "graph/deps.py",
        "memory: SpeculationMemory = field(default_factory=SpeculationMemory, repr=False)",
        "False  ->  True",
    ): "equivalent: repr only changes the dataclass's debugging text",
    (
        "graph/deps.py",
        "_runs: dict[SpecSearchConfig, SearchDeps] = field(default_factory=dict, init=False, "
        "repr=False)",
        "False  ->  True",
    ): "equivalent (two mutants): repr=True only changes the debugging text; init=True adds a "
    "constructor argument nobody passes, and makes dataclasses.replace in for_run share the "
    "per-run cache, which still maps each config to deps built with that config",
    (
        "graph/deps.py",
        "scores = {i: v for i, v in zip(rated, values, strict=True) if math.isfinite(v)}",
        "True  ->  False",
    ): f"{_STRICT}: score_last_steps raises ScorerError on a wrong number of scores (pinned by "
    "test_wrong_number_of_scores_is_a_clear_error)",
    (
        "graph/deps.py",
        "if self.draft_likelihoods is None or not ids:",
        "self.draft_likelihoods is None or not ids  ->  self.draft_likelihoods is None and "
        "(not ids)",
    ): "equivalent: with likelihood scorers and no ids the mutant goes on with an empty batch, "
    "and score_last_steps returns [] for an empty batch without calling any scorer: {} again",
    (
        "graph/deps.py",
        "return {i: (t, d) for i, t, d in zip(ids, target, drafter, strict=True)}",
        "True  ->  False",
    ): f"{_STRICT}: score_last_steps returns one score per path for each scorer, or raises",
    (
        "graph/deps.py",
        "len(group) != count for group, count in zip(groups, counts, strict=False)",
        "False  ->  True",
    ): "equivalent: the zip is only reached when len(groups) == len(counts) (the `or` before it "
    "short-circuits on a mismatch), so strict never fires",
    (
        "graph/deps.py",
        'return [i for i, n in state["nodes"].items() if n["parent"] in frontier and n["depth"] '
        "== step]",
        "n['parent'] in frontier and n['depth'] == step  ->  n['parent'] in frontier or "
        "n['depth'] == step",
    ): "equivalent: this fallback serves beam-search checkpoints of 0.1.0, where every frontier "
    "node sits at depth step - 1 and only frontier nodes are expanded, so the children of the "
    "frontier are exactly the nodes at depth step",
    (
        "graph/deps.py",
        "return {key: config[key] for key in keep if key in config}  # type: "
        "ignore[literal-required]",
        "return {key: config[key] for key in keep if key in config}  ->  return None",
    ): "equivalent inside a graph run: a LangChain model called with config=None still gets the "
    "run's callbacks, tags and metadata from the context variable LangGraph sets for the node "
    "(langchain_core's ensure_config), as test_langchain_models_get_the_runs_callbacks_and_tags "
    "shows with this mutant in place",
    (
        "graph/reject.py",
        "for parent, beta in zip(frontier, bars, strict=True):",
        "True  ->  False",
    ): f"{_STRICT} (bars come from estimates(frontier), one per frontier node)",
    (
        "graph/reject.py",
        'extra["thresholds"] = dict(zip(frontier, bars, strict=True))',
        "True  ->  False",
    ): f"{_STRICT} (bars come from estimates(frontier), one per frontier node)",
    (
        "graph/reject.py",
        "for index, (node, accepted) in enumerate(zip(siblings, keep, strict=True)):",
        "True  ->  False",
    ): f"{_STRICT} (judge_drafts returns one decision per sibling's score)",
    (
        "graph/reject.py",
        'scores = [-math.inf if n["score"] is None else n["score"] for n in siblings]',
        "-math.inf  ->  math.inf",
    ): "equivalent: judge_drafts treats every non-finite score alike (never accepted, not "
    "counted, no random draw), and +inf is as non-finite as -inf",
    (
        "graph/reject.py",
        '[likelihoods.get(n["id"], (-math.inf, -math.inf)) for n in siblings]',
        "-math.inf  ->  math.inf",
    ): "equivalent (two mutants): the default pair belongs to drafts that were not rated, i.e. "
    "without a finite score, which judge_drafts rejects before reading their pair; the event "
    "shows None for any non-finite log-probability, +inf as -inf",
    (
        "graph/select.py",
        '"answer": nodes[best]["answer"] if best and finished else None,',
        "best and finished  ->  best or finished",
    ): "equivalent: they differ only when no path finished and best is set; best is then an "
    "open beam or a selected partial leaf, never terminal (terminal beams go to completed), so "
    "its answer is None anyway",
    (
        "graph/state.py",
        "root=ROOT_ID, cursor=None, leaf=None, expanding=False, simulation=0, simulations=0, "
        "moves=0",
        "None  ->  ''",
    ): "equivalent (two mutants): MCTS reads cursor and leaf only as `search['cursor'] or "
    "search['root']` and `search['leaf'] or search['root']`, where '' acts as None",
    (
        "graph/state.py",
        "root=ROOT_ID, cursor=None, leaf=None, expanding=False, simulation=0, simulations=0, "
        "moves=0",
        "False  ->  True",
    ): "equivalent: select_leaf sets expanding in every simulation before backup reads it; the "
    "initial value is never read",
    (
        "graph/retry.py",
        "pool.shutdown(wait=False)",
        "pool.shutdown(wait=False)  ->  pass",
    ): "equivalent: the executor is dropped when _call returns, and CPython frees it at once; "
    "its idle worker then exits through the executor's weakref callback, as after "
    "shutdown(wait=False), and a timed-out call finishes in the background either way",
    (
        "graph/factory.py",
        "config: SpecSearchConfig | Mapping[str, Any] | None = None,",
        "None  ->  ''",
    ): "equivalent: the default is only read as `config or {}`, where '' acts as None",
    (
        "graph/factory.py",
        "retry_policy: RetryPolicy | Sequence[RetryPolicy] | None = None,",
        "None  ->  ''",
    ): "equivalent: '' is falsy and empty: LangGraph's node runner (`if not retry_policy`) and "
    "call_with_retry (an empty sequence of policies) both read it as no retry",
    (
        "graph/factory.py",
        'builder.add_edge("finalize", END)',
        "builder.add_edge('finalize', END)  ->  pass",
    ): "equivalent in LangGraph: a node without outgoing edges ends the run when it returns, "
    "exactly as an edge to END does",
    (
        "graph/state.py",
        '"settings": None,',
        "None  ->  ''",
    ): "equivalent: prepare replaces settings with the run's validated config before any node "
    "reads them",
    (
        "generators/merging.py",
        "self.result: R | None = None",
        "None  ->  ''",
    ): "equivalent: result is read only after finish() set it (an error is raised first)",
    (
        "generators/merging.py",
        "def __init__(self, run: Callable[[Hashable, Sequence[P]], Sequence[R]], "
        "max_calls: int = 64):",
        "64  ->  65",
    ): "unkillable: a default cap on calls per batch; no behaviour depends on its exact value",
    (
        "generators/merging.py",
        "max_calls: int = 64,",
        "64  ->  65",
    ): "unkillable: a default cap on calls per batch; no behaviour depends on its exact value",
    (
        "generators/merging.py",
        "def __init__(self, key: Hashable, payload: P, merger: object = None) -> None:",
        "None  ->  ''",
    ): "equivalent: only an exclusive turn leaves the merger out, and no merger is '' either, so "
    "the `call.merger is self` tests read the same",
    (
        "generators/merging.py",
        "call: _Call = _Call(None, None)",
        "None  ->  ''",
    ): "equivalent: an exclusive turn's call has no merger, so no group ever takes it whatever "
    "its key or payload",
    (
        "generators/merging.py",
        "self._condition.notify_all()",
        "self._condition.notify_all()  ->  pass",
    ): "not pinned: the wake-up after an interrupted waiter matters only when the interrupt "
    "reaches the call at the head of a free device after the others re-checked, a race a test "
    "cannot arrange without hooks inside threading.Condition; the interrupt test pins the rest",
    (
        "generators/merging.py",
        "for call, result in zip(group, results, strict=True):",
        "True  ->  False",
    ): f"{_STRICT} (_results checked the count first)",
    (
        "search/mcts.py",
        "best_score = -math.inf",
        "-math.inf  ->  math.inf",
    ): "equivalent: the first child is taken by `best is None`, which overwrites best_score",
    (
        "search/mcts.py",
        "for child, score in zip(kids, scores, strict=True):",
        "True  ->  False",
    ): f"{_STRICT} (puct_scores returns one score per child)",
    (
        "search/mcts.py",
        'while not finished(node, config) and index.get(node["id"]):',
        "not finished(node, config) and index.get(node['id'])  ->  "
        "not finished(node, config) or index.get(node['id'])",
    ): "equivalent: a finished thought is never expanded, so it has no children, and an "
    "unfinished leaf without children stops the loop through select_child returning None",
    (
        "search/mcts.py",
        "index = children_of(nodes) if children is None else children",
        "children is None  ->  children is not None",
    ): "equivalent in principal_path: passing children=None on makes choose_move build the "
    "same index itself (a cost, not a behaviour)",
    (
        "graph/mcts.py",
        '"cursor": None,',
        "None  ->  ''",
    ): "equivalent: the cursor is only read as `cursor or root`, where '' acts as None",
    (
        "graph/mcts.py",
        '"answer": nodes[best]["answer"] if best and finished else None,',
        "best and finished  ->  best or finished",
    ): "equivalent: an unfinished best thought states no answer (its answer field is None)",
    (
        "graph/mcts.py",
        'choices = [{**_item(kid), "puct": score} '
        "for kid, score in zip(kids, ranked, strict=True)]",
        "True  ->  False",
    ): f"{_STRICT} (puct_scores returns one score per child)",
}

NOTES = (
    "mutmut 3.8.1 was tried first (it installs and runs on Python 3.11 with a setup.cfg in a copy "
    "of the repository); it made about 1,850 mutants of these modules, most of them string and "
    "argument-removal mutants of error messages, and its pace on this shared two-core machine "
    "put a run at two hours or more, so this AST runner was written instead, with the operators "
    "the issue asked for. Scores: killed / (killed + survived), every survivor counted, the "
    "explained equivalents included; before_new_tests is the same run with only the tests "
    "that existed before tests/test_core_mutants.py (that file runs last for every mutant, so "
    "a mutant it alone kills is attributed to it). Out of scope: graph/mcts.py, search/mcts.py, "
    "search/render.py and search/speculation.py (added while this ran; not in the issue's list). "
    "A timed-out mutant counts as killed (an endless loop)."
)


# --------------------------------------------------------------------------- the mutants


@dataclass
class Mutant:
    """One change to one module: where, what, and the replacement syntax tree node."""

    id: str
    module: str  # path relative to the package, e.g. "search/beam.py"
    line: int
    lines: tuple[int, int]  # the lines whose execution the mutant needs (coverage)
    import_time: bool  # runs when the module is imported (not inside a function)
    mutation: str
    source_line: str
    path: tuple[tuple[str, int | None], ...] = field(repr=False)
    replacement: Any = field(repr=False)  # an ast node, or None to delete a statement


_COMPARE_FLIPS: dict[type, list[type]] = {
    ast.Lt: [ast.LtE, ast.Gt],
    ast.LtE: [ast.Lt, ast.GtE],
    ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt, ast.LtE],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
}
_NEGATING = {op: len(new) == 1 for op, new in _COMPARE_FLIPS.items()}
_BINOP_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}
_CALL_SWAPS = {"max": "min", "min": "max", "any": "all", "all": "any"}
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _show(node: ast.AST, limit: int = 90) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


class _Enumerator:
    """Walks one module's tree and lists every mutant, each with the path to its node."""

    def __init__(self, module: str, source: str) -> None:
        self.module = module
        self.lines = source.splitlines()
        self.tree = ast.parse(source)
        self.mutants: list[Mutant] = []
        self.defaults_of: tuple[int, int] | None = None

    def run(self) -> list[Mutant]:
        self._visit(self.tree, (), in_function=False, statement=None, assigned=set())
        return self.mutants

    # -- helpers

    def _add(
        self,
        node: ast.AST,
        path: tuple[tuple[str, int | None], ...],
        replacement: ast.AST | None,
        description: str,
        in_function: bool,
        statement: ast.stmt | None,
    ) -> None:
        line = getattr(node, "lineno", None) or (statement.lineno if statement else 1)
        source_line = self.lines[line - 1].strip() if line <= len(self.lines) else ""
        if "pragma: no cover" in source_line:
            return
        span = node if hasattr(node, "end_lineno") else statement
        first, last = span.lineno, span.end_lineno or span.lineno  # type: ignore[union-attr]
        if self.defaults_of is not None:  # a default argument matters once its function runs
            (first, last), in_function = self.defaults_of, True
        index = sum(1 for m in self.mutants if m.line == line)
        self.mutants.append(
            Mutant(
                id=f"{self.module}:{line}:{index}",
                module=self.module,
                line=line,
                lines=(first, last),
                import_time=not in_function,
                mutation=description,
                source_line=source_line,
                path=path,
                replacement=replacement,
            )
        )

    def _visit(
        self,
        node: ast.AST,
        path: tuple[tuple[str, int | None], ...],
        in_function: bool,
        statement: ast.stmt | None,
        assigned: set[str],
    ) -> None:
        if _is_type_checking(node):
            return
        if isinstance(node, ast.stmt):
            statement = node
        self._mutate(node, path, in_function, statement, assigned)
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "type_comment", "decorator_list"):
                continue
            if isinstance(node, ast.Call) and name == "func" and isinstance(value, ast.Name):
                continue
            inner = in_function or (isinstance(node, _FUNCTIONS) and name == "body")
            if isinstance(value, list):
                scope = assigned
                if isinstance(node, _FUNCTIONS) and name == "body":
                    arguments = node.args
                    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
                    scope = {a.arg for a in every}
                for index, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        if name == "body" and index == 0 and _is_docstring(item):
                            continue
                        self._visit(item, (*path, (name, index)), inner, statement, scope)
                        if isinstance(item, ast.Assign):
                            scope.update(_names(item.targets))
            elif isinstance(node, _FUNCTIONS) and name == "args" and not in_function:
                body = node.body if isinstance(node.body, list) else [node.body]
                self.defaults_of = (body[0].lineno, node.end_lineno or body[0].lineno)
                self._visit(value, (*path, (name, None)), inner, statement, assigned)
                self.defaults_of = None
            elif isinstance(value, ast.AST):
                self._visit(value, (*path, (name, None)), inner, statement, assigned)

    def _mutate(
        self,
        node: ast.AST,
        path: tuple[tuple[str, int | None], ...],
        in_function: bool,
        statement: ast.stmt | None,
        assigned: set[str],
    ) -> None:
        def add(replacement: ast.AST | None, description: str) -> None:
            self._add(node, path, replacement, description, in_function, statement)

        if isinstance(node, ast.Compare):
            for index, op in enumerate(node.ops):
                for new in _COMPARE_FLIPS.get(type(op), []):
                    changed = copy.deepcopy(node)
                    changed.ops[index] = new()
                    add(changed, f"{_show(node)}  ->  {_show(changed)}")
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
            if not _is_string_formatting(node):
                changed = copy.deepcopy(node)
                changed.op = _BINOP_SWAPS[type(node.op)]()
                add(changed, f"{_show(node)}  ->  {_show(changed)}")
        elif isinstance(node, ast.BoolOp):
            changed = copy.deepcopy(node)
            changed.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            add(changed, f"{_show(node)}  ->  {_show(changed)}")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
            add(copy.deepcopy(node.operand), f"{_show(node)}  ->  {_show(node.operand)}")
        elif isinstance(node, ast.Constant):
            self._constant(node, path, in_function, statement)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _CALL_SWAPS
        ):
            changed = copy.deepcopy(node)
            changed.func = ast.Name(id=_CALL_SWAPS[node.func.id], ctx=ast.Load())
            add(changed, f"{_show(node)}  ->  {_show(changed)}")

        # conditions
        tests: list[tuple[ast.AST, tuple[tuple[str, int | None], ...]]] = []
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            tests.append((node.test, (*path, ("test", None))))
        if isinstance(node, ast.comprehension):
            tests.extend((cond, (*path, ("ifs", i))) for i, cond in enumerate(node.ifs))
        for test, test_path in tests:
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                continue  # dropping the `not` is the negation
            if (
                isinstance(test, ast.Compare)
                and len(test.ops) == 1
                and _NEGATING[type(test.ops[0])]
            ):
                continue  # flipping `==`, `is` or `in` is the negation
            negated = ast.UnaryOp(op=ast.Not(), operand=copy.deepcopy(test))
            self._add(
                test,
                test_path,
                negated,
                f"{_show(test)}  ->  {_show(negated)}",
                in_function,
                statement,
            )

        # statements
        if isinstance(node, ast.stmt) and _deletable(node, assigned):
            self._add(node, path, None, f"{_show(node)}  ->  pass", in_function, statement)
        if isinstance(node, ast.AugAssign) and type(node.op) in _BINOP_SWAPS:
            changed = copy.deepcopy(node)
            changed.op = _BINOP_SWAPS[type(node.op)]()
            add(changed, f"{_show(node)}  ->  {_show(changed)}")
        if (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            changed = ast.Return(value=ast.Constant(value=None))
            add(changed, f"{_show(node)}  ->  return None")

    def _constant(
        self,
        node: ast.Constant,
        path: tuple[tuple[str, int | None], ...],
        in_function: bool,
        statement: ast.stmt | None,
    ) -> None:
        value = node.value
        if isinstance(value, bool):
            new: object = not value
        elif isinstance(value, int):
            new = {0: 1, 1: 0}.get(value, value + 1)
        elif isinstance(value, float):
            new = 1.0 if value == 0.0 else 0.0
        elif value is None:
            if path and path[-1][0] == "comparators":
                return  # `x is None`: the comparison flip covers it
            new = ""
        else:
            return  # strings, bytes, Ellipsis
        changed = ast.Constant(value=new)
        self._add(
            node, path, changed, f"{_show(node)}  ->  {_show(changed)}", in_function, statement
        )


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_string_formatting(node: ast.BinOp) -> bool:
    return isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)


def _names(targets: Sequence[ast.expr]) -> set[str]:
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _deletable(node: ast.stmt, assigned: set[str]) -> bool:
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Call | ast.Await)
    if isinstance(node, ast.AugAssign | ast.Raise | ast.Break | ast.Continue):
        return True
    if isinstance(node, ast.Assign):
        return all(
            isinstance(t, ast.Subscript | ast.Attribute)
            or (isinstance(t, ast.Name) and t.id in assigned)
            for t in node.targets
        )
    return False


def module_files(root: Path, patterns: Sequence[str]) -> list[str]:
    """The package-relative paths the patterns name, in order, without ``EXCLUDE``."""
    base = root / PACKAGE
    found: list[str] = []
    for pattern in patterns:
        for path in sorted(base.glob(pattern)):
            relative = path.relative_to(base).as_posix()
            if relative in found or any(fnmatch.fnmatch(relative, x) for x in EXCLUDE):
                continue
            found.append(relative)
    return found


def enumerate_mutants(root: Path, modules: Sequence[str]) -> list[Mutant]:
    """Every mutant of ``modules`` (package-relative paths), in a stable order."""
    mutants: list[Mutant] = []
    for module in modules:
        source = (root / PACKAGE / module).read_text()
        mutants.extend(_Enumerator(module, source).run())
    return mutants


def mutated_tree(root: Path, mutant: Mutant) -> ast.Module:
    """The module's syntax tree with ``mutant`` applied."""
    tree = ast.parse((root / PACKAGE / mutant.module).read_text())
    parent: Any = tree
    *steps, (last_name, last_index) = mutant.path
    for name, index in steps:
        parent = getattr(parent, name)
        if index is not None:
            parent = parent[index]
    replacement = copy.deepcopy(mutant.replacement)
    if replacement is None:
        replacement = ast.Pass()
    old = (
        getattr(parent, last_name) if last_index is None else getattr(parent, last_name)[last_index]
    )
    ast.copy_location(replacement, old)
    if last_index is None:
        setattr(parent, last_name, replacement)
    else:
        getattr(parent, last_name)[last_index] = replacement
    return ast.fix_missing_locations(tree)


def module_name(module: str) -> str:
    return f"{PACKAGE}.{module[:-3].replace('/', '.')}"


# --------------------------------------------------------------------------- running


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves one module from a mutated syntax tree; every other import is untouched."""

    def __init__(self, name: str, filename: str, tree: ast.Module) -> None:
        self.name, self.filename, self.tree = name, filename, tree

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.filename, loader=self)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        exec(compile(self.tree, self.filename, "exec"), module.__dict__)


def _quiet_hypothesis() -> None:
    from hypothesis import HealthCheck, Phase, settings

    settings.register_profile(
        "mutation",
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
        print_blob=False,
    )
    settings.load_profile("mutation")


def _child_setup(workdir: Path, log: Path | None) -> None:
    os.setpgid(0, 0)  # a process group of its own: a timeout kills it and anything it started
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    output = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    os.environ["PYTHONPATH"] = str(workdir)  # a subprocess imports the copy, never the repo
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    _quiet_hypothesis()


class _Recorder:
    """A pytest plugin recording, per test, its outcome, duration and the core lines it ran."""

    def __init__(self, files: set[str]) -> None:
        self.files = files
        self.current: set[tuple[str, int]] = set()
        self.tests: dict[str, dict[str, Any]] = {}

    def _local(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            self.current.add((frame.f_code.co_filename, frame.f_lineno))
        return self._local

    def _global(self, frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename in self.files:
            self.current.add((frame.f_code.co_filename, frame.f_lineno))
            return self._local
        return None

    def start(self) -> None:
        sys.settrace(self._global)
        threading.settrace(self._global)

    def stop(self) -> None:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Iterator[None]:
        self.current = set()
        started = time.perf_counter()
        yield
        entry = self.tests.setdefault(item.nodeid, {"passed": True})
        entry["seconds"] = time.perf_counter() - started
        entry["lines"] = sorted(self.current)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            self.tests.setdefault(report.nodeid, {"passed": True})["passed"] = False


def baseline(
    workdir: Path, modules: Sequence[str], tests: Sequence[str], out: Path, log: Path | None
) -> dict[str, Any]:
    """Run every test once in a forked child: lines run, durations, outcomes, modules used."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            _child_setup(workdir, log)
            recorder = _Recorder({str(workdir / PACKAGE / m) for m in modules})
            recorder.start()
            code = pytest.main([*PYTEST_ARGS, *tests], plugins=[recorder])
            recorder.stop()
            package = sys.modules[PACKAGE]
            imported = [
                name
                for name, module in list(sys.modules.items())
                if not str(getattr(module, "__file__", None) or "").startswith(str(workdir))
                and name.split(".")[0] not in (PACKAGE, "__main__", "__mp_main__")
            ]
            record = {
                "exit": int(code),
                "tests": recorder.tests,
                "package": package.__file__,
                "imported": imported,
            }
            out.write_bytes(pickle.dumps(record))
        finally:
            os._exit(0 if out.exists() else 3)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not out.exists():
        raise SystemExit("the baseline run crashed")
    record = pickle.loads(out.read_bytes())
    out.unlink()
    return record


def preload(names: Sequence[str]) -> None:
    """Import what the tests import (third-party only), so that forked children start warm."""
    for name in names:
        with contextlib.suppress(BaseException):
            importlib.import_module(name)
    leaked = [name for name in sys.modules if name.split(".")[0] == PACKAGE]
    if leaked:
        raise SystemExit(f"the parent imported {leaked[:3]}: children could not mutate them")
    if threading.active_count() > 1:
        print("warning: preloading started threads; forking may be unsafe", file=sys.stderr)
    gc.collect()
    gc.freeze()  # children neither copy nor scan the preloaded heap when they collect garbage


@dataclass
class Outcome:
    """What happened to one mutant."""

    mutant: Mutant
    status: str  # "killed", "survived", "timeout", "no_tests", "error" (the runner's)
    seconds: float
    tests_run: int
    killer: str = ""  # the first failing test, for a killed mutant


class _FirstFailure:
    """A pytest plugin writing the id of the first test that fails (the mutant's killer)."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and not self.out.exists():
            self.out.write_text(report.nodeid)

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed and not self.out.exists():
            self.out.write_text(f"collecting {report.nodeid}")


def _run_child(
    workdir: Path, mutant: Mutant, node_ids: Sequence[str], log: Path | None, killer: Path
) -> None:
    code = 3
    try:
        _child_setup(workdir, log)
        tree = mutated_tree(workdir, mutant)
        filename = str(workdir / PACKAGE / mutant.module)
        sys.meta_path.insert(0, _MutantFinder(module_name(mutant.module), filename, tree))
        plugins = [_FirstFailure(killer)]
        code = int(pytest.main([*PYTEST_ARGS, "-x", *node_ids], plugins=plugins))
    finally:
        os._exit(code)


def _kill(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def run_mutants(
    workdir: Path,
    mutants: Sequence[Mutant],
    plan: dict[str, list[str]],
    budget: dict[str, float],
    jobs: int,
    logs: Path | None = None,
) -> list[Outcome]:
    """Run every mutant in a forked child, ``jobs`` at a time."""
    outcomes: list[Outcome] = []
    queue = list(mutants)
    running: dict[int, tuple[Mutant, float]] = {}

    def finish(outcome: Outcome) -> None:
        outcomes.append(outcome)
        killed = sum(o.status in ("killed", "timeout") for o in outcomes)
        print(
            f"\r{len(outcomes)}/{len(mutants)} killed {killed} survived {len(outcomes) - killed} ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        _drive(workdir, queue, running, plan, budget, jobs, logs, finish)
    finally:
        for child in running:
            _kill(child)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)
    print(file=sys.stderr)
    order = {m.id: i for i, m in enumerate(mutants)}
    return sorted(outcomes, key=lambda o: order[o.mutant.id])


def _drive(
    workdir: Path,
    queue: list[Mutant],
    running: dict[int, tuple[Mutant, float]],
    plan: dict[str, list[str]],
    budget: dict[str, float],
    jobs: int,
    logs: Path | None,
    finish: Any,
) -> None:
    while queue or running:
        while queue and len(running) < jobs:
            mutant = queue.pop(0)
            node_ids = plan[mutant.id]
            if not node_ids:
                finish(Outcome(mutant, "no_tests", 0.0, 0))
                continue
            log = logs / (mutant.id.replace("/", "_") + ".log") if logs else None
            killer = _killer_file(workdir, mutant)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                _run_child(workdir, mutant, node_ids, log, killer)
            running[pid] = (mutant, time.monotonic())
        if not running:
            continue
        pid, status = os.waitpid(-1, os.WNOHANG)
        now = time.monotonic()
        if pid == 0:
            for child, (mutant, started) in list(running.items()):
                if now - started > budget[mutant.id]:
                    _kill(child)
                    os.waitpid(child, 0)
                    del running[child]
                    finish(Outcome(mutant, "timeout", now - started, len(plan[mutant.id])))
            time.sleep(0.02)
            continue
        if pid not in running:
            continue
        mutant, started = running.pop(pid)
        _kill(pid)  # anything the child left running in its group
        code = os.waitstatus_to_exitcode(status)
        # pytest: 0 passed, 1 failed, 2 interrupted (a test module failed to import), 3 internal
        # error, 4 usage error (conftest failed to import: the baseline found every test id);
        # below 0 a signal. 5 (no tests ran) would be the runner's fault.
        state = {0: "survived", 5: "error"}.get(code, "killed")
        killer = _killer_file(workdir, mutant)
        name = killer.read_text() if killer.exists() else ""
        finish(Outcome(mutant, state, now - started, len(plan[mutant.id]), name))


def _killer_file(workdir: Path, mutant: Mutant) -> Path:
    folder = workdir.parent / "killers"
    folder.mkdir(exist_ok=True)
    return folder / mutant.id.replace("/", "_")


def plan_tests(
    workdir: Path, mutants: Sequence[Mutant], record: dict[str, Any]
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """For each mutant the tests that run its lines, fastest first, and a time limit."""
    tests = {k: v for k, v in record["tests"].items() if v["passed"] and "lines" in v}
    by_line: dict[tuple[str, int], list[str]] = {}
    for node_id, entry in tests.items():
        for filename, line in entry["lines"]:
            by_line.setdefault((filename, line), []).append(node_id)

    def order(node_id: str) -> tuple[bool, float]:
        return _is_new(node_id), tests[node_id]["seconds"]

    everything = sorted(tests, key=order)
    plan: dict[str, list[str]] = {}
    budget: dict[str, float] = {}
    for mutant in mutants:
        if mutant.import_time:
            chosen = everything
        else:
            filename = str(workdir / PACKAGE / mutant.module)
            first, last = mutant.lines
            ids = {n for line in range(first, last + 1) for n in by_line.get((filename, line), [])}
            chosen = sorted(ids, key=order)
        plan[mutant.id] = chosen
        budget[mutant.id] = 15.0 + 3.0 * sum(tests[n]["seconds"] for n in chosen)
    return plan, budget


def _is_new(node_id: str) -> bool:
    return node_id.split("::")[0] in NEW_TESTS


def copy_repo(source: Path, workdir: Path) -> None:
    """A copy of the repository to run in (no .git, caches or build folders)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    ignore = shutil.ignore_patterns(
        ".git",
        "__pycache__",
        "*.egg-info",
        ".pytest_cache",
        ".hypothesis",
        ".ruff_cache",
        ".benchmarks",
        ".venv",
        "mutants",
        "site",
        "notebooks",
    )
    shutil.copytree(source, workdir, ignore=ignore, symlinks=True)


# --------------------------------------------------------------------------- the report


def explanation(mutant: Mutant) -> str:
    return EXPLAINED.get((mutant.module, mutant.source_line, mutant.mutation), "")


def refill(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with every survivor's reason taken from ``EXPLAINED`` and ``NOTES`` (after
    editing them, without running the mutants again)."""
    prefix = f"{PACKAGE}/"
    for survivor in report["survivors"]:
        module = survivor["location"].removeprefix(prefix).rsplit(":", 1)[0]
        why = EXPLAINED.get((module, survivor["source"], survivor["mutation"]))
        if why:
            survivor["why"] = why
    unexplained = ("unexplained", "no test executes this line")
    equivalent = sum(1 for s in report["survivors"] if s["why"] not in unexplained)
    total = report["killed"] + report["survived"]
    report["score_excluding_explained_equivalents"] = (
        round(report["killed"] / (total - equivalent), 4) if total > equivalent else None
    )
    report["notes"] = NOTES
    return report


def report(
    outcomes: Sequence[Outcome],
    modules: Sequence[str],
    tests: Sequence[str],
    excluded_tests: Sequence[str],
    seconds: float,
    jobs: int,
    command: str,
) -> dict[str, Any]:
    """The JSON report: counts, score, every survivor with the reason it survives."""
    killed = [o for o in outcomes if o.status in ("killed", "timeout")]
    survived = [o for o in outcomes if o.status in ("survived", "no_tests")]
    per_module: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        entry = per_module.setdefault(outcome.mutant.module, {"killed": 0, "survived": 0})
        if outcome.status == "error":
            continue
        entry["survived" if outcome.status in ("survived", "no_tests") else "killed"] += 1
    equivalent = sum(1 for o in survived if explanation(o.mutant))
    total = len(killed) + len(survived)
    only_new = [o for o in killed if _is_new(o.killer)]
    return {
        "killed": len(killed),
        "survived": len(survived),
        "score": round(len(killed) / total, 4) if total else None,
        "before_new_tests": {
            "new_tests": list(NEW_TESTS),
            "killed": len(killed) - len(only_new),
            "survived": len(survived) + len(only_new),
            "score": round((len(killed) - len(only_new)) / total, 4) if total else None,
        },
        "score_excluding_explained_equivalents": (
            round(len(killed) / (total - equivalent), 4) if total > equivalent else None
        ),
        "timeouts": sum(o.status == "timeout" for o in outcomes),
        "runner_errors": [o.mutant.id for o in outcomes if o.status == "error"],
        "not_executed_by_any_test": sum(o.status == "no_tests" for o in outcomes),
        "command": command,
        "tool": "benchmarks/mutation.py",
        "modules": [f"{PACKAGE}/{m}" for m in modules],
        "tests": list(tests),
        "tests_failing_without_mutants": list(excluded_tests),
        "per_module": per_module,
        "killed_only_by_new_tests": [
            {"id": o.mutant.id, "mutation": o.mutant.mutation, "killer": o.killer} for o in only_new
        ],
        "survivors": [
            {
                "id": o.mutant.id,
                "location": f"{PACKAGE}/{o.mutant.module}:{o.mutant.line}",
                "source": o.mutant.source_line,
                "mutation": o.mutant.mutation,
                "why": explanation(o.mutant)
                or ("no test executes this line" if o.status == "no_tests" else "unexplained"),
            }
            for o in survived
        ],
        "runtime_seconds": round(seconds, 1),
        "jobs": jobs,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "notes": NOTES,
    }


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where the copy is made")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--modules", nargs="+", default=MODULES, help="package-relative globs")
    parser.add_argument("--tests", nargs="+", default=TESTS)
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--show", nargs="+", default=None, metavar="ID", help="print mutants")
    parser.add_argument("--only", nargs="+", default=None, metavar="ID", help="run only these")
    parser.add_argument("--logs", type=Path, default=None, help="keep each child's output here")
    parser.add_argument(
        "--explain", type=Path, default=None, help="refill a report's reasons from EXPLAINED"
    )
    args = parser.parse_args(argv)

    if args.explain:
        path = args.explain if args.explain.is_absolute() else REPO / args.explain
        report_ = refill(json.loads(path.read_text()))
        path.write_text(json.dumps(report_, indent=2, ensure_ascii=False) + "\n")
        return 0

    if args.list or args.show:
        wanted = set(args.show or [])
        for mutant in enumerate_mutants(REPO, module_files(REPO, args.modules)):
            if not wanted or mutant.id in wanted:
                print(f"{mutant.id:30} {mutant.mutation}")
                if wanted:
                    print(ast.unparse(mutated_tree(REPO, mutant)).splitlines()[mutant.line - 1])
        return 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the children too
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="specsearch-mutation-"))
    workdir = args.workdir or scratch / "repo"
    copy_repo(REPO, workdir)  # everything below reads the copy, never the repository
    modules = module_files(workdir, args.modules)
    mutants = enumerate_mutants(workdir, modules)
    if args.only:
        mutants = [m for m in mutants if m.id in set(args.only)]
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    tests = [t for t in args.tests if (workdir / t.split("::")[0]).exists()]
    print(f"{len(mutants)} mutants in {len(modules)} modules; baseline run", file=sys.stderr)
    log = args.logs / "baseline.log" if args.logs else None
    record = baseline(workdir, modules, tests, scratch / "baseline.pickle", log)
    if not record["package"].startswith(str(workdir)):
        raise SystemExit(f"the tests imported {record['package']}, not the copy in {workdir}")
    failing = sorted(k for k, v in record["tests"].items() if not v["passed"])
    if failing:
        print(f"failing without mutants, not used: {failing}", file=sys.stderr)
    print(
        f"baseline: {len(record['tests'])} tests, "
        f"{sum(v.get('seconds', 0.0) for v in record['tests'].values()):.1f} s",
        file=sys.stderr,
    )
    preload(record["imported"])
    plan, budget = plan_tests(workdir, mutants, record)
    outcomes = run_mutants(workdir, mutants, plan, budget, args.jobs, args.logs)
    seconds = time.monotonic() - started
    command = "HF_HUB_OFFLINE=1 python benchmarks/mutation.py" + (
        f" --json {args.json}" if args.json else ""
    )
    result = refill(report(outcomes, modules, tests, failing, seconds, args.jobs, command))
    for survivor in result["survivors"]:
        print(f"survived {survivor['id']:30} {survivor['mutation']}  [{survivor['why']}]")
    print(
        f"killed {result['killed']} survived {result['survived']} score {result['score']} "
        f"in {seconds:.0f} s",
        file=sys.stderr,
    )
    if args.json:
        path = args.json if args.json.is_absolute() else REPO / args.json
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)
    return 1 if result["runner_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
