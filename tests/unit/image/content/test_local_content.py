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


def test_crash_mid_ingest_leaves_nothing_and_resumes(tmp_path: Path) -> None:
    """A writer process killed mid-blob: no blob appears, and the ingest resumes from where it stopped."""
    import subprocess
    import sys

    data = os.urandom(300_000)
    d = digest_of(data)
    (tmp_path / "data").write_bytes(data)
    script = f"""
import os, sys
from ketch.image.content import LocalContentStore
from ketch._common.digest import Digest
store = LocalContentStore({str(tmp_path / "store")!r})
w = store.writer("crashy", Digest({str(d)!r}), {len(data)})
w.write(open({str(tmp_path / "data")!r}, "rb").read()[:100_000])
os._exit(9)  # dies without commit, close or abort
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert subprocess.run([sys.executable, "-c", script], env=env, timeout=60).returncode == 9
    store = LocalContentStore(str(tmp_path / "store"))
    assert list(store.walk()) == []
    assert store.ingests() == ["crashy"]
    w = store.writer("crashy", d, len(data))  # the dead writer's lock went with its process
    assert w.offset == 100_000
    w.write(data[w.offset :])
    assert w.commit().size == len(data)
    assert store.ingests() == []
