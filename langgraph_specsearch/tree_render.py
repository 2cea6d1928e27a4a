"""Deprecated alias of :mod:`langgraph_specsearch.search.render` (removed in 0.3.0)."""

from langgraph_specsearch._deprecated import alias_module

alias_module(__name__, "langgraph_specsearch.search.render")
