"""Reading conmon's k8s-file logs: ``TIMESTAMP STREAM P|F TEXT`` per line (CRI's log format; ``P`` marks a
partial line continued by the next entry)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ketch.engine.errors import UsageError

__all__ = ["LogEntry", "follow_log", "parse_since", "read_log"]

_DURATION = re.compile(r"^(\d+)(s|m|h)$")


@dataclass(frozen=True)
class LogEntry:
    time: datetime
    stream: str
    text: str  # with its newline when the line is complete


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: an RFC 3339 time or a duration back from now (``10s``, ``5m``, ``2h``)."""
    m = _DURATION.match(text)
    if m:
        seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since {text!r} is neither a time (2026-01-02T03:04:05Z) nor a duration (10m)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _parse_time(stamp: str) -> datetime:
    # conmon writes nanoseconds; datetime keeps microseconds
    head, dot, rest = stamp.partition(".")
    if dot:
        digits = re.match(r"\d*", rest)
        frac = digits.group(0) if digits else ""
        stamp = head + "." + frac[:6].ljust(6, "0") + rest[len(frac) :]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def parse_line(line: str) -> LogEntry | None:
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 3:
        return None
    try:
        when = _parse_time(parts[0])
    except ValueError:
        return None
    text = parts[3] if len(parts) == 4 else ""
    return LogEntry(when, parts[1], text if parts[2] == "P" else text + "\n")


def read_log(path: str) -> list[LogEntry]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except FileNotFoundError:
        return []
    return [e for e in (parse_line(line) for line in lines if line.endswith("\n")) if e is not None]


def follow_log(path: str, offset: int, alive: Callable[[], bool], interval: float = 0.1) -> Iterator[LogEntry]:
    """Entries written after byte ``offset`` until ``alive()`` is false and the file is drained."""
    pending = b""
    while True:
        running = alive()
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        offset += len(chunk)
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            entry = parse_line(raw.decode("utf-8", errors="replace"))
            if entry is not None:
                yield entry
        if not running and not chunk:
            return
        time.sleep(interval)


def log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0
