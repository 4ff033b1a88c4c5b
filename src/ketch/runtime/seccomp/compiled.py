"""The result of compiling a profile, as the compiler makes it and the cache stores it."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Compiled"]


class Compiled(NamedTuple):
    bpf: bytes  # struct sock_filter[], host byte order
    skipped: tuple[str, ...]  # system call names libseccomp does not know, left out of the filter
