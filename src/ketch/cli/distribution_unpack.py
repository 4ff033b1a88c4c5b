"""``ketch pull``'s pipelined unpacking: each layer goes into the overlay snapshotter as soon as its blob is
in the store."""

from __future__ import annotations

import argparse
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["PipelinedUnpack", "can_unpack"]


class PipelinedUnpack:
    """Unpacks each layer into the overlay snapshotter as soon as its blob is in the store (layers of an
    overlay snapshot are independent directories, so arrival order does not matter)."""

    def __init__(self, store: Any, workers: int = 2) -> None:
        from ketch.image.snapshot import OverlaySnapshotter

        self.store = store
        self.snapshotter = OverlaySnapshotter(store.root)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="unpack")
        self.lock = threading.Lock()
        self.images: dict[str, Any] = {}
        self.arrived: dict[str, set[str]] = {}
        self.futures: list[Future[Any]] = []
        self.unpacked = 0

    def on_blob(self, mdesc: Any, manifest: Any, desc: Any) -> None:
        from ketch.image.blobs import read_verified
        from ketch.image.resolve import Image
        from ketch.spec.image import ImageConfig

        key = str(mdesc.digest)
        with self.lock:
            if desc.digest == manifest.config.digest:
                try:
                    config = ImageConfig.parse(read_verified(self.store.content, desc))
                except ValueError:
                    return  # not an image config (an artifact): nothing to unpack
                if len(config.rootfs.diff_ids) != len(manifest.layers):
                    return  # load_image reports this mismatch when the image is used
                image: Any = Image(target=mdesc, manifest_descriptor=mdesc, manifest=manifest, config=config)
                self.images[key] = image
                for digest in self.arrived.pop(key, set()):
                    self._submit(image, digest)
            else:
                found = self.images.get(key)
                if found is None:
                    self.arrived.setdefault(key, set()).add(str(desc.digest))
                else:
                    self._submit(found, str(desc.digest))

    def _submit(self, image: Any, digest: str) -> None:
        for i, layer in enumerate(image.manifest.layers):
            if str(layer.digest) == digest:
                self.futures.append(
                    self.pool.submit(self.snapshotter.ensure_layer, self.store.content, image, i)
                )
                self.unpacked += 1

    def wait(self) -> None:
        try:
            for f in self.futures:
                f.result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def can_unpack(a: argparse.Namespace) -> bool:
    return not a.no_unpack and os.geteuid() == 0 and not a.all_platforms
