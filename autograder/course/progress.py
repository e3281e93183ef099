"""A one-line progress bar with an ETA, without a dependency.

On a terminal the line is redrawn in place; in a log (not a TTY) a line is printed at most
every ``every`` seconds and at the end, so CI logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def clock(seconds: float) -> str:
    """``seconds`` as h:mm:ss or m:ss."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished items out of ``total``; the ETA comes from the items graded in this
    run (``skipped`` ones, e.g. unchanged submissions, cost nothing and don't count)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, every: float = 5.0):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.started = time.monotonic()
        self.done = 0
        self.skipped = 0
        self.failed = 0
        self._last_print = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def skip(self, count: int = 1) -> None:
        self.done += count
        self.skipped += count
        self._show()

    def advance(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += int(failed)
        self._show()

    def eta(self) -> float | None:
        """Seconds left, or None before the first graded item."""
        graded = self.done - self.skipped
        if graded <= 0:
            return None
        rate = (time.monotonic() - self.started) / graded
        return rate * (self.total - self.done)

    def line(self) -> str:
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        percent = 100 * self.done / self.total if self.total else 100.0
        eta = self.eta()
        parts = [
            f"{self.label} [{bar}] {self.done}/{self.total} ({percent:.0f}%)",
            f"elapsed {clock(time.monotonic() - self.started)}",
            f"ETA {clock(eta)}" if eta is not None else "ETA --:--",
        ]
        if self.skipped:
            parts.insert(1, f"{self.skipped} unchanged")
        if self.failed:
            parts.insert(1, f"{self.failed} not graded")
        return " | ".join(parts)

    def _show(self, final: bool = False) -> None:
        now = time.monotonic()
        finished = self.done >= self.total
        if self._tty:
            self.stream.write("\r" + self.line() + ("\n" if final else ""))
        elif final or finished or now - self._last_print >= self.every:
            self.stream.write(self.line() + "\n")
        else:
            return
        self._last_print = now
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self._show(final=True)
        elif self.done < self.total or self.total == 0:
            self._show(final=True)
