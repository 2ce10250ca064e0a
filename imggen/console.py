"""The only rich user: the stderr console, progress bars, tables, and error lines.

rich is imported inside functions so `imggen --help` and completion never load it.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Sequence
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
        text = printable(text)  # gateway text inside: never a terminal's control sequence
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

    def saved(self, path: str, pixels: tuple[int, int] | None, size: int) -> None:
        """On a terminal, what a saved image is: "saved sunset.png 1344×768 3.1 MB" (stdout
        keeps the bare paths, for scripts)."""
        if self.interactive:
            where = "to stdout" if path == "-" else shown(path)
            dims = f" {pixels[0]}×{pixels[1]}" if pixels else ""
            self._plain(f"saved {where}{dims} {human_bytes(size)}")

    # -- progress: only on a terminal, never faked ---------------------------------------

    def start_progress(self, label: str) -> None:
        """One line counting bytes (received or uploaded), fitted to 80 columns: a spinner
        while waiting, then bytes and speed, and a bar and the time left once the size is
        known. Only on a terminal."""
        if not self.interactive or self._progress is not None:
            return
        from rich.progress import Progress, SpinnerColumn

        self._progress = Progress(
            SpinnerColumn(),
            _line_column(lambda: min(self.console.width, LINE_WIDTH) - 3),
            console=self.console,
            transient=True,
            redirect_stdout=False,  # stdout is the saved paths' (`> paths.txt`), never the bar's
        )
        self._progress.start()
        self._task = self._progress.add_task(label, total=None)

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
            redirect_stdout=False,  # stdout is the saved paths' (`> paths.txt`), never the bar's
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
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        out: IO[str],
        whole: Sequence[str] = (),
        droppable: Sequence[str] = (),
    ) -> None:
        """A rich table on a terminal, tab-separated columns otherwise. The `whole` columns are
        never cut nor wrapped (ids to copy); when the table cannot fit the terminal, the
        `droppable` columns go, in that order, before anything is cut."""
        rows = [[printable(cell, oneline=True) for cell in row] for row in rows]
        if not _isatty(out):
            out.write("\t".join(columns) + "\n")
            for row in rows:
                out.write("\t".join(row) + "\n")
            return
        from rich.console import Console
        from rich.measure import Measurement

        console = Console(file=out, no_color=self.env.no_color)
        keep = list(range(len(columns)))
        table = _table(title, columns, rows, keep, whole)
        for name in droppable:
            wide = console.options.update_width(10**4)  # measured unclamped
            if Measurement.get(console, wide, table).minimum <= console.width:
                break
            if name not in columns:
                continue
            keep.remove(list(columns).index(name))
            table = _table(title, columns, rows, keep, whole)
        console.print(table)
        hidden = [name for i, name in enumerate(columns) if i not in keep]
        if hidden:
            self.info(f"too narrow for {', '.join(hidden)}: widen the terminal, or pipe it")

    def summary(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table on stderr (batch's closing summary)."""
        if self.quiet:
            return
        self.table(title, columns, rows, out=self.env.err)


def _table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    keep: Sequence[int],
    whole: Sequence[str],
) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title or None, show_lines=False, box=box.SIMPLE_HEAD, pad_edge=False)
    for i in keep:
        name = columns[i]
        if name in whole:  # as wide as its longest cell
            width = max([len(name), *(len(row[i]) for row in rows)])
            table.add_column(name, no_wrap=True, min_width=width)
        else:  # wraps between words, never inside one
            width = max([len(name), *(len(w) for row in rows for w in row[i].split())])
            table.add_column(name, min_width=width)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


LINE_WIDTH = 80  # the progress line fits this, or the terminal when it is narrower


def human_bytes(n: float) -> str:
    """786 bytes, 786.3 kB, 3.1 MB: decimal units, as file managers show sizes."""
    if n < 1000:
        return f"{int(n)} bytes"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            break
    return f"{n:.1f} {unit}"


def clock(seconds: float) -> str:
    """0:05, 12:34, 1:02:03."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(
    label: str, done: int, total: int | None, elapsed: float, speed: float | None, width: int
) -> str:
    """The progress line, at most `width` characters: the label and the time while nothing
    has arrived; then the bytes and speed; with a known size, a bar and the time left. What
    does not fit goes: the bar first, then the speed; the label loses its model's vendor, then
    is cut at its start."""
    if done <= 0:
        tail = [clock(elapsed)]
    else:
        count = human_bytes(done) + (f"/{human_bytes(total)}" if total else "")
        rate = f"{human_bytes(speed)}/s" if speed else ""
        left = clock((total - done) / speed) + " left" if total and speed else clock(elapsed)
        tail = [count, rate, left]
    for drop in (False, True):
        stats = "  ".join(part for part in tail if part and not (drop and "/s" in part))
        room = width - len(stats) - 2
        bar = min(20, room - 26) if total and done > 0 else 0
        if bar >= 6:
            filled = round(bar * min(done / total, 1.0)) if total else 0
            stats = "━" * filled + "─" * (bar - filled) + "  " + stats
            room -= bar + 2
        if room >= 10 or drop:
            break
    room = max(room, 1)
    model, sep, verb = label.rpartition(": ")
    if len(label) > room and "/" in model:  # google/gemini-…: the vendor goes first
        label = model.rsplit("/", 1)[1] + sep + verb
    text = label if len(label) <= room else "…" + label[-(room - 1) :]
    return (text + "  " + stats)[:width]


def _line_column(width: Callable[[], int]) -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Line(ProgressColumn):
        def render(self, task: Any) -> Text:
            total = int(task.total) if task.total else None
            line = progress_line(
                task.description,
                int(task.completed),
                total,
                task.elapsed or 0.0,
                task.speed,
                width(),
            )
            return Text(line, no_wrap=True, overflow="crop")

    return Line()


@functools.cache
def _controls() -> tuple[re.Pattern[str], re.Pattern[str]]:
    sequences = re.compile(
        r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI (colours, clear screen, cursor moves)
        r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])"  # OSC (title, links), DCS, SOS, PM, APC
        r"[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # ... up to their terminator
        r"|\x1b[ -/]*[0-~]?"  # any other escape
    )
    # C0 but tab and newline, DEL, C1, and the bidi overrides that reorder what is shown
    singles = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
    return sequences, singles


def printable(text: str, *, oneline: bool = False) -> str:
    """`text` (which may hold a gateway's words) without terminal control sequences: no
    escape sequence (title, clear screen, colours, OSC 8 links), no C0 but tab and newline,
    no C1, no bidi override; with `oneline`, tabs and newlines become spaces too."""
    sequences, singles = _controls()
    text = singles.sub("", sequences.sub("", text))
    if oneline:
        text = text.replace("\t", " ").replace("\n", " ")
    return text


def safe_json(text: str) -> str:
    """A JSON document (json.dumps with ensure_ascii=False) with C1 controls and bidi
    overrides written as JSON \\u escapes: JSON escapes C0 itself, and a C1 can only sit in
    a string."""
    _, singles = _controls()
    return _SURROGATES.sub(
        lambda m: f"\\u{ord(m.group()):04x}",
        singles.sub(lambda m: f"\\u{ord(m.group()):04x}", text),
    )


# a name that is not UTF-8, as Python reads it (surrogate-escaped): its JSON escape is valid
_SURROGATES = re.compile("[\ud800-\udfff]")


def shown(path: str) -> str:
    """The path as typed from here: relative when under the current folder."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
