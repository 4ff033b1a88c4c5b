"""The copy snapshotter, for filesystems without overlayfs: each container root is a full copy, made by
applying every layer in order (whiteouts as deletions); mounting it is a bind mount."""

from __future__ import annotations

import json
import os
import shutil

from ketch._common.atomicio import write_atomic
from ketch._common.digest import Digest
from ketch._common.ids import InvalidName, validate_container_id
from ketch._common.jsonio import dumps_pretty
from ketch.image.content.protocol import ContentStore
from ketch.image.errors import SnapshotError
from ketch.image.resolve import Image
from ketch.image.snapshot.protocol import ActiveSnapshot, Mount, discard_snapshot
from ketch.linux.mount import MS_BIND, MS_REC
from ketch.linux.mount import mount as sys_mount

__all__ = ["CopySnapshotter"]


class CopySnapshotter:
    name = "copy"

    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "snapshots", "copy")
        self.active_dir = os.path.join(self.root, "active")
        self.tmp_dir = os.path.join(self.root, "tmp")
        for d in (self.active_dir, self.tmp_dir):
            os.makedirs(d, exist_ok=True)

    def _path(self, key: str) -> str:
        try:
            return os.path.join(self.active_dir, validate_container_id(key))
        except InvalidName as e:
            raise SnapshotError(f"invalid snapshot key: {e}") from None

    def prepare(self, key: str, content: ContentStore, image: Image) -> list[Mount]:
        path = self._path(key)
        if os.path.exists(path):
            raise SnapshotError(f"snapshot {key!r} already exists")
        from ketch.image.layer.unpack import apply_layer

        scratch = os.path.join(self.tmp_dir, f"{key}.{os.urandom(4).hex()}")
        os.makedirs(os.path.join(scratch, "fs"), 0o755)
        try:
            for layer, diff_id in image.layers:
                apply_layer(content, layer, os.path.join(scratch, "fs"), diff_id=diff_id)
            meta = {"layers": [str(d) for _, d in image.layers]}
            write_atomic(os.path.join(scratch, "meta.json"), dumps_pretty(meta))
            try:
                os.rename(scratch, path)
            except OSError:
                raise SnapshotError(f"snapshot {key!r} already exists") from None
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return self.mounts(key)

    def mounts(self, key: str) -> list[Mount]:
        path = self._path(key)
        if not os.path.isdir(path):
            raise SnapshotError(f"snapshot {key!r} does not exist")
        return [Mount("bind", os.path.join(path, "fs"), ["rbind", "rw"])]

    def mount(self, key: str, target: str) -> None:
        (m,) = self.mounts(key)
        sys_mount(m.source, target, None, MS_BIND | MS_REC)

    def changes_dir(self, key: str) -> str:
        (m,) = self.mounts(key)
        return m.source

    def remove(self, key: str) -> None:
        discard_snapshot(self._path(key), self.tmp_dir, key)

    def active(self) -> list[ActiveSnapshot]:
        out = []
        for key in sorted(os.listdir(self.active_dir)):
            try:
                with open(os.path.join(self.active_dir, key, "meta.json"), "rb") as f:
                    layers = [Digest(d) for d in json.load(f)["layers"]]
            except (OSError, ValueError, KeyError):
                continue
            out.append(ActiveSnapshot(key, layers, os.path.join(self.active_dir, key)))
        return out

    def layers(self) -> list[Digest]:
        return []  # nothing shared: every snapshot holds its own copy

    def remove_layer(self, diff_id: Digest) -> int:
        return 0
