"""Transfer progress: one line per blob with bytes, rate and ETA redrawn on a terminal; plain lines
(started / done) otherwise; nothing with ``--quiet``. Thread-safe: the workers of a pull report into it."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol, TextIO

__all__ = ["LineProgress", "NullProgress", "Progress", "TerminalProgress", "human_size", "make_progress"]


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    raise AssertionError


class Progress(Protocol):
    def start(self, key: str, label: str, total: int) -> None: ...

    def advance(self, key: str, n: int) -> None: ...

    def finish(self, key: str, status: str) -> None: ...

    def close(self) -> None: ...


class NullProgress:
    def start(self, key: str, label: str, total: int) -> None:
        pass

    def advance(self, key: str, n: int) -> None:
        pass

    def finish(self, key: str, status: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class _Item:
    label: str
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    status: str = ""


def _rate(item: _Item) -> tuple[float, str]:
    elapsed = max(time.monotonic() - item.started, 1e-6)
    rate = item.done / elapsed
    if rate <= 0 or item.done >= item.total:
        return rate, ""
    return rate, f"ETA {int((item.total - item.done) / rate)}s"


class LineProgress:
    """For logs and pipes: a line when a blob completes (with its size and average rate)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self._items: dict[str, _Item] = {}
        self._lock = threading.Lock()

    def start(self, key: str, label: str, total: int) -> None:
        with self._lock:
            self._items[key] = _Item(label, total)

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                item.done += n

    def finish(self, key: str, status: str) -> None:
        with self._lock:
            item = self._items.pop(key, None)
            if item is None:
                return
            rate, _ = _rate(item)
            extra = f" {human_size(rate)}/s" if status in ("downloaded", "uploaded") and item.done else ""
            self.out.write(f"{item.label}: {status} ({human_size(item.total)}{extra})\n")
            self.out.flush()

    def close(self) -> None:
        pass


class TerminalProgress(LineProgress):
    """Redraws a block of lines (one per blob in flight) at most ten times a second."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        super().__init__(out)
        self._drawn = 0
        self._last = 0.0
        self._order: list[str] = []

    def start(self, key: str, label: str, total: int) -> None:
        with self._lock:
            self._items[key] = _Item(label, total)
            self._order.append(key)
            self._draw(force=True)

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                item.done += n
            self._draw()

    def finish(self, key: str, status: str) -> None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                item.status = status
                item.done = item.total if status != "failed" else item.done
            self._draw(force=True)

    def _line(self, item: _Item) -> str:
        if item.status:
            return f"{item.label}: {item.status} ({human_size(item.total)})"
        rate, eta = _rate(item)
        pct = 100 * item.done // item.total if item.total else 100
        return (
            f"{item.label}: {human_size(item.done)}/{human_size(item.total)} {pct:3d}% "
            f"{human_size(rate)}/s {eta}".rstrip()
        )

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        lines = [self._line(self._items[k]) for k in self._order if k in self._items]
        buf = f"\x1b[{self._drawn}A" if self._drawn else ""
        buf += "".join(f"\r\x1b[2K{line}\n" for line in lines)
        self.out.write(buf)
        self.out.flush()
        self._drawn = len(lines)

    def close(self) -> None:
        with self._lock:
            self._draw(force=True)


def make_progress(quiet: bool = False, out: TextIO = sys.stderr) -> Progress:
    if quiet:
        return NullProgress()
    return TerminalProgress(out) if out.isatty() else LineProgress(out)
