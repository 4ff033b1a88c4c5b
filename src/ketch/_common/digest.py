"""Content digests (``algorithm:hex``) as the OCI specs define them, and a reader that verifies one."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import hashlib

__all__ = ["ALGORITHMS", "Digest", "DigestMismatch", "InvalidDigest", "VerifyingReader"]

# image-spec descriptor.md "Registered algorithms": the hex length each one must have.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


class InvalidDigest(ValueError):
    """A string is not a digest ketch can verify."""


class DigestMismatch(ValueError):
    """Content did not hash to the digest (or size) it was announced with."""


class Digest(str):
    """A validated digest string; ``.algorithm`` and ``.hex`` give its parts."""

    __slots__ = ()

    def __new__(cls, value: str) -> Digest:
        algorithm, sep, hexpart = value.partition(":")
        if not sep:
            raise InvalidDigest(f"invalid digest {value!r}: expected algorithm:hex")
        expected = ALGORITHMS.get(algorithm)
        if expected is None:
            raise InvalidDigest(f"invalid digest {value!r}: unsupported algorithm {algorithm!r}")
        if len(hexpart) != expected or not set(hexpart) <= _HEX:
            raise InvalidDigest(f"invalid digest {value!r}: {algorithm} needs {expected} lowercase hex digits")
        return super().__new__(cls, value)

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]

    @property
    def hex(self) -> str:
        return self.partition(":")[2]

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        if algorithm == "sha256" and len(data) <= _SMALL:
            # the interpreter's own sha256: loading OpenSSL (hashlib) costs a CLI call milliseconds, more than
            # it saves on a manifest or a config
            from _sha256 import sha256  # type: ignore[import-not-found]

            return cls(f"sha256:{sha256(data).hexdigest()}")
        return cls(f"{algorithm}:{_new(algorithm, data).hexdigest()}")

    def hasher(self) -> hashlib._Hash:
        return _new(self.algorithm)


_SMALL = 1 << 20


def _new(algorithm: str, data: bytes = b"") -> hashlib._Hash:
    import hashlib

    return hashlib.new(algorithm, data)


class VerifyingReader:
    """Wraps a binary stream; raises :class:`DigestMismatch` at EOF if the bytes did not match."""

    def __init__(self, stream: BinaryIO, digest: Digest, size: int | None = None) -> None:
        self._stream = stream
        self._digest = digest
        self._size = size
        self._hasher = digest.hasher()
        self._count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._hasher.update(data)
            self._count += len(data)
            if self._size is not None and self._count > self._size:
                raise DigestMismatch(f"content of {self._digest} is longer than its size {self._size}")
        elif n != 0:
            self.verify()
        return data

    def verify(self) -> None:
        if self._size is not None and self._count != self._size:
            raise DigestMismatch(f"content of {self._digest} has {self._count} bytes, expected {self._size}")
        actual = f"{self._digest.algorithm}:{self._hasher.hexdigest()}"
        if actual != self._digest:
            raise DigestMismatch(f"content digest {actual} does not match {self._digest}")
