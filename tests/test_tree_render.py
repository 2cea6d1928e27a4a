"""The picture of a search: a PNG from matplotlib and Mermaid text, for a run with every fate."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from extras import require_extra

from langgraph_specsearch import SpecSearch, SpecSearchConfig
from langgraph_specsearch.cli import main as cli_main
from langgraph_specsearch.runnable import SearchResult
from langgraph_specsearch.search.render import draw_tree, layout
from langgraph_specsearch.testing import DEMO_PROBLEMS, demo_models

require_extra("matplotlib", "bench")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result() -> SearchResult:
    drafter, target, scorer = demo_models()
    config = SpecSearchConfig(width=3, n_drafts=4, max_depth=8)
    return SpecSearch(drafter, target, scorer, config).invoke(DEMO_PROBLEMS[2].question)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_run_has_every_fate(result: SearchResult) -> None:
    statuses = {n["status"] for n in result.tree.nodes.values()}
    assert {"root", "accepted", "rejected", "corrected"} <= statuses


def test_draw_png_writes_a_real_picture(result: SearchResult, tmp_path: Path) -> None:
    out = result.tree.draw_png(tmp_path / "pictures" / "tree.png")
    assert out.exists() and out.stat().st_size > 20_000
    width, height = _png_size(out)
    depth = max(n["depth"] for n in result.tree.nodes.values())
    assert width > 200 * (depth + 1) and height > 20 * len(result.tree.nodes)


def test_figure_shows_scores_thresholds_and_the_path(result: SearchResult) -> None:
    figure = draw_tree(result.tree)
    texts = [t.get_text() for t in figure.axes[0].texts]
    history = result.threshold_history
    beta = next(r["threshold"] for r in history if r["threshold"] is not None)
    assert any(f"β = {beta:.3f}" in t for t in texts), "threshold per step in the headers"
    assert any(t.startswith("draft ✗") for t in texts) and any(
        t.startswith("draft ✓") for t in texts
    )
    assert any(t.startswith("target") for t in texts)
    scored = [n for n in result.tree.nodes.values() if n["score"] is not None]
    assert all(any(f"{n['score']:.2f}" in t for t in texts) for n in scored)
    thick = [line for line in figure.axes[0].lines if line.get_linewidth() > 2]
    assert len(thick) == len(result.path), "one thick edge per step of the returned path"
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert {"draft accepted", "draft rejected", "target correction", "returned path"} <= set(legend)


def test_layout_puts_parents_between_their_children(result: SearchResult) -> None:
    place = layout(result.tree.nodes)
    assert set(place) == set(result.tree.nodes)
    assert len({place[n] for n in place}) == len(place), "no two thoughts share a spot"
    for node_id in result.tree.nodes:
        kids = [place[c["id"]][1] for c in result.tree.children(node_id)]
        if kids:
            assert min(kids) <= place[node_id][1] <= max(kids)


def test_dollar_signs_are_text_not_mathtext(result: SearchResult, tmp_path: Path) -> None:
    figure = draw_tree(result.tree)  # the question has "$100" and "$15"
    title = figure._suptitle.get_text()
    assert r"\$100" in title
    figure.savefig(tmp_path / "t.png")  # an unbalanced "$" would raise while drawing


def test_mermaid_has_a_class_for_each_fate(result: SearchResult) -> None:
    text = result.tree.to_mermaid()
    for fate in ("accepted", "rejected", "corrected", "root", "chosen"):
        assert f"classDef {fate} " in text, fate
    ids_on_path = ",".join(sorted(n["id"] for n in result.path))
    assert f"class {ids_on_path} chosen" in text


def test_cli_renders_a_saved_result(result: SearchResult, tmp_path: Path) -> None:
    saved = tmp_path / "result.json"
    saved.write_text(json.dumps(result.to_dict()))
    png = tmp_path / "tree.png"
    assert cli_main(["tree", str(saved), "--format", "png", "--output", str(png)]) == 0
    assert _png_size(png)[0] > 200
    mermaid = tmp_path / "tree.mmd"
    assert cli_main(["tree", str(saved), "--output", str(mermaid)]) == 0
    assert mermaid.read_text() == result.tree.to_mermaid()
