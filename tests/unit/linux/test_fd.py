from __future__ import annotations

import os
from pathlib import Path

import pytest

from ketch.linux.fd import RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS, close_range, openat2


def test_openat2_in_root_contains_absolute_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside")
    (root / "escape").symlink_to("/etc/passwd")
    (root / "dots").symlink_to("../../../../../etc/passwd")
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for name in ("escape", "dots"):
            fd = openat2(rootfd, name, os.O_RDONLY, resolve=RESOLVE_IN_ROOT)
            try:
                assert os.read(fd, 100) == b"inside"
            finally:
                os.close(fd)
        with pytest.raises(OSError) as info:
            openat2(rootfd, "escape", os.O_RDONLY, resolve=RESOLVE_NO_SYMLINKS)
        assert info.value.filename == "escape"
    finally:
        os.close(rootfd)


def test_close_range_closes(tmp_path: Path) -> None:
    r, w = os.pipe()
    lo = min(r, w)
    close_range(lo, max(r, w))
    with pytest.raises(OSError):
        os.fstat(r)
    with pytest.raises(OSError):
        os.fstat(w)
