"""The only rich user: the stderr console, progress bars, tables, and error lines.

rich is imported inside functions so `imggen --help` and completion never load it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import IO, Any

from imggen.env import Env


class UI:
    """Messages and progress for one command, all on stderr."""

    def __init__(self, env: Env, *, quiet: bool = False, verbose: bool = False) -> None:
        self.env = env
        self.quiet = quiet
        self.verbose = verbose
        self._console: Any = None
        self._progress: Any = None
        self._task: Any = None
        self._lock = threading.Lock()
        self._received = 0
        self.label = ""  # what the progress bar says it is counting

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.env.err,
                no_color=self.env.no_color,
                highlight=False,
                force_terminal=bool(self.env.stderr_isatty) or None,
                soft_wrap=True,
            )
        return self._console

    @property
    def interactive(self) -> bool:
        return bool(self.env.stderr_isatty) and not self.quiet

    def _plain(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
            return
        stream: IO[str] = self.env.err
        stream.write(text + "\n")
        stream.flush()

    def info(self, text: str) -> None:
        if not self.quiet:
            self._plain(text)

    def debug(self, text: str) -> None:
        if self.verbose:
            self._plain(text)

    def warn(self, text: str) -> None:
        self._plain(f"warning: {text}")

    def error(self, text: str, hint: str | None = None) -> None:
        self._plain(f"error: {text}")
        if hint:
            self._plain(f"hint: {hint}")

    def retry(self, text: str) -> None:
        self._plain(f"retry: {text}")

    # -- progress: only on a terminal, never faked ---------------------------------------

    def start_progress(self, label: str) -> None:
        """A bar counting bytes (received or uploaded); only on a terminal."""
        if not self.interactive or self._progress is not None:
            return
        from rich.progress import DownloadColumn, TransferSpeedColumn

        self._start(label, None, DownloadColumn(), TransferSpeedColumn())

    def advance(self, n: int, total: int | None) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._received += n
            if total and total >= self._received:
                self._progress.update(self._task, total=total)
            self._progress.update(self._task, completed=self._received)

    def describe(self, label: str) -> None:
        self.label = label
        if self._progress is not None:
            with self._lock:
                self._received = 0
                self._progress.update(self._task, description=label, completed=0, total=None)

    def start_count(self, label: str, total: int) -> None:
        """A bar counting finished items (batch jobs); only on a terminal."""
        if not self.interactive or self._progress is not None:
            return
        from rich.progress import MofNCompleteColumn

        self._start(label, total, MofNCompleteColumn())

    def _start(self, label: str, total: int | None, *counters: Any) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            *counters,
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(label, total=total)

    def count(self, n: int = 1) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress.advance(self._task, n)

    def stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- tables -------------------------------------------------------------------------

    def table(
        self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, out: IO[str]
    ) -> None:
        """A rich table on a terminal, tab-separated columns otherwise."""
        if not _isatty(out):
            out.write("\t".join(columns) + "\n")
            for row in rows:
                out.write("\t".join(row) + "\n")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None, show_lines=False)
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*row)
        Console(file=out, no_color=self.env.no_color).print(table)

    def summary(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table on stderr (batch's closing summary)."""
        if self.quiet:
            return
        self.table(title, columns, rows, out=self.env.err)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
