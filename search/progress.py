"""A small rich progress bar that is nothing at all when disabled (or with ``OPTSEARCH_NO_PROGRESS``)."""

from __future__ import annotations

import os

__all__ = ["ProgressBar"]


class ProgressBar:
    """One rich progress task: ``advance``, ``reset`` to a new total, ``close``."""

    def __init__(self, enabled: bool, description: str, total: int, *, stderr: bool = False) -> None:
        self.progress = None
        if enabled and not os.environ.get("OPTSEARCH_NO_PROGRESS"):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True) if stderr else None,
            )
            self.progress.start()
            self.task = self.progress.add_task(description, total=total)

    def reset(self, total: int, description: str) -> None:
        if self.progress is not None:
            self.progress.reset(self.task, total=total, description=description)

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
