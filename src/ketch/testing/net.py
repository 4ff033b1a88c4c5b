"""Free TCP ports on 127.0.0.1 for servers the tests and benchmarks start (registries, ketchd, httpd)."""

from __future__ import annotations

import random
import socket

__all__ = ["free_port", "free_ports"]


def free_ports(n: int, first: int = 15000, last: int = 16000) -> list[int]:
    """``n`` ports in [first, last) that could be bound just now, in random order: callers in parallel
    (two suites, a bench beside a test run) rarely pick the same one, and none collides with the kernel's
    ephemeral range, where clients' ports come from."""
    candidates = list(range(first, last))
    random.shuffle(candidates)
    out: list[int] = []
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        out.append(port)
        if len(out) == n:
            return out
    raise RuntimeError(f"not enough free ports in {first}-{last - 1}")


def free_port(first: int = 15000, last: int = 16000) -> int:
    return free_ports(1, first, last)[0]
