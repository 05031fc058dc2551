"""Patrol allocation LP (SPEC §6): `PatrolAllocation.from_frames(...).solve(path)`; the
formulation is in its docstring.

Modules: `frames` (the data built from frames, the output frames), `matrix` (the model as
sparse arrays), `paths` (the decomposed, sifted and matrix paths), `reference` (the PuLP
model), `diagnosis` (why no plan exists), `binding` (the rules a plan runs up against)."""

from optimizer.allocation.binding import BINDING_COLUMNS
from optimizer.allocation.frames import ALLOCATION_COLUMNS, DUAL_COLUMNS, budgets
from optimizer.allocation.model import PATHS, PatrolAllocation

__all__ = [
    "ALLOCATION_COLUMNS",
    "BINDING_COLUMNS",
    "DUAL_COLUMNS",
    "PATHS",
    "PatrolAllocation",
    "budgets",
]
