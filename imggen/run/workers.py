"""Work on threads while the main thread only waits: the one pattern `-n` fan-out and `batch`
share. Workers are daemons; the main thread joins them in short slices so that SIGINT and
SIGTERM reach it promptly, and it alone cleans up after an interrupt (a worker blocked in a
read wakes only when its socket does)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence


def run_threads(
    targets: Sequence[Callable[[], None]],
    *,
    name: str,
    on_crash: Callable[[], None] = lambda: None,
    on_interrupt: Callable[[], None] = lambda: None,
) -> None:
    """Run each target on a thread of its own and wait for all of them.

    What ends a worker early (a bug, or a fault that must stop the run) calls `on_crash` in
    that worker, so the others can stop, and is raised here once all are done. An interrupt
    (or that raise) calls `on_interrupt` first, then goes on."""
    crashed: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # raised in the main thread, not a thread traceback
                crashed.append(exc)
                on_crash()

        return run

    threads = [
        threading.Thread(target=guarded(t), name=f"{name}-{i}", daemon=True)
        for i, t in enumerate(targets)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)  # short joins: signals reach the main thread promptly
        if crashed:
            raise crashed[0]
    except BaseException:
        on_interrupt()
        raise


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM for the block, then deliver them. Main thread only: batch runs
    jobs in workers, and only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved = {n: signal.signal(n, lambda n, f: caught.append(n)) for n in _SIGNALS}
    try:
        yield
    finally:
        for n, handler in saved.items():
            if handler is not None:  # None: not set from Python; nothing to put back
                signal.signal(n, handler)
        if caught:
            signal.raise_signal(caught[0])


_SIGNALS = (signal.SIGINT, signal.SIGTERM)
