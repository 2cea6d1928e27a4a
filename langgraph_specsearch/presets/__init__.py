"""The one place that turns a model or scorer name into loaded objects.

``assets`` assembles and converts the shipped GGUF weights; ``models`` loads generators and
scorers by name; ``options`` holds the command-line search settings. The CLI, the benchmark and
Studio all depend on this package, never on each other.
"""

from langgraph_specsearch.presets.models import (
    DEFAULT_DRAFTER,
    DEFAULT_SCORER,
    SCORERS,
    load_real_models,
    make_scorer,
)
from langgraph_specsearch.presets.options import (
    add_drafter_option,
    add_search_options,
    config_from_args,
)

__all__ = [
    "DEFAULT_DRAFTER",
    "DEFAULT_SCORER",
    "SCORERS",
    "add_drafter_option",
    "add_search_options",
    "config_from_args",
    "load_real_models",
    "make_scorer",
]
