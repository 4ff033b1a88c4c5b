"""apply_layer: compressed layers from the store, digest and DiffID checks, broken streams."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest
import zstandard
from image_testkit import MakeImage
from layer_tars import entry, make_tar

from ketch._common.digest import Digest
from ketch.image.blobs import put_layer
from ketch.image.content import write_blob
from ketch.image.errors import BlobInvalid, CorruptLayer, UnsupportedMediaType
from ketch.image.layer import apply_layer
from ketch.image.store import ImageStore
from ketch.spec.image import MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD, Descriptor

TAR = make_tar(
    entry("etc", "dir"), entry("etc/hello", data=b"world" * 1000), entry("big", data=os.urandom(200000))
)


@pytest.mark.parametrize("compression", ["", "gzip", "zstd"])
def test_each_compression(store: ImageStore, tmp_path: Path, compression: str) -> None:
    desc, diff_id = put_layer(store.content, io.BytesIO(TAR), compression)
    assert diff_id == Digest.from_bytes(TAR)
    target = tmp_path / "t"
    target.mkdir()
    stats = apply_layer(store.content, desc, str(target), diff_id=diff_id)
    assert (target / "etc" / "hello").read_bytes() == b"world" * 1000
    assert stats.entries == 3


def _blob(store: ImageStore, media_type: str, data: bytes) -> Descriptor:
    d = Descriptor.for_bytes(media_type, data)
    write_blob(store.content, data, d.digest, d.size)
    return d


def test_truncated_gzip(store: ImageStore, tmp_path: Path) -> None:
    data = gzip.compress(TAR)
    d = _blob(store, MT_OCI_LAYER_GZIP, data[: len(data) // 2])
    with pytest.raises(CorruptLayer, match=f"layer {d.digest}: invalid gzip data"):
        apply_layer(store.content, d, str(tmp_path))


def test_truncated_zstd(store: ImageStore, tmp_path: Path) -> None:
    data = zstandard.ZstdCompressor().compress(TAR)
    d = _blob(store, MT_OCI_LAYER_ZSTD, data[: len(data) - 100])
    with pytest.raises(CorruptLayer, match=r"invalid zstd data.*truncated"):
        apply_layer(store.content, d, str(tmp_path))


def test_gzip_garbage(store: ImageStore, tmp_path: Path) -> None:
    d = _blob(store, MT_OCI_LAYER_GZIP, b"\x1f\x8b" + b"\x00" * 100)
    with pytest.raises(CorruptLayer, match="invalid gzip data"):
        apply_layer(store.content, d, str(tmp_path))


def test_blob_changed_on_disk(store: ImageStore, tmp_path: Path) -> None:
    desc, diff_id = put_layer(store.content, io.BytesIO(TAR), "gzip")
    path = store.content.blob_path(desc.digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:  # flip a byte in the stored blob
        f.seek(desc.size - 5)
        b = f.read(1)
        f.seek(desc.size - 5)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises((BlobInvalid, CorruptLayer)):
        apply_layer(store.content, desc, str(tmp_path), diff_id=diff_id)


def test_diff_id_mismatch(store: ImageStore, tmp_path: Path) -> None:
    desc, _ = put_layer(store.content, io.BytesIO(TAR), "gzip")
    wrong = Digest.from_bytes(b"other")
    with pytest.raises(BlobInvalid, match=f"config says {wrong}"):
        apply_layer(store.content, desc, str(tmp_path), diff_id=wrong)


def test_unknown_media_type(store: ImageStore, tmp_path: Path) -> None:
    d = _blob(store, "application/x-rar", b"x")
    with pytest.raises(UnsupportedMediaType, match="application/x-rar"):
        apply_layer(store.content, d, str(tmp_path))


def test_make_image_fixture(make_image: MakeImage, store: ImageStore) -> None:
    desc = make_image(TAR, name="t")
    assert store.get("t").target == desc
