"""SpecSearch variants: other settings run in the same benchmark, interleaved with the modes.

A sweep (of M, theta, the aggregator, ...) only means something when each setting runs beside the
baselines on the same problems, so ``specsearch bench --variant m6:n_drafts=6`` adds a mode
``specsearch-m6``, run after the modes on every problem and summarised like SpecSearch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from langgraph_specsearch.config import SpecSearchConfig

PREFIX = "specsearch-"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.]*")


@dataclass(frozen=True)
class Variant:
    """A named set of :class:`SpecSearchConfig` overrides for the ``specsearch`` mode."""

    name: str
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return PREFIX + self.name

    def config(self, base: SpecSearchConfig) -> SpecSearchConfig:
        """``base`` with the overrides, validated like any config (so "6" becomes 6)."""
        values: dict[str, Any] = {**base.model_dump(), **self.overrides, "mode": "specsearch"}
        return SpecSearchConfig(**values)


def parse_variant(text: str, base: SpecSearchConfig | None = None) -> Variant:
    """Parse ``NAME:FIELD=VALUE[,FIELD=VALUE...]``; a bad name, field or value raises ValueError.

    With ``base`` the overrides are validated against it now, so a typo fails before any model
    is loaded rather than at the variant's first run.
    """
    name, sep, body = text.partition(":")
    if not sep or not body:
        raise ValueError(f"--variant {text!r}: expected NAME:FIELD=VALUE[,FIELD=VALUE...]")
    if not _NAME.fullmatch(name):
        raise ValueError(f"--variant {text!r}: the name must be lower-case letters, digits, _ or .")
    fields = set(SpecSearchConfig.model_fields) - {"mode"}
    overrides: dict[str, str] = {}
    for item in body.split(","):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not key:
            raise ValueError(f"--variant {text!r}: {item!r} is not FIELD=VALUE")
        if key not in fields:
            raise ValueError(
                f"--variant {text!r}: unknown setting {key!r}; one of {', '.join(sorted(fields))}"
            )
        overrides[key] = value
    variant = Variant(name, overrides)
    if base is not None:
        try:
            variant.config(base)
        except ValidationError as error:
            raise ValueError(f"--variant {text!r}: {error}") from error
    return variant


def parse_variants(texts: list[str], base: SpecSearchConfig) -> dict[str, Variant]:
    """Variants by mode name; two variants with one name are refused."""
    variants: dict[str, Variant] = {}
    for text in texts:
        variant = parse_variant(text, base)
        if variant.mode in variants:
            raise ValueError(f"--variant {text!r}: the name {variant.name!r} is used twice")
        variants[variant.mode] = variant
    return variants


__all__ = ["PREFIX", "Variant", "parse_variant", "parse_variants"]
