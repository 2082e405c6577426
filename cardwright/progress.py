"""Progress bars for long commands, on stderr and only when stderr is a terminal.

A pipe or a log file gets no bar (and no escape codes); the commands print their results on
stdout either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; a bar of ``total`` steps on a terminal, nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda _steps: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda steps: bar.advance(task, steps)
