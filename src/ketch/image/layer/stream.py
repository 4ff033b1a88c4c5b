"""The uncompressed byte stream of a layer, produced by a second thread and read forward only.

``LayerStream`` runs read + digest check + decompression in a thread of its own, handing 1 MiB chunks to the
applier through a small bounded queue, so decompressing one part of the layer overlaps with writing the files
of the part before; a third thread hashes the same chunks into the DiffID (the hashes and the decompressors
release the GIL while they work; the applier's syscalls do too). Measured on a six-layer 190 MB Debian image
on tmpfs: applying alone 0.32 s, read + verify + decompress + hash alone 0.5 s, all of it in one thread
1.5 s, pipelined 0.55-0.8 s (2 cores shared with other work). ``ChunkReader`` turns those chunks back into a file-like object that
``tarfile`` can read headers from, and hands file data out as memoryviews of the chunks (no copies).
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

from ketch._common.digest import Digest, VerifyingReader
from ketch.image.content.protocol import ContentStore
from ketch.image.layer.compression import decompressor
from ketch.spec.image import Descriptor

__all__ = ["CHUNK", "ChunkReader", "LayerStream"]

CHUNK = 1 << 20
_QUEUE_DEPTH = 8  # chunks decompressed ahead of the applier and of the hasher (the same chunks: ~8 MiB)


class ChunkReader:
    """A forward-only reader over ``next_chunk()`` (which returns ``b""`` at the end).

    ``read``/``tell``/``seek`` are what ``tarfile`` needs in its ``r:`` mode (it only ever seeks forward in a
    stream it reads from the start); ``views(n)`` yields the next ``n`` bytes as memoryviews.
    """

    def __init__(self, next_chunk: Callable[[], bytes]) -> None:
        self._next = next_chunk
        self._buf = b""
        self._off = 0  # read position inside _buf
        self._pos = 0  # absolute position of _buf[_off]
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._next()
        if not chunk:
            self._eof = True
            return False
        self._buf, self._off = chunk, 0
        return True

    def views(self, n: int) -> Iterator[memoryview]:
        """The next ``n`` bytes as memoryviews (fewer in total only when the stream ends)."""
        while n > 0:
            if self._off >= len(self._buf) and not self._fill():
                return
            take = min(n, len(self._buf) - self._off)
            view = memoryview(self._buf)[self._off : self._off + take]
            self._off += take
            self._pos += take
            n -= take
            yield view

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            parts = []
            while self._off < len(self._buf) or self._fill():
                parts.append(self._buf[self._off :])
                self._pos += len(self._buf) - self._off
                self._off = len(self._buf)
            return b"".join(parts)
        end = self._off + n
        if end <= len(self._buf):  # the common case: a tar header inside the current chunk
            data = self._buf[self._off : end]
            self._off = end
            self._pos += n
            return data
        return b"".join(bytes(v) for v in self.views(n))

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or pos < self._pos:
            raise io.UnsupportedOperation("a layer stream only seeks forward")
        for _ in self.views(pos - self._pos):
            pass
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = b""


class LayerStream:
    """The uncompressed bytes of ``layer`` (a blob of ``content``), made by a producer thread.

    The producer checks the compressed bytes against ``layer.digest``/``layer.size`` (raising
    ``DigestMismatch`` to the reader, as ``VerifyingReader`` does); the hasher hashes the uncompressed ones
    with ``algorithm``. Use as a context manager; ``finish()`` reads what the consumer left
    (the tar's trailing blocks count toward the DiffID) and returns that digest.
    """

    def __init__(self, content: ContentStore, layer: Descriptor, compression: str, algorithm: str) -> None:
        self._content = content
        self._layer = layer
        self._compression = compression
        self._algorithm = algorithm
        self._queue: queue.Queue[bytes | _Failed] = queue.Queue(_QUEUE_DEPTH)
        self._hash_queue: queue.Queue[bytes | None] = queue.Queue(_QUEUE_DEPTH)
        self._stop = threading.Event()
        self._digest: Digest | None = None
        self._complete = False  # the producer read the whole blob and verified it
        self._ended = False
        self._thread = threading.Thread(target=self._produce, name="layer-decompress", daemon=True)
        self._hasher = threading.Thread(target=self._hash, name="layer-diffid", daemon=True)
        self.reader = ChunkReader(self._take)

    def __enter__(self) -> LayerStream:
        self._hasher.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _put(self, item: bytes | _Failed | None, q: queue.Queue[Any] | None = None) -> bool:
        """Queue ``item`` (on the applier's queue unless ``q``); False if told to stop meanwhile."""
        target: queue.Queue[Any] = self._queue if q is None else q
        while not self._stop.is_set():
            try:
                target.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _hash(self) -> None:
        """The DiffID: every uncompressed chunk, in order, until the producer sends None."""
        hasher = hashlib.new(self._algorithm)
        while not self._stop.is_set():
            try:
                chunk = self._hash_queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if chunk is None:
                if self._complete:
                    self._digest = Digest(f"{self._algorithm}:{hasher.hexdigest()}")
                return
            hasher.update(chunk)

    def _produce(self) -> None:
        layer = self._layer
        try:
            with self._content.open(layer.digest) as raw:
                verified = VerifyingReader(raw, layer.digest, layer.size)
                plain = decompressor(cast(BinaryIO, verified), self._compression, f"layer {layer.digest}")
                while not self._stop.is_set():
                    chunk = plain.read(CHUNK)
                    if not chunk:
                        break
                    if not self._put(chunk, self._hash_queue) or not self._put(chunk):
                        return
                else:
                    return
                while verified.read(CHUNK):  # bytes after the compressed stream's end count for the digest
                    pass
                self._complete = True
            self._put(None, self._hash_queue)
            self._put(_END)
        except BaseException as e:  # handed to the reader, raised there
            self._put(None, self._hash_queue)
            self._put(_Failed(e))

    def _take(self) -> bytes:
        if self._ended:
            return b""
        item = self._queue.get()
        if isinstance(item, _Failed):
            self._ended = True
            raise item.error
        if not item:
            self._ended = True
        return item

    def finish(self) -> Digest:
        """Consume the rest of the stream; the uncompressed bytes' digest (raises the producer's error)."""
        for _ in self.reader.views(1 << 62):
            pass
        self._thread.join()
        self._hasher.join()
        if self._digest is None:  # pragma: no cover - the producer ends with a digest or an error
            raise RuntimeError("layer stream ended without a digest")
        return self._digest

    def close(self) -> None:
        """Stop the producer (if still running) and wait for it; it closes the blob."""
        self._stop.set()
        self._thread.join()
        self._hasher.join()
