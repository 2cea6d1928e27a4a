"""The documentation site builds with --strict, and its configuration table matches the model.

Regenerate the table after changing SpecSearchConfig: ``UPDATE_DOCS=1 python -m pytest
tests/test_docs.py``; add the paper's value for a new field to ``PAPER`` below.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path

from langgraph_specsearch.config import SpecSearchConfig

REPO = Path(__file__).resolve().parents[1]
CONFIGURATION = REPO / "docs" / "configuration.md"
BEGIN, END = "<!-- config-table:begin -->", "<!-- config-table:end -->"

# The paper's value for each field ("—" where the paper sets none or the field is this package's).
PAPER: dict[str, str] = {
    "mode": "`specsearch`",
    "search": "`beam` and `mcts` (both evaluated)",
    "beam_width": "2",
    "width": "6",
    "n_drafts": "2N = 12",
    "threshold": "`ema`",
    "theta": "0.9 (swept 0.8–0.95)",
    "aggregator": "`mean` (max, ucb as variants); authors' code: `max`",
    "ucb_c": "—",
    "include_accepted_in_ema": "`False` (a variant); authors' code: `True`",
    "threshold_scope": "`depth`; authors' code: `path`",
    "threshold_init_scale": "1.0; authors' code: 0.9",
    "acceptance": "`threshold` (`half_split`, `logprob`: ablations)",
    "fixed_threshold": "— (ablation baseline)",
    "random_accept_prob": "— (ablation baseline)",
    "correction": "`speculative` (lossless)",
    "filter_duplicates": "—",
    "mcts_simulations": "4",
    "mcts_c_base": "19652 (OpenR)",
    "mcts_c_init": "1.25 (OpenR)",
    "mcts_style": "4 iterations per move (text); authors' code: `paths`",
    "mcts_answer": "—",
    "max_depth": "50",
    "max_total_tokens": "—",
    "time_budget_s": "—",
    "step_delimiter": '`"\\n\\n"` (blank line)',
    "max_step_tokens": "—",
    "temperature": "—",
    "top_p": "—",
    "seed": "—",
    "drafter_fallback": "—",
    "draft_timeout_s": "—",
    "max_question_chars": "—",
}


def _type(annotation: object) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " / ".join(f"`{value}`" for value in typing.get_args(annotation))
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and len(args) < len(typing.get_args(annotation)):
        return " or ".join(_type(a) for a in args) + " or None"
    return getattr(annotation, "__name__", str(annotation))


def _default(value: object) -> str:
    return "`" + repr(value).replace("|", "/") + "`"


def config_table() -> str:
    """The Markdown table of every SpecSearchConfig field, from the pydantic model itself."""
    lines = ["| field | type | default | paper | what it does |", "|---|---|---|---|---|"]
    for name, field in SpecSearchConfig.model_fields.items():
        description = (field.description or "").replace("|", "/")
        paper = PAPER.get(name, "?")
        row = [f"`{name}`", _type(field.annotation), _default(field.default), paper, description]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def test_every_field_has_a_paper_value() -> None:
    missing = sorted(set(SpecSearchConfig.model_fields) - set(PAPER))
    assert not missing, f"add the paper's value for {missing} to PAPER in tests/test_docs.py"


def test_configuration_page_lists_every_field() -> None:
    text = CONFIGURATION.read_text()
    assert BEGIN in text and END in text, f"{CONFIGURATION} needs the table markers"
    head, rest = text.split(BEGIN, 1)
    current, tail = rest.split(END, 1)
    expected = config_table()
    if os.environ.get("UPDATE_DOCS") == "1":
        CONFIGURATION.write_text(f"{head}{BEGIN}\n{expected}\n{END}{tail}")
        current = f"\n{expected}\n"
    for name in SpecSearchConfig.model_fields:
        assert f"| `{name}` |" in current, f"docs/configuration.md lacks the field {name}"
    assert current.strip() == expected, (
        "docs/configuration.md is stale: run UPDATE_DOCS=1 python -m pytest tests/test_docs.py"
    )


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    from extras import require_extra

    require_extra("mkdocs", "dev")
    require_extra("material", "dev")
    require_extra("mkdocstrings_handlers.python", "dev")
    mkdocs = Path(sys.executable).parent / "mkdocs"
    command = [str(mkdocs)] if mkdocs.exists() else [shutil.which("mkdocs") or "mkdocs"]
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    run = subprocess.run(
        [*command, "build", "--strict", "-d", str(site)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    for page in (
        "index",
        "concepts",
        "quickstart",
        "configuration",
        "backends",
        "engines",
        "studio",
    ):
        assert (site / page / "index.html").exists() or (site / f"{page}.html").exists(), page
    api = (site / "api" / "index.html").read_text()
    assert "SpecSearchConfig" in api and "draw_png" in api, "API reference rendered"
