"""The one place that turns a model or scorer name into loaded objects.

``assets`` assembles and converts the shipped GGUF weights; ``models`` loads generators and
scorers by name; ``options`` holds the command-line search settings. The CLI, the benchmark and
Studio all depend on this package, never on each other.
"""

from langgraph_specsearch.presets.models import (
    DEFAULT_DRAFTER,
    DEFAULT_SCORER,
    ENGINES,
    SCORERS,
    check_engine,
    default_engine,
    engine_of,
    likelihood_scorer,
    load_real_models,
    make_draft_likelihoods,
    make_scorer,
    resolve_engine,
)
from langgraph_specsearch.presets.options import (
    add_drafter_option,
    add_engine_option,
    add_search_options,
    config_from_args,
)

__all__ = [
    "DEFAULT_DRAFTER",
    "DEFAULT_SCORER",
    "ENGINES",
    "SCORERS",
    "add_drafter_option",
    "add_engine_option",
    "add_search_options",
    "check_engine",
    "config_from_args",
    "default_engine",
    "engine_of",
    "likelihood_scorer",
    "load_real_models",
    "make_draft_likelihoods",
    "make_scorer",
    "resolve_engine",
]
