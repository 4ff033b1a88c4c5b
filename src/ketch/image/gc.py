"""Garbage collection: blobs and unpacked layers that no image reaches and no container uses.

Roots: every named image (everything its index/manifests/configs/layers reach), every persistent lease's
digests, and every active snapshot's layers. The collector holds ``gc.lock`` exclusively, so it waits for
writers holding a lease (see :class:`ImageStore.lease`) and no content in flight is ever collected.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from typing import Any

from ketch._common.digest import Digest
from ketch.image.blobs import read_verified
from ketch.image.errors import BlobNotFound, ImageError
from ketch.image.graph import walk
from ketch.image.snapshot import snapshotters
from ketch.image.store import ImageStore
from ketch.spec.image import CONFIG_MEDIA_TYPES, Descriptor, ImageConfig, ImageSpecError

__all__ = ["GcResult", "collect", "reachable"]


@dataclass
class GcResult:
    blobs: list[Digest] = field(default_factory=list)
    snapshots: list[Digest] = field(default_factory=list)
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "blobs": [str(d) for d in self.blobs],
            "snapshots": [str(d) for d in self.snapshots],
            "bytes": self.bytes,
        }


def reachable(store: ImageStore) -> tuple[set[Digest], set[Digest]]:
    """(blob digests, layer DiffIDs) every image and lease keeps alive."""
    blobs: set[Digest] = set(store.pinned())
    diff_ids: set[Digest] = set()

    def read(d: Descriptor) -> bytes:
        return read_verified(store.content, d)

    for record in store.images():
        try:
            for desc in walk(read, record.target, partial_indexes=True):
                blobs.add(desc.digest)
                if desc.media_type in CONFIG_MEDIA_TYPES:
                    try:
                        diff_ids.update(ImageConfig.parse(read(desc)).rootfs.diff_ids)
                    except (BlobNotFound, ImageSpecError):
                        pass
        except (BlobNotFound, ImageError):
            # An incomplete image keeps what it has; its missing parts are reported by inspect/unpack.
            blobs.add(record.target.digest)
            continue
    return blobs, diff_ids


def collect(store: ImageStore, *, dry_run: bool = False) -> GcResult:
    result = GcResult()
    fd = os.open(store.gc_lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for every lease holder to finish
        keep_blobs, keep_layers = reachable(store)
        for snap in snapshotters(store.root):
            for active in snap.active():
                keep_layers.update(active.layers)
            for diff_id in snap.layers():
                if diff_id not in keep_layers:
                    result.snapshots.append(diff_id)
                    if not dry_run:
                        result.bytes += snap.remove_layer(diff_id)
        for info in list(store.content.walk()):
            if info.digest not in keep_blobs:
                result.blobs.append(info.digest)
                if not dry_run:
                    try:
                        store.content.delete(info.digest)
                        result.bytes += info.size
                    except BlobNotFound:
                        pass
    finally:
        os.close(fd)
    return result
