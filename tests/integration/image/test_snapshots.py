"""Overlay and copy snapshotters with real mounts: shared layers, whiteouts in overlay form, commit."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from layer_tars import entry, make_tar

from ketch.image.blobs import put_layer
from ketch.image.build import new_config, write_image
from ketch.image.bundle import unpack_rootfs
from ketch.image.commit import commit_rootfs
from ketch.image.gc import collect
from ketch.image.resolve import load_image
from ketch.image.snapshot import CopySnapshotter, OverlaySnapshotter
from ketch.image.store import ImageStore
from ketch.linux.mount import MNT_DETACH
from ketch.linux.mount import umount2 as umount

pytestmark = [pytest.mark.root]


BASE = make_tar(
    entry("d", "dir"),
    entry("d/lower", data=b"l"),
    entry("keep", "dir"),
    entry("keep/a", data=b"a"),
    entry("keep/b", data=b"b"),
)
TOP = make_tar(entry("d/.wh..wh..opq"), entry("d/upper", data=b"u"), entry("keep/.wh.a"))
OTHER = make_tar(entry("other", data=b"o"))


def image(store: ImageStore, name: str, *tars: bytes) -> str:
    layers, diff_ids = [], []
    for t in tars:
        d, diff = put_layer(store.content, io.BytesIO(t))
        layers.append(d)
        diff_ids.append(diff)
    write_image(store, new_config(diff_ids), layers, name=name)
    return name


@pytest.fixture
def mountpoint(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    target = tmp_path / "mnt"
    target.mkdir()
    yield target
    try:
        umount(str(target), MNT_DETACH)
    except OSError:
        pass


def test_overlay_rootfs(store: ImageStore, mountpoint: Path, tmp_path: Path) -> None:
    image(store, "two", BASE, TOP)
    image(store, "shares-base", BASE, OTHER)
    snap = OverlaySnapshotter(store.root)
    img = load_image(store.content, store.get("two").target)
    other = load_image(store.content, store.get("shares-base").target)
    mounts = snap.prepare("c1", store.content, img)
    snap.prepare("c2", store.content, other)
    assert len(snap.layers()) == 3  # BASE unpacked once for both images
    assert mounts[0].type == "overlay" and mounts[0].options[0].startswith("lowerdir=")
    top_dir = Path(snap.layer_path(img.layers[1][1]))
    assert os.getxattr(top_dir / "d", "trusted.overlay.opaque") == b"y"
    wh = (top_dir / "keep" / "a").lstat()
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    snap.mount("c1", str(mountpoint))
    assert sorted(os.listdir(mountpoint / "d")) == ["upper"]
    assert sorted(os.listdir(mountpoint / "keep")) == ["b"]
    (mountpoint / "new").write_text("written")
    (mountpoint / "keep" / "b").unlink()
    umount(str(mountpoint))
    upper = Path(snap.changes_dir("c1"))
    assert (upper / "new").read_text() == "written"
    # commit the container's changes from the upper dir, then check the new image's tree
    commit_rootfs(store, "two", str(upper), "committed", upper=True)
    out = tmp_path / "out"
    out.mkdir()
    unpack_rootfs(store.content, load_image(store.content, store.get("committed").target), str(out))
    assert (out / "new").read_text() == "written"
    assert os.listdir(out / "keep") == []
    assert sorted(os.listdir(out / "d")) == ["upper"]
    # layers used by active snapshots survive collection even when their image is gone
    store.delete("shares-base")
    assert collect(store).snapshots == []
    snap.remove("c2")
    assert [str(d) for d in collect(store).snapshots] == [str(other.layers[1][1])]
    snap.remove("c1")


def test_copy_snapshotter(store: ImageStore, mountpoint: Path) -> None:
    image(store, "two", BASE, TOP)
    snap = CopySnapshotter(store.root)
    img = load_image(store.content, store.get("two").target)
    snap.prepare("c1", store.content, img)
    snap.mount("c1", str(mountpoint))
    assert sorted(os.listdir(mountpoint / "d")) == ["upper"]
    assert sorted(os.listdir(mountpoint / "keep")) == ["b"]
    umount(str(mountpoint))
    snap.remove("c1")
    assert snap.active() == []


def test_failed_unpack_leaves_no_layer(store: ImageStore) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    image(store, "bad", make_tar(entry("../x", data=b"x")))
    snap = OverlaySnapshotter(store.root)
    from ketch.image.errors import UnsafeLayerEntry

    with pytest.raises(UnsafeLayerEntry):
        snap.prepare("c1", store.content, load_image(store.content, store.get("bad").target))
    assert snap.layers() == [] and snap.active() == []
    assert os.listdir(snap.tmp_dir) == []


def test_default_snapshotter_is_overlay_as_root(store: ImageStore) -> None:
    from ketch.image.snapshot import default_snapshotter, overlay_supported

    if not overlay_supported():
        pytest.skip("no overlayfs here")
    assert default_snapshotter(store.root).name == "overlay"
