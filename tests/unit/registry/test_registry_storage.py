"""The storage layer without HTTP: uploads shared between store instances, deduplication, manifests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from registry_helpers import image_manifest, sha256

from ketch._common.digest import Digest
from ketch.registry.storage import (
    DigestMismatch,
    ManifestBlobUnknown,
    ManifestUnknown,
    RegistryStore,
    UploadInvalid,
    UploadOutOfOrder,
    UploadUnknown,
)
from ketch.registry.storage.driver import FilesystemDriver


def _store(root: Path) -> RegistryStore:
    return RegistryStore(FilesystemDriver(str(root)))


def test_upload_started_in_one_store_finished_in_another(tmp_path: Path) -> None:
    a, b = _store(tmp_path), _store(tmp_path)  # two processes sharing storage, each with its own cache
    data = os.urandom(100_000)
    info = a.uploads.start("r")
    ap = a.uploads.open_append("r", info.id, 0)
    ap.write(data[:40_000])
    ap.finish()
    bp = b.uploads.open_append("r", info.id, 40_000)
    bp.write(data[40_000:70_000])
    bp.finish()
    # a's cached hash is now stale (b appended): completion must rehash rather than trust it
    ap2 = a.uploads.open_append("r", info.id, 70_000)
    ap2.write(data[70_000:])
    ap2.finish()
    assert a.complete_upload("r", info.id, Digest(sha256(data))) == len(data)
    assert b.blobs.get(Digest(sha256(data))) == data
    with pytest.raises(UploadUnknown):
        b.uploads.info("r", info.id)


def test_out_of_order_chunk_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    s = _store(tmp_path)
    info = s.uploads.start("r")
    ap = s.uploads.open_append("r", info.id, 0)
    ap.write(b"12345")
    ap.finish()
    with pytest.raises(UploadOutOfOrder):
        s.uploads.open_append("r", info.id, 3)
    with pytest.raises(UploadOutOfOrder):
        s.uploads.open_append("r", info.id, 7)
    assert s.uploads.info("r", info.id).size == 5


def test_concurrent_append_is_refused(tmp_path: Path) -> None:
    s = _store(tmp_path)
    info = s.uploads.start("r")
    ap = s.uploads.open_append("r", info.id)
    with pytest.raises(UploadInvalid, match="another chunk"):
        s.uploads.open_append("r", info.id)
    ap.finish()


def test_digest_mismatch_leaves_no_blob(tmp_path: Path) -> None:
    s = _store(tmp_path)
    info = s.uploads.start("r")
    wrong = Digest(sha256(b"something else"))
    with pytest.raises(DigestMismatch):
        s.complete_upload("r", info.id, wrong, b"content")
    assert not s.blobs.exists(wrong)
    with pytest.raises(UploadUnknown):
        s.uploads.info("r", info.id)


def test_blobs_are_stored_once_for_all_repositories(tmp_path: Path) -> None:
    s = _store(tmp_path)
    d = Digest(sha256(b"same"))
    for repo in ("a", "b/c"):
        info = s.uploads.start(repo)
        s.complete_upload(repo, info.id, d, b"same")
    files = [p for p in (tmp_path / "v2" / "blobs").rglob("data")]
    assert len(files) == 1
    assert s.blobs.is_linked("a", d) and s.blobs.is_linked("b/c", d)


def test_unknown_upload_ids(tmp_path: Path) -> None:
    s = _store(tmp_path)
    for bad in ("0" * 32, "../../etc", "X" * 32):
        with pytest.raises(UploadUnknown):
            s.uploads.info("r", bad)


def test_manifest_references_checked_per_repository(tmp_path: Path) -> None:
    s = _store(tmp_path)
    for blob in (b"{}", b"L"):
        s.put_blob("a", blob, Digest(sha256(blob)))
    body = image_manifest(b"{}", [b"L"])
    ct = "application/vnd.oci.image.manifest.v1+json"
    with pytest.raises(ManifestBlobUnknown):
        s.put_manifest("b", "t", body, ct)  # blobs exist, but not in repository b
    res = s.put_manifest("a", "t", body, ct, ("u",))
    assert res.tags == ("t", "u")
    meta, got = s.manifests.get("a", "u")
    assert got == body and meta.media_type == ct
    with pytest.raises(ManifestUnknown):
        s.manifests.get("b", str(res.digest))


def test_foreign_layers_with_urls_need_not_be_stored(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.put_blob("a", b"{}", Digest(sha256(b"{}")))
    doc = json.loads(image_manifest(b"{}", [b"remote"]))
    doc["layers"][0]["urls"] = ["https://example.invalid/layer"]
    s.put_manifest("a", "t", json.dumps(doc).encode(), "application/vnd.oci.image.manifest.v1+json")


def test_catalog_lists_nested_repositories(tmp_path: Path) -> None:
    s = _store(tmp_path)
    for repo in ("z", "a/b/c", "a/b", "m-x"):
        s.put_blob(repo, b"x", Digest(sha256(b"x")))
    assert s.catalog() == ["a/b", "a/b/c", "m-x", "z"]


def test_session_left_unreadable_by_a_crash_is_unknown_then_purged(tmp_path: Path) -> None:
    """Session files are written without fsync: after a machine crash the info file may be empty. Such a
    session is BLOB_UPLOAD_UNKNOWN to clients and purged like any stale one (aged by its directory)."""
    s = _store(tmp_path)
    info = s.uploads.start("r")
    kept = s.uploads.start("r")
    info_file = tmp_path / "v2" / "repositories" / "r" / "_uploads" / info.id / "info"
    assert info_file.is_file(), sorted(p.name for p in info_file.parent.iterdir())
    info_file.write_bytes(b"")
    with pytest.raises(UploadUnknown):
        s.uploads.info("r", info.id)
    with pytest.raises(UploadUnknown):
        s.uploads.open_append("r", info.id, 0)
    assert s.uploads.purge("r", older_than=0) == []  # not old yet: kept
    removed = s.uploads.purge("r", older_than=kept.started + 3600)
    assert sorted(removed) == sorted([info.id, kept.id])
    assert not info_file.parent.exists()
