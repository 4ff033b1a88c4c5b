"""The result of compiling a profile, as the compiler makes it and the cache stores it."""

from __future__ import annotations

from ketch._common.record import Record

__all__ = ["Compiled"]


class Compiled(Record):
    __slots__ = ("bpf", "skipped")

    def __init__(self, bpf: bytes, skipped: tuple[str, ...]) -> None:  # fmt: skip
        self.bpf = bpf  # struct sock_filter[], host byte order
        self.skipped = skipped  # system call names libseccomp does not know, left out of the filter
