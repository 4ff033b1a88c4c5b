"""Garbage collection: what it removes, and what it must never remove."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from registry_helpers import image_manifest, sha256

from ketch._common.digest import Digest
from ketch.registry.storage import RegistryStore
from ketch.registry.storage.driver import FilesystemDriver
from ketch.registry.storage.gc import collect_garbage

CT = "application/vnd.oci.image.manifest.v1+json"


def _age(root: Path) -> None:
    """Make every stored blob look a day old."""
    old = time.time() - 86400
    for p in (root / "v2" / "blobs").rglob("data"):
        os.utime(p, (old, old))


def _setup(tmp_path: Path) -> tuple[RegistryStore, Digest, Digest]:
    s = RegistryStore(FilesystemDriver(str(tmp_path)))
    for blob in (b"{}", b"kept layer", b"orphan"):
        s.put_blob("r", blob, Digest(sha256(blob)))
    res = s.put_manifest("r", "t", image_manifest(b"{}", [b"kept layer"]), CT)
    return s, res.digest, Digest(sha256(b"orphan"))


def test_unreferenced_old_blob_is_collected(tmp_path: Path) -> None:
    s, manifest, orphan = _setup(tmp_path)
    _age(tmp_path)
    result = collect_garbage(s, grace=3600)
    assert result.blobs_deleted == 1 and result.bytes_freed == len(b"orphan")
    assert not s.blobs.exists(orphan)
    assert not s.blobs.is_linked("r", orphan)
    for blob in (b"{}", b"kept layer"):
        assert s.blobs.exists(Digest(sha256(blob)))
    assert s.manifests.get("r", "t")[0].digest == manifest


def test_fresh_blob_survives_grace_period(tmp_path: Path) -> None:
    s, _, orphan = _setup(tmp_path)
    # an upload just completed: its manifest is not pushed yet
    assert collect_garbage(s, grace=3600).blobs_deleted == 0
    assert s.blobs.exists(orphan)


def test_reupload_refreshes_an_old_blob(tmp_path: Path) -> None:
    s, _, orphan = _setup(tmp_path)
    _age(tmp_path)
    s.put_blob("other", b"orphan", orphan)  # pushed again (deduplicated): now fresh
    assert collect_garbage(s, grace=3600).blobs_deleted == 0


def test_in_flight_upload_untouched(tmp_path: Path) -> None:
    s, _, _ = _setup(tmp_path)
    info = s.uploads.start("r")
    ap = s.uploads.open_append("r", info.id)
    ap.write(b"half")
    ap.finish()
    _age(tmp_path)
    collect_garbage(s, grace=0, upload_max_age=3600)
    assert s.uploads.info("r", info.id).size == 4


def test_untagged_manifests(tmp_path: Path) -> None:
    s, first, _ = _setup(tmp_path)
    s.put_blob("r", b"new layer", Digest(sha256(b"new layer")))
    second = s.put_manifest("r", "t", image_manifest(b"{}", [b"new layer"]), CT).digest  # moves the tag
    _age(tmp_path)
    kept = collect_garbage(s, grace=3600)
    assert kept.manifests_deleted == 0 and s.manifests.stat("r", str(first))
    result = collect_garbage(s, grace=3600, untagged=True)
    assert result.manifests_deleted == 1
    assert s.manifests.stat("r", str(second)).digest == second
    assert not s.blobs.exists(Digest(sha256(b"kept layer")))
    assert s.blobs.exists(Digest(sha256(b"new layer")))


@pytest.mark.peer
@pytest.mark.slow
def test_gc_over_s3(s3_endpoint: str) -> None:
    import uuid

    from registry_helpers import S3_ACCESS_KEY, S3_SECRET_KEY

    from ketch.registry.storage.driver.s3 import S3Driver

    driver = S3Driver(
        s3_endpoint, "gc-test", uuid.uuid4().hex, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY
    )
    s = RegistryStore(driver)
    for blob in (b"{}", b"kept layer", b"orphan"):
        s.put_blob("r", blob, Digest(sha256(blob)))
    s.put_manifest("r", "t", image_manifest(b"{}", [b"kept layer"]), CT)
    # object stores keep their own modification times: look from a day later instead of ageing files
    result = collect_garbage(s, grace=3600, now=time.time() + 86400)
    assert result.blobs_deleted == 1
    assert not s.blobs.exists(Digest(sha256(b"orphan"))) and not s.blobs.is_linked(
        "r", Digest(sha256(b"orphan"))
    )
    assert s.blobs.get(Digest(sha256(b"kept layer"))) == b"kept layer"
    assert collect_garbage(s, grace=3600).blobs_deleted == 0
