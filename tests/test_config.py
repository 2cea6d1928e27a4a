"""Configuration errors fail at construction and name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from langgraph_specsearch import SpecSearchConfig


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"theta": 1.5}, "theta"),
        ({"theta": -0.1}, "theta"),
        ({"width": 0}, "width"),
        ({"beam_width": 7, "width": 6}, "beam_width"),
        ({"mode": "beam"}, "mode"),
        ({"aggregator": "median"}, "aggregator"),
        ({"threshold": "adaptive"}, "threshold"),
        ({"n_drafts": 0}, "n_drafts"),
        ({"max_depth": 0}, "max_depth"),
        ({"step_delimiter": ""}, "step_delimiter"),
        ({"widht": 3}, "widht"),
    ],
)
def test_invalid_values_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        SpecSearchConfig(**kwargs)


def test_paper_defaults() -> None:
    config = SpecSearchConfig()
    assert (config.beam_width, config.width, config.drafts_per_node) == (2, 6, 12)
    assert config.theta == 0.9 and config.aggregator == "mean" and config.threshold == "ema"
    assert config.step_delimiter == "\n\n"
    assert SpecSearchConfig(n_drafts=4).drafts_per_node == 4
