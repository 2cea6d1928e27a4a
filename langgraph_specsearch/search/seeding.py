"""Seeds for every sampling call, fixed by (run seed, step, role): runs are repeatable."""

from __future__ import annotations

from typing import Literal

Role = Literal["draft", "correct", "reject"]
_ROLE_OFFSET: dict[str, int] = {"draft": 1, "correct": 2, "reject": 3}


def step_seed(seed: int, step: int, role: Role) -> int:
    """A distinct seed per step and role, so no two calls of a run share their samples."""
    return (seed * 1_000_003 + step * 101 + _ROLE_OFFSET[role]) % (2**31)
