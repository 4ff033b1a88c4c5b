"""layer.stream: the forward-only chunk reader and the producer thread behind apply_layer."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from pathlib import Path

import pytest
from layer_tars import entry, make_tar

from ketch._common.digest import Digest
from ketch.image.blobs import put_layer
from ketch.image.errors import UnsafeLayerEntry
from ketch.image.layer import apply_layer
from ketch.image.layer.stream import CHUNK, ChunkReader, LayerStream
from ketch.image.store import ImageStore


def chunks_of(data: bytes, size: int) -> ChunkReader:
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return ChunkReader(lambda: parts.pop(0) if parts else b"")


def test_reader_reads_across_chunks_and_seeks_forward_only() -> None:
    data = bytes(range(256)) * 40
    r = chunks_of(data, 1000)
    assert r.read(10) == data[:10]
    assert r.read(1500) == data[10:1510]  # spans two chunks
    assert r.tell() == 1510
    assert r.seek(4000) == 4000
    assert b"".join(bytes(v) for v in r.views(2500)) == data[4000:6500]
    with pytest.raises(io.UnsupportedOperation):
        r.seek(10)
    assert r.read() == data[6500:]
    assert r.read(5) == b"" and r.seek(len(data) + 100) == len(data)  # past the end: stays at the end


def test_tarfile_reads_headers_through_the_reader() -> None:
    tar = make_tar(entry("a", data=b"x" * 3000), entry("d", "dir"), entry("d/b", data=b"y" * 10))
    with tarfile.open(fileobj=chunks_of(tar, 700), mode="r:") as t:  # type: ignore[call-overload]
        assert [m.name for m in t] == ["a", "d", "d/b"]


def test_stream_hashes_everything_and_ends(store: ImageStore) -> None:
    tar = make_tar(entry("big", data=os.urandom(3 * CHUNK + 5)))
    desc, diff_id = put_layer(store.content, io.BytesIO(tar), "gzip")
    with LayerStream(store.content, desc, "gzip", "sha256") as s:
        assert s.reader.read(512)[:3] == b"big"
        assert s.finish() == diff_id == Digest.from_bytes(tar)


def test_producer_stops_when_the_applier_fails(store: ImageStore, tmp_path: Path) -> None:
    # an unsafe entry right after a big one: the applier stops early, the producer must not linger
    tar = make_tar(entry("big", data=os.urandom(12 * CHUNK)), entry("../escape", data=b"x"))
    desc, diff_id = put_layer(store.content, io.BytesIO(tar), "gzip")
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(UnsafeLayerEntry, match="escapes the root"):
        apply_layer(store.content, desc, str(tmp_path), diff_id=diff_id)
    assert [t.name for t in threading.enumerate() if t.ident not in before] == []
