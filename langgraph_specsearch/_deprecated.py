"""Old import paths that keep working, with a DeprecationWarning, for one release."""

from __future__ import annotations

import importlib
import sys
import warnings

REMOVED_IN = "0.3.0"


def alias_module(old: str, new: str) -> None:
    """Make the module ``old`` the module ``new``: same object, every name, private ones too."""
    warnings.warn(
        f"{old} moved to {new}; the old path will be removed in {REMOVED_IN}",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
