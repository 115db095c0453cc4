"""The rich progress bar of a training run (epoch, loss parts, images/s)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["TrainProgress"]


class TrainProgress:
    """A context manager; a no-op when `enabled` is False (tests, other ranks)."""

    def __init__(self, enabled: bool, total: int, done: int = 0) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]train[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._progress.add_task("train", total=total, completed=done, info="")

    def __enter__(self) -> TrainProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, rec: dict[str, float]) -> None:
        if self._progress is None:
            return
        info = (
            f"epoch {int(rec['epoch'])}  loss {rec['loss']:.4f} (cls {rec['cls']:.4f} box {rec['box']:.4f})  "
            f"{rec['images_per_s']:.0f} img/s"
        )
        self._progress.update(self._task, completed=int(rec["iteration"]), info=info)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)
