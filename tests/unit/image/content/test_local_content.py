"""LocalContentStore against the ContentStore contract, plus its on-disk shape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from content_conformance import ContentStoreConformance, digest_of

from ketch.image.content import LocalContentStore, write_blob
from ketch.image.errors import BlobInvalid


class TestLocalContentStore(ContentStoreConformance):
    @pytest.fixture(autouse=True)
    def _store(self, tmp_path: Path) -> None:
        self.store = LocalContentStore(str(tmp_path / "content"))


def test_layout_and_no_temp_files_left(tmp_path: Path) -> None:
    store = LocalContentStore(str(tmp_path))
    d = write_blob(store, b"hello", digest_of(b"hello"), 5).digest
    assert (tmp_path / "blobs" / "sha256" / d.hex).read_bytes() == b"hello"
    assert os.listdir(tmp_path / "ingest") == []


def test_write_blob_from_stream_and_mismatch(tmp_path: Path) -> None:
    import io

    store = LocalContentStore(str(tmp_path))
    d = digest_of(b"data")
    assert write_blob(store, io.BytesIO(b"data"), d).size == 4
    with pytest.raises(BlobInvalid):
        write_blob(store, b"other", digest_of(b"expected"))
    assert [b.digest for b in store.walk()] == [d]
    assert os.listdir(tmp_path / "ingest") == []


def test_stray_files_are_not_blobs(tmp_path: Path) -> None:
    store = LocalContentStore(str(tmp_path))
    (tmp_path / "blobs" / "sha256").mkdir(parents=True)
    (tmp_path / "blobs" / "sha256" / "not-a-digest").write_text("x")
    assert list(store.walk()) == []


def test_ingests_are_listed_by_ref(tmp_path: Path) -> None:
    store = LocalContentStore(str(tmp_path))
    w = store.writer("pull/layer1", digest_of(b"x"), 1)
    w.close()
    assert store.ingests() == ["pull/layer1"]
