"""Signal names and numbers as ``kill`` accepts them: ``KILL``, ``SIGKILL``, ``9``, ``RTMIN+3``."""

from __future__ import annotations

import signal

__all__ = ["parse_signal"]


def parse_signal(value: str) -> int:
    text = value.strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
        raise ValueError(f"invalid signal {value!r}: out of range")
    name = text if text.startswith("SIG") else "SIG" + text
    for prefix, base in (("SIGRTMIN", signal.SIGRTMIN), ("SIGRTMAX", signal.SIGRTMAX)):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            try:
                number = int(base) + (int(rest) if rest else 0)
            except ValueError:
                break
            if int(signal.SIGRTMIN) <= number <= int(signal.SIGRTMAX):
                return number
            raise ValueError(f"invalid signal {value!r}: out of range")
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"invalid signal {value!r}") from None
