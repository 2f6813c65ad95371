"""Progress bar for benchmark sweeps: tqdm on a terminal, silent otherwise (CI logs, pipes)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def sweep(items: Iterable[T], desc: str) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on standard error when it is a terminal."""
    from tqdm import tqdm

    items = list(items)
    yield from tqdm(items, desc=desc, total=len(items), file=sys.stderr, leave=False,
                    disable=not sys.stderr.isatty(), dynamic_ncols=True)
