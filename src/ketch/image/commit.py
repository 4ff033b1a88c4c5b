"""Committing: a new image from a base image plus the changes made to a root filesystem.

The changes come from an overlayfs upper dir (its whiteouts converted to layer.md's form) or, for a plain
directory, from comparing it with a fresh unpack of the base image. The new config carries the base's
settings, the new DiffID and a history entry.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ketch.image.build import layer_from_tar_writer, now_rfc3339, write_image
from ketch.image.bundle import unpack_rootfs
from ketch.image.layer.generate import tar_diff, tar_overlay_upper
from ketch.image.resolve import load_image
from ketch.image.store import ImageStore
from ketch.spec.image import ContainerConfig, Descriptor, History, ImageConfig

__all__ = ["commit_changes", "commit_rootfs"]


def commit_changes(
    store: ImageStore,
    base: str,
    changes: str,
    name: str,
    *,
    upper: bool,
    config: ContainerConfig | None = None,
    comment: str | None = None,
    author: str | None = None,
) -> Descriptor:
    """Make image ``name`` = ``base`` + the changes in ``changes``.

    ``upper=True``: ``changes`` is an overlayfs upper dir. Otherwise it is the whole changed tree, diffed
    against the base image's own tree.
    """
    record = store.resolve(base)
    image = load_image(store.content, record.target)
    with store.lease():
        if upper:
            layer, diff_id = layer_from_tar_writer(store, lambda out: tar_overlay_upper(changes, out))
        else:
            os.makedirs(store.content.ingest_dir, exist_ok=True)
            scratch = tempfile.mkdtemp(prefix="commit-base.", dir=store.content.ingest_dir)
            try:
                unpack_rootfs(store.content, image, scratch)
                layer, diff_id = layer_from_tar_writer(store, lambda out: tar_diff(scratch, changes, out))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        new = ImageConfig.from_json(image.config.to_json())
        new.rootfs.diff_ids.append(diff_id)
        new.created = now_rfc3339()
        if author is not None:
            new.author = author
        if config is not None:
            merged = new.config or ContainerConfig()
            for attr in ("cmd", "entrypoint", "env", "working_dir", "user", "labels", "volumes"):
                value = getattr(config, attr)
                if value is not None:
                    setattr(merged, attr, value)
            new.config = merged
        new.history = [
            *(new.history or []),
            History(created=new.created, created_by="ketch image commit", comment=comment),
        ]
        return write_image(store, new, [*image.manifest.layers, layer], name=name)


def commit_rootfs(
    store: ImageStore,
    base: str,
    rootfs: str,
    name: str,
    *,
    config: ContainerConfig | None = None,
    comment: str | None = None,
    upper: bool = False,
) -> Descriptor:
    return commit_changes(store, base, rootfs, name, upper=upper, config=config, comment=comment)
