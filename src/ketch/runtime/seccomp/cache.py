"""On-disk cache of compiled filters, so a container start with a known profile never runs libseccomp.

A filter is stored under the SHA-256 of everything its BPF depends on: the canonical profile
(:meth:`Profile.filter_key`), the machine architecture, the libseccomp version (its syscall tables decide the
numbers) and this format's version. Files are written atomically; one that fails its checksum (say, torn by a
machine crash, since the cache lives on tmpfs and is written without fsync) is a miss and is rewritten.

File layout: ``ketch-seccomp-cache 2 <blake2b-256 of bpf>\\n<skipped syscall names, space separated>\\n<bpf>``.
"""

from __future__ import annotations

import os
from _blake2 import blake2b  # the built-in hash: hashlib would load OpenSSL on every start

from ketch._common.atomicio import write_atomic
from ketch.runtime.seccomp.compiled import Compiled
from ketch.runtime.seccomp.profile import Profile

__all__ = ["cache_key", "read_cached", "write_cached"]

_FORMAT = 2  # 2: blake2b checksums
_MAGIC = b"ketch-seccomp-cache %d " % _FORMAT


def cache_key(profile: Profile, libseccomp_version: str) -> str:
    material = repr((_FORMAT, profile.filter_key(), os.uname().machine, libseccomp_version))
    return blake2b(material.encode(), digest_size=32).hexdigest()


def _path(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, f"{key}.bpf")


def read_cached(cache_dir: str, key: str) -> Compiled | None:
    """The cached filter for ``key``, or None when absent or damaged."""
    try:
        with open(_path(cache_dir, key), "rb") as f:
            data = f.read()
    except OSError:  # absent, or the cache dir is unusable: a miss either way
        return None
    head, sep, rest = data.partition(b"\n")
    skipped_line, sep2, bpf = rest.partition(b"\n")
    if not (sep and sep2 and head.startswith(_MAGIC)) or not bpf or len(bpf) % 8:
        return None
    if head[len(_MAGIC) :] != blake2b(bpf, digest_size=32).hexdigest().encode():
        return None
    return Compiled(bpf, tuple(skipped_line.decode().split()))


def write_cached(cache_dir: str, key: str, compiled: Compiled) -> None:
    # 0700: the filters are no secret, but nobody but the runtime may plant one a container would load.
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    data = b"".join(
        (
            _MAGIC,
            blake2b(compiled.bpf, digest_size=32).hexdigest().encode(),
            b"\n",
            " ".join(compiled.skipped).encode(),
            b"\n",
            compiled.bpf,
        )
    )
    write_atomic(_path(cache_dir, key), data, 0o600, durable=False)
