"""Garbage collection (roots: images, pins, active snapshots; leases) and commit from a changed tree."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from pathlib import Path

from image_testkit import MakeImage
from layer_tars import entry, make_tar

from ketch._common.digest import Digest
from ketch.image.blobs import read_verified
from ketch.image.bundle import unpack_rootfs
from ketch.image.commit import commit_rootfs
from ketch.image.content import write_blob
from ketch.image.gc import collect
from ketch.image.resolve import load_image
from ketch.image.store import ImageStore

L1 = make_tar(entry("bin", "dir"), entry("bin/a", data=b"a"), entry("bin/b", data=b"b"))
L2 = make_tar(entry("etc", "dir"), entry("etc/x", data=b"x"))


def blobs(store: ImageStore) -> set[Digest]:
    return {b.digest for b in store.content.walk()}


def test_collect_keeps_reachable_and_removes_the_rest(store: ImageStore, make_image: MakeImage) -> None:
    a = make_image(L1, name="a")
    make_image(L1, L2, name="b")  # shares L1 with a
    keep_a = blobs(store)
    stray = Digest.from_bytes(b"stray")
    write_blob(store.content, b"stray", stray)
    result = collect(store)
    assert result.blobs == [stray]
    store.delete("b")
    collect(store)
    image_a = load_image(store.content, a)
    expected = {a.digest, image_a.manifest.config.digest, *[d.digest for d in image_a.manifest.layers]}
    assert blobs(store) == expected
    assert expected <= keep_a


def test_pinned_content_survives(store: ImageStore) -> None:
    d = Digest.from_bytes(b"pinned")
    write_blob(store.content, b"pinned", d)
    store.pin("download-1", [d])
    assert collect(store).blobs == []
    store.release_lease("download-1")
    assert collect(store).blobs == [d]


def test_lease_holds_off_the_collector(store: ImageStore) -> None:
    d = Digest.from_bytes(b"in flight")
    done = threading.Event()
    with store.lease():
        write_blob(store.content, b"in flight", d)
        t = threading.Thread(target=lambda: (collect(store), done.set()))
        t.start()
        assert not done.wait(0.3)  # blocked while the lease is held
        assert d in blobs(store)
    t.join()
    assert d not in blobs(store)  # named by nothing once the lease ended


def test_commit_from_changed_tree(store: ImageStore, make_image: MakeImage, tmp_path: Path) -> None:
    make_image(L1, L2, name="base", cmd=["sh"])
    base = load_image(store.content, store.get("base").target)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    unpack_rootfs(store.content, base, str(rootfs))
    (rootfs / "bin" / "a").unlink()
    (rootfs / "etc" / "new").write_text("new")
    (rootfs / "bin" / "b").write_text("changed!")
    desc = commit_rootfs(store, "base", str(rootfs), "derived", comment="my change")
    img = load_image(store.content, desc)
    assert len(img.layers) == 3
    assert img.config.config is not None and img.config.config.cmd == ["sh"]
    assert img.config.history is not None and img.config.history[-1].comment == "my change"
    layer = img.manifest.layers[-1]
    import gzip

    with (
        store.content.open(layer.digest) as f,
        tarfile.open(fileobj=io.BytesIO(gzip.decompress(f.read()))) as t,
    ):
        names = t.getnames()
    assert "bin/.wh.a" in names and "etc/new" in names and "bin/b" in names and "etc/x" not in names
    # the committed image unpacks to the changed tree
    out = tmp_path / "out"
    out.mkdir()
    unpack_rootfs(store.content, img, str(out))
    assert sorted(os.listdir(out / "bin")) == ["b"]
    assert (out / "bin" / "b").read_text() == "changed!"
    assert (out / "etc" / "new").read_text() == "new"
    assert read_verified(store.content, img.manifest.config)
