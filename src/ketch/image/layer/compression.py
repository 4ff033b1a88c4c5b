"""Decompressing layer streams, and hashing the uncompressed bytes (the layer's DiffID) on the way.

gzip uses ISA-L (``isal``) when present: measured 2.2x faster than the standard library's zlib on a 120 MB
layer (117 ms vs 259 ms; zlib-ng was on par with ISA-L at 118 ms). zstd uses ``zstandard``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from typing import Any, BinaryIO

from ketch._common.digest import Digest
from ketch.image.errors import CorruptLayer

__all__ = ["HashingReader", "decompressor", "gzip_writer"]

_gzip_impl: Any
try:
    from isal import igzip as _gzip_impl
except ImportError:  # pragma: no cover - isal is a declared dependency; stdlib still works
    _gzip_impl = gzip


class _RawAdapter(io.RawIOBase):
    """Gives a plain ``read()`` stream the ``readinto`` the gzip readers buffer through."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self._stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _ErrorMapping:
    """A reader turning every decompressor failure into CorruptLayer naming the layer."""

    def __init__(self, inner: Any, what: str, kind: str) -> None:
        self._inner = inner
        self._what = what
        self._kind = kind

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self._inner.read(n))
        except (OSError, EOFError, zlib.error, ValueError) as e:
            if type(e).__name__ == "DigestMismatch":
                raise
            raise CorruptLayer(f"{self._what}: invalid {self._kind} data: {e or type(e).__name__}") from None

    def close(self) -> None:
        self._inner.close()


def decompressor(stream: BinaryIO, compression: str, what: str) -> BinaryIO:
    """A reader of ``stream`` decompressed (``""``, ``"gzip"`` or ``"zstd"``); bad data raises CorruptLayer."""
    if compression == "":
        return stream
    if compression == "gzip":
        return _ErrorMapping(_gzip_impl.GzipFile(fileobj=_RawAdapter(stream), mode="rb"), what, "gzip")  # type: ignore[return-value]
    if compression == "zstd":
        return _ErrorMapping(_ZstdChecked(stream), what, "zstd")  # type: ignore[return-value]
    raise CorruptLayer(f"{what}: unsupported compression {compression!r}")


class _ZstdChecked:
    """zstd frames decoded one after another; input that ends inside a frame is an error (truncation)."""

    def __init__(self, stream: BinaryIO) -> None:
        import zstandard

        self._zstd = zstandard
        self._stream = stream
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._fed = False
        self._done = False

    def read(self, n: int = -1) -> bytes:
        want = n if n > 0 else 1 << 20
        while len(self._pending) < want and not self._done:
            chunk = self._stream.read(1 << 17)
            if not chunk:
                self._done = True
                if self._fed and not self._obj.eof:
                    raise ValueError("stream ends inside a frame (truncated)")
                break
            self._feed(chunk)
        out, self._pending = self._pending[:want], self._pending[want:]
        return out

    def _feed(self, chunk: bytes) -> None:
        while chunk:
            if self._obj.eof:
                # a new frame follows (zstd allows concatenated frames)
                self._obj = self._zstd.ZstdDecompressor().decompressobj()
            self._fed = True
            try:
                self._pending += self._obj.decompress(chunk)
            except self._zstd.ZstdError as e:
                raise ValueError(str(e)) from None
            chunk = self._obj.unused_data if self._obj.eof else b""

    def close(self) -> None:
        pass


class HashingReader:
    """Passes reads through, hashing them; ``digest`` is the hash of everything read so far."""

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256") -> None:
        self._stream = stream
        self._hasher = hashlib.new(algorithm)
        self._algorithm = algorithm
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._hasher.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> Digest:
        return Digest(f"{self._algorithm}:{self._hasher.hexdigest()}")


def gzip_writer(stream: BinaryIO, level: int | None = None) -> BinaryIO:
    """A gzip compressor writing into ``stream`` (mtime 0 so the output is reproducible).

    The default level is ISA-L's 2 (its scale is 0-3), or zlib's 6 without ISA-L.
    """
    if level is None:
        level = 6 if _gzip_impl is gzip else 2
    writer: BinaryIO = _gzip_impl.GzipFile(fileobj=stream, mode="wb", compresslevel=level, mtime=0)
    return writer
