"""Crafting layer tars in memory for the tests."""

from __future__ import annotations

import io
import tarfile
from typing import Any


def entry(name: str, kind: str = "file", data: bytes = b"", **kw: Any) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "fifo": tarfile.FIFOTYPE,
        "chr": tarfile.CHRTYPE,
        "blk": tarfile.BLKTYPE,
    }[kind]
    ti.mode = kw.pop("mode", 0o755 if kind == "dir" else 0o644)
    ti.mtime = kw.pop("mtime", 1_600_000_000)
    ti.size = len(data) if kind == "file" else 0
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def make_tar(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in entries:
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()
