"""How work that splits into independent pieces is spread over processes (SPEC §15).

A `Spread` applies a function to each item of a list, with arguments that every item shares,
and returns the results in the items' order. `InProcess` runs them here, one after another;
`optimizer.cluster` gives one that runs them on Dask workers. The models split their work the
same way whichever spread they are given, and every piece is a pure function of its item and
the shared arguments, so a plan does not depend on where its pieces ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Spread(Protocol):
    """`spread(fn, items, **shared)` = `[fn(item, **shared) for item in items]`, wherever it
    runs; `workers` is how many pieces can run at once (models may cut their work in as many
    pieces where the cut does not change a figure)."""

    workers: int

    def __call__(self, fn: Callable[..., T], items: Iterable[Any], **shared: Any) -> list[T]: ...


class InProcess:
    """Every piece in this process, in order."""

    workers = 1

    def __call__(self, fn: Callable[..., T], items: Iterable[Any], **shared: Any) -> list[T]:
        return [fn(item, **shared) for item in items]


IN_PROCESS = InProcess()
