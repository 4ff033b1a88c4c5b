"""The ContentStore contract, written once; each store's test module subclasses it with a ``store`` fixture."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import pytest

from ketch._common.digest import Digest
from ketch.image.errors import BlobInvalid, BlobNotFound, IngestBusy


def digest_of(data: bytes, alg: str = "sha256") -> Digest:
    return Digest(f"{alg}:{hashlib.new(alg, data).hexdigest()}")


class ContentStoreConformance:
    store: Any  # set by the fixture of the subclass

    def put(self, data: bytes, alg: str = "sha256") -> Digest:
        d = digest_of(data, alg)
        w = self.store.writer(f"ref-{d}", d, len(data))
        w.write(data)
        w.commit()
        return d

    @pytest.mark.parametrize("alg", ["sha256", "sha512"])
    def test_write_commit_read(self, alg: str) -> None:
        data = os.urandom(3000)
        d = self.put(data, alg)
        assert self.store.info(d).size == 3000
        with self.store.open(d) as f:
            assert f.read() == data
        assert d in {b.digest for b in self.store.walk()}

    def test_missing_blob(self) -> None:
        d = digest_of(b"nope")
        with pytest.raises(BlobNotFound, match=str(d)):
            self.store.info(d)
        with pytest.raises(BlobNotFound):
            self.store.open(d)
        with pytest.raises(BlobNotFound):
            self.store.delete(d)

    def test_digest_mismatch_leaves_nothing(self) -> None:
        d = digest_of(b"right")
        w = self.store.writer("bad", d, 5)
        w.write(b"wrong")
        with pytest.raises(BlobInvalid, match="does not match"):
            w.commit()
        with pytest.raises(BlobNotFound):
            self.store.info(d)
        assert list(self.store.walk()) == []
        # the failed ingest is gone: a new writer starts from zero
        w = self.store.writer("bad", d, 5)
        assert w.offset == 0
        w.abort()

    def test_size_exceeded_fails_at_once(self) -> None:
        d = digest_of(b"abc")
        w = self.store.writer("big", d, 3)
        with pytest.raises(BlobInvalid, match="longer than its size"):
            w.write(b"abcd")
        with pytest.raises(BlobNotFound):
            self.store.info(d)

    def test_short_content_fails(self) -> None:
        d = digest_of(b"abcdef")
        w = self.store.writer("short", d, 6)
        w.write(b"abc")
        with pytest.raises(BlobInvalid, match="has 3 bytes, expected 6"):
            w.commit()

    def test_resume_from_offset(self) -> None:
        data = os.urandom(10000)
        d = digest_of(data)
        w = self.store.writer("resume", d, len(data))
        w.write(data[:4000])
        w.close()
        with pytest.raises(BlobNotFound):
            self.store.info(d)
        w = self.store.writer("resume", d, len(data))
        assert w.offset == 4000
        w.write(data[w.offset :])
        assert w.commit().size == len(data)
        with self.store.open(d) as f:
            assert f.read() == data

    def test_same_ref_is_exclusive(self) -> None:
        d = digest_of(b"x")
        w = self.store.writer("one", d, 1)
        with pytest.raises(IngestBusy, match="one"):
            self.store.writer("one", d, 1)
        w.abort()
        self.store.writer("one", d, 1).abort()

    def test_concurrent_writers_of_same_blob(self) -> None:
        data = os.urandom(1 << 20)
        d = digest_of(data)
        errors: list[BaseException] = []

        def write(i: int) -> None:
            try:
                w = self.store.writer(f"w{i}", d, len(data))
                for off in range(0, len(data), 65536):
                    w.write(data[off : off + 65536])
                w.commit()
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with self.store.open(d) as f:
            assert f.read() == data
        assert [b.digest for b in self.store.walk()] == [d]

    def test_commit_of_existing_blob_is_success(self) -> None:
        d = self.put(b"twice")
        self.put(b"twice")
        assert self.store.info(d).size == 5

    def test_delete(self) -> None:
        d = self.put(b"gone")
        self.store.delete(d)
        with pytest.raises(BlobNotFound):
            self.store.info(d)

    def test_abort_discards(self) -> None:
        d = digest_of(b"abc")
        w = self.store.writer("abort", d, 3)
        w.write(b"ab")
        w.abort()
        assert self.store.writer("abort", d, 3).offset == 0
