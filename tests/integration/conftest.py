"""Fixtures for the tests that load the real default model pair (marker ``real_models``)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_models: integration tests that load the real default model pair "
        "(slow; need the [models] extra)",
    )


def in_ci() -> bool:
    """Whether this is a CI run (``CI`` set, as GitHub Actions and most CI services do)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_model(name: str) -> None:
    """Skip when the model ``name``'s packages are missing; in CI fail instead.

    CI installs them (the README's test command), so a missing one there is a broken install,
    which a skip would pass silently.
    """
    from langgraph_specsearch.presets.assets import SPECS, parts_installed

    if parts_installed(name):
        return
    spec = SPECS[name]
    message = f"the {spec.upstream} model's packages are missing ({spec.install_hint})"
    if in_ci():
        pytest.fail(f"{message}; CI={os.environ['CI']}: a missing model package fails the run")
    pytest.skip(message)


@pytest.fixture(scope="session")
def require_models():
    """``require_model`` as a fixture, for the test modules' own model fixtures."""
    return require_model


@pytest.fixture(scope="session")
def real_pair():
    """``(drafter, target)`` loaded once per session (converted into the cache on first use)."""
    require_model("drafter")
    require_model("target")
    from langgraph_specsearch.presets.assets import load_default_pair

    return load_default_pair()


@pytest.fixture(scope="session")
def free_against_paid():
    """Check free self-scoring on a real target: it writes three thoughts per path; the thoughts
    it wrote are scored from their generation, those after a first step too (which ends in ".",
    where Qwen reads ".\n\n" as one token: the pass reads the context as generation did), and
    every score equals a pass's to float rounding."""
    from langgraph_specsearch.generators.base import GenerationSettings

    def check(generator, free, paid, question, paths) -> None:
        settings = GenerationSettings(max_new_tokens=64, temperature=0.7, top_p=0.95, seed=4)
        groups = generator.generate(question, paths, [3] * len(paths), settings)
        written = [
            [*path, t.text] for path, group in zip(paths, groups, strict=True) for t in group
            if t.finish_reason != "empty"
        ]  # fmt: skip
        first = sum(1 for steps in written if len(steps) == 1)
        later = len(written) - first
        assert first >= 1 and later >= 1, groups
        questions = [question] * len(written)
        before = free.reused
        got, expected = free.score_last(questions, written), paid.score_last(questions, written)
        assert free.reused - before > first  # some after the first step are free too
        differences = sorted(abs(a - b) for a, b in zip(got, expected, strict=True))
        # the same tokens after the same context: only the engines' rounding differs (bf16 with a
        # split prefix, llama.cpp with another batch layout or a prompt read from its cache: up
        # to ~0.025 nats per token on a thought). A wrong context or token is ~0.1 or more.
        assert differences[len(differences) // 2] < 0.01, (got, expected)
        assert differences[-1] < 0.05, (got, expected)

    return check
