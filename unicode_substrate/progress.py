"""One progress display for every long command: a labelled bar on a terminal, plain lines in a log.

A tqdm bar redraws with carriage returns, which a CI log, ``nohup`` or ``make demo | tee`` keeps
as one unreadable line per frame; where stderr is not a terminal we print a plain line every 5 %
of the work and at least every 30 s instead, so a log is never silent for long.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

LINE_FRACTION = 0.05  # a line every 5 % of the work
LINE_SECONDS = 30.0  # ... and at least every 30 s


class Progress:
    """Progress of ``total`` units of work named ``label``; ``enabled=False`` shows nothing.

    On a terminal: a tqdm bar with the label and a postfix. Elsewhere: ``label: unit done/total
    (pct %), seconds, postfix`` lines on ``stream`` every 5 % of ``total`` and at least every ``every_s``
    seconds (a time-only line when ``total`` is unknown).
    """

    def __init__(self, total: int | None, label: str, enabled: bool = True, unit: str = "step",
                 stream: TextIO | None = None, every_s: float = LINE_SECONDS, initial: int = 0,
                 unit_scale: bool = False):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.label, self.unit, self.every_s = total, label, unit, every_s
        self.done, self.postfix, self._printed = initial, "", initial
        self.enabled = enabled
        self.tty = enabled and _isatty(self.stream)
        self.lines = enabled and not self.tty
        self._start = self._last = time.monotonic()
        self._step = max(1, int((total or 0) * LINE_FRACTION))
        self._next = (initial // self._step + 1) * self._step
        self.bar = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=label, unit=unit, dynamic_ncols=True,
                            unit_scale=unit_scale, file=self.stream, leave=True)

    def set_postfix(self, text: str) -> None:
        """What follows the count: the latest loss, the task being scored, ..."""
        self.postfix = text
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)

    def set_label(self, label: str) -> None:
        self.label = label
        if self.bar is not None:
            self.bar.set_description_str(label, refresh=False)

    def update(self, n: int = 1) -> None:
        """``n`` more units done; in a log, a line when a 5 % mark is passed or 30 s went by."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.lines:
            now = time.monotonic()
            finished = self.total is not None and self.done >= self.total
            mark = self.total is not None and self.done >= self._next  # 5 % marks need a known total
            if mark or now - self._last >= self.every_s or finished:
                self._next = (self.done // self._step + 1) * self._step
                self._last = now
                self._print(self._line())
                self._printed = self.done

    def write(self, message: str) -> None:
        """A message that does not break the bar (or a plain line in a log)."""
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        elif self.enabled:
            self._print(message)

    def close(self) -> None:
        """End the bar; in a log, work of unknown size gets its final count."""
        if self.lines and self.total is None and self.done and self._printed != self.done:
            self._print(self._line())
            self.lines = False
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self) -> str:
        if self.total:
            count = f"{self.unit} {self.done:,}/{self.total:,} ({100 * self.done / self.total:.0f} %)"
        else:
            count = f"{self.done:,} {self.unit}"
        elapsed = time.monotonic() - self._start
        return f"{self.label}: {count}, {elapsed:,.0f} s" + (f", {self.postfix}" if self.postfix else "")

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class Stages:
    """Progress of work in named stages that are single long calls without inner steps (a table's PCA,
    collision check and write): a stage bar on a terminal; in a log, one line as each stage begins.
    A heartbeat shows a stage is alive: the bar's clock ticks on a terminal, and a log gets a "still
    running" line at least every 30 s (as :class:`Progress` does), so a loaded machine's minutes of
    PCA or collision search never pass in silence."""

    def __init__(self, label: str, enabled: bool, stream=None, every_s: float | None = None):
        import threading

        from tqdm import tqdm

        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.lines = enabled and not _isatty(self.stream)
        self.bar = tqdm(desc=label, bar_format="{desc}: {postfix} [{elapsed}]", disable=not enabled or self.lines,
                        file=self.stream)
        self.every_s = LINE_SECONDS if every_s is None else every_s
        self.name, self.started = None, 0.0
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True) if enabled else None
        if self._beat is not None:
            self._beat.start()

    def _heartbeat(self) -> None:
        tick = min(1.0, self.every_s)
        last = time.monotonic()
        while not self._stop.wait(tick):
            name = self.name
            if name is None:
                continue
            if not self.lines:
                self.bar.refresh()  # the elapsed clock moves while the stage computes
            elif time.monotonic() - last >= self.every_s:
                last = time.monotonic()
                print(f"{self.label}: {name} still running, {last - self.started:,.0f} s", file=self.stream, flush=True)

    def next(self, name: str) -> None:
        self.name, self.started = name, time.monotonic()
        if self.lines:
            print(f"{self.label}: {name}", file=self.stream, flush=True)
        self.bar.set_postfix_str(name, refresh=True)

    def close(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        self.bar.set_postfix_str("done", refresh=True)
        self.bar.close()


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False
