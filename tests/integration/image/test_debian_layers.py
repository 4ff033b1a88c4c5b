"""A six-layer Debian image (debootstrap minbase, ~190 MB) unpacks with ketch to exactly umoci's tree.

The debootstrap tree is made once per test session (skipped with the reason when Debian's mirror cannot be
reached). Compared: the list of paths, full st_mode, owners, sizes, content hashes, symlink targets, device
numbers, every extended attribute, mtimes and the hardlink sets.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from debian_image import build_debian_image, debootstrap, tree_manifest
from image_peers import need

from ketch.image.bundle import unpack_bundle
from ketch.image.layout import export_layout
from ketch.image.resolve import Image, load_image
from ketch.image.snapshot import OverlaySnapshotter
from ketch.image.store import ImageStore
from ketch.linux.mount import MNT_DETACH
from ketch.linux.mount import umount2 as umount

pytestmark = [pytest.mark.root, pytest.mark.peer, pytest.mark.slow]

NAME = "example.com/debian:six-layers"


@pytest.fixture(scope="session")
def debian_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need("debootstrap")
    dest = tmp_path_factory.mktemp("debootstrap") / "rootfs"
    why = debootstrap(str(dest))
    if why is not None:
        shutil.rmtree(dest, ignore_errors=True)
        pytest.skip(why)
    yield str(dest)
    shutil.rmtree(dest, ignore_errors=True)


@pytest.fixture(scope="module")
def debian(debian_tree: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ImageStore, Image]]:
    work = tmp_path_factory.mktemp("debian-image")
    store = ImageStore(str(work / "root"), durable=False)
    build_debian_image(store, debian_tree, str(work / "build"), NAME)
    shutil.rmtree(work / "build")
    yield store, load_image(store.content, store.get(NAME).target)
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def umoci_tree(debian: tuple[ImageStore, Image], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    need("umoci")
    store, _image = debian
    work = tmp_path_factory.mktemp("umoci")
    export_layout(store, [NAME], str(work / "layout"), ref_names="tag")
    r = subprocess.run(
        ["umoci", "unpack", "--image", f"{work / 'layout'}:six-layers", str(work / "bundle")],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    manifest = tree_manifest(str(work / "bundle" / "rootfs"), mtimes=True)
    shutil.rmtree(work, ignore_errors=True)
    return manifest


def assert_same(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    a, b = ours["entries"], theirs["entries"]
    assert sorted(set(a) - set(b)) == [], "only in ketch's tree"
    assert sorted(set(b) - set(a)) == [], "only in umoci's tree"
    differ = {p: (a[p], b[p]) for p in a if a[p] != b[p]}
    assert differ == {}
    assert ours["hardlinks"] == theirs["hardlinks"]


def test_layers_are_what_the_builder_made(debian: tuple[ImageStore, Image]) -> None:
    _store, image = debian
    assert len(image.layers) == 6
    assert sum(layer.size for layer, _ in image.layers) > 40 << 20


def test_unpack_matches_umoci(
    debian: tuple[ImageStore, Image], umoci_tree: dict[str, Any], tmp_path: Path
) -> None:
    store, image = debian
    unpack_bundle(store.content, image, str(tmp_path / "bundle"))
    rootfs = tmp_path / "bundle" / "rootfs"
    ours = tree_manifest(str(rootfs), mtimes=True)
    # the layers' changes are there (so the comparison cannot pass on two equally broken trees)
    assert (rootfs / "etc" / "motd").read_bytes() == b"recreated in layer five\n"
    assert stat.S_IMODE((rootfs / "etc" / "motd").stat().st_mode) == 0o640
    assert sorted(os.listdir(rootfs / "usr" / "share" / "locale")) == ["added-later", "locale.alias"]
    assert os.readlink(rootfs / "usr" / "share" / "doc" / "apt") == "../doc/apt-utils"
    assert (rootfs / "srv" / "was-dir").is_file() and (rootfs / "srv" / "was-file" / "now-a-dir").is_file()
    assert not os.path.lexists(rootfs / "srv" / "fifo") and not os.path.lexists(
        rootfs / "srv" / "data" / "two"
    )
    assert os.getxattr(rootfs / "usr" / "local" / "bin" / "cap-tool", "security.capability")
    assert os.getxattr(rootfs / "srv" / "data" / "tagged", "user.colour") == b"blue"
    suid = (rootfs / "usr" / "local" / "bin" / "suid-tool").stat()
    assert (stat.S_IMODE(suid.st_mode), suid.st_gid) == (0o4755, 50)
    assert stat.S_ISCHR((rootfs / "srv" / "null").lstat().st_mode)
    assert ["usr/bin/perl", "usr/bin/perl5.36.0"] in ours["hardlinks"]
    assert_same(ours, umoci_tree)


def test_overlay_snapshot_matches_umoci(
    debian: tuple[ImageStore, Image], umoci_tree: dict[str, Any], tmp_path: Path
) -> None:
    store, image = debian
    snap = OverlaySnapshotter(store.root)
    snap.prepare("debian", store.content, image)
    target = tmp_path / "mnt"
    target.mkdir()
    snap.mount("debian", str(target))
    try:
        ours = tree_manifest(str(target), mtimes=True)
    finally:
        umount(str(target), MNT_DETACH)
        snap.remove("debian")
    assert_same(ours, umoci_tree)
