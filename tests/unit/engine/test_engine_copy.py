"""``ketch cp`` resolution: symlinks inside the container's root never reach the host's files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ketch.engine.copy import copy_in, copy_out
from ketch.engine.errors import NotFound


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    rootfs = tmp_path / "rootfs"
    outside = tmp_path / "outside"
    host = tmp_path / "host"
    for d in (rootfs / "etc", outside, host):
        d.mkdir(parents=True)
    (outside / "secret").write_text("host secret\n")
    (rootfs / "etc" / "secret").write_text("container secret\n")
    os.symlink(str(outside), rootfs / "abs")  # absolute: resolves to <rootfs>/<tmp>/outside
    os.symlink("../../../../../../../../etc", rootfs / "up")  # climbs: stops at the container's /
    return rootfs, outside, host


def test_symlinks_resolve_inside_the_root(layout: tuple[Path, Path, Path]) -> None:
    rootfs, _outside, host = layout
    with pytest.raises(NotFound, match="does not exist in the container"):
        copy_out(str(rootfs), "/abs/secret", str(host / "x"))
    copy_out(str(rootfs), "/up/secret", str(host / "y"))
    assert (host / "y").read_text() == "container secret\n"  # the container's /etc, not the host's


def test_copy_in_never_writes_through_links(layout: tuple[Path, Path, Path]) -> None:
    rootfs, outside, host = layout
    (host / "f").write_text("new\n")
    with pytest.raises(NotFound):
        copy_in(str(host / "f"), str(rootfs), "/abs/f")
    assert not (outside / "f").exists()
    os.symlink(str(outside / "secret"), rootfs / "etc" / "target")
    copy_in(str(host / "f"), str(rootfs), "/etc/target")  # replaces the link itself
    assert (outside / "secret").read_text() == "host secret\n"
    assert (rootfs / "etc" / "target").read_text() == "new\n" and not (rootfs / "etc" / "target").is_symlink()


def test_directories_copy_recursively_with_links_as_links(layout: tuple[Path, Path, Path]) -> None:
    rootfs, _outside, host = layout
    (rootfs / "d" / "sub").mkdir(parents=True)
    (rootfs / "d" / "sub" / "f").write_text("deep\n")
    os.symlink("/etc/passwd", rootfs / "d" / "link")
    copy_out(str(rootfs), "/d", str(host))  # onto an existing directory: inside it
    assert (host / "d" / "sub" / "f").read_text() == "deep\n"
    assert os.readlink(host / "d" / "link") == "/etc/passwd"
    copy_in(str(host / "d"), str(rootfs), "/etc")
    assert (rootfs / "etc" / "d" / "sub" / "f").read_text() == "deep\n"
