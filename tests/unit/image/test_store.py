"""ImageStore: names to descriptors, resolution by name/digest/prefix, atomic updates, leases."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ketch._common.digest import Digest
from ketch.image.blobs import put_json
from ketch.image.errors import BlobNotFound, ImageNotFound
from ketch.image.store import ImageStore
from ketch.spec.image import MT_OCI_MANIFEST, Descriptor
from ketch.spec.reference import InvalidReference


def manifest(store: ImageStore, n: int = 0) -> Descriptor:
    return put_json(store.content, MT_OCI_MANIFEST, {"schemaVersion": 2, "n": n})


def test_put_get_normalised(store: ImageStore) -> None:
    d = manifest(store)
    store.put("busybox", d)
    assert store.get("docker.io/library/busybox:latest").target == d
    assert [r.name for r in store.images()] == ["docker.io/library/busybox:latest"]
    doc = json.loads(Path(store.root, "images.json").read_text())
    assert doc["images"][0]["target"]["digest"] == d.digest


def test_resolve_by_digest_and_prefix(store: ImageStore) -> None:
    d = manifest(store)
    store.put("a", d)
    store.put("b", d)
    assert store.resolve(str(d.digest)).target == d
    assert store.resolve(d.digest.hex[:8]).target == d
    with pytest.raises(ImageNotFound, match="not found"):
        store.resolve("nope")


def test_ambiguous_prefix(store: ImageStore) -> None:
    seen: dict[str, Descriptor] = {}
    n = 0
    while True:  # two manifests whose digests share 4 hex digits (birthday bound: a few hundred)
        d = manifest(store, n)
        n += 1
        if d.digest.hex[:4] in seen:
            break
        seen[d.digest.hex[:4]] = d
    store.put("one", seen[d.digest.hex[:4]])
    store.put("two", d)
    with pytest.raises(ImageNotFound, match="ambiguous"):
        store.resolve(d.digest.hex[:4])
    assert store.resolve(d.digest.hex[:12]).target == d
    with pytest.raises(ImageNotFound):
        store.resolve(d.digest.hex[:3])  # too short to be taken as a prefix


def test_refuses_missing_blob_and_bad_names(store: ImageStore) -> None:
    ghost = Descriptor(MT_OCI_MANIFEST, Digest.from_bytes(b"ghost"), 5)
    with pytest.raises(BlobNotFound):
        store.put("x", ghost)
    with pytest.raises(InvalidReference):
        store.put("UPPER", manifest(store))
    assert store.images() == []


def test_delete(store: ImageStore) -> None:
    store.put("x", manifest(store))
    store.delete("x:latest")
    with pytest.raises(ImageNotFound):
        store.delete("x")
    assert store.images() == []


def test_pins(store: ImageStore) -> None:
    d = Digest.from_bytes(b"x")
    store.pin("pull-1", [d])
    assert store.pinned() == {d}
    store.release_lease("pull-1")
    assert store.pinned() == set()
    with pytest.raises(ImageNotFound):
        store.release_lease("pull-1")


def test_no_temp_files_left(store: ImageStore) -> None:
    store.put("x", manifest(store))
    leftovers = [n for n in os.listdir(store.root) if ".tmp" in n]
    assert leftovers == []
