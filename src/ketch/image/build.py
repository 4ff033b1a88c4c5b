"""Assembling an image (config + manifest) in the store from layers already written."""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from ketch._common.digest import Digest
from ketch.image.blobs import put_json, put_layer
from ketch.image.layer.generate import tar_directory
from ketch.image.platform import host_platform
from ketch.image.store import ImageStore
from ketch.spec.image import (
    MT_OCI_CONFIG,
    MT_OCI_MANIFEST,
    ContainerConfig,
    Descriptor,
    History,
    ImageConfig,
    Manifest,
    RootFS,
)

__all__ = ["image_from_dir", "layer_from_tar_writer", "new_config", "now_rfc3339", "write_image"]


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_config(
    diff_ids: list[Digest], config: ContainerConfig | None = None, history: list[History] | None = None
) -> ImageConfig:
    """A config for the host platform with these layers."""
    plat = host_platform()
    return ImageConfig(
        architecture=plat.architecture,
        os=plat.os,
        variant=plat.variant,
        rootfs=RootFS(diff_ids=list(diff_ids)),
        created=now_rfc3339(),
        config=config,
        history=history,
    )


def write_image(
    store: ImageStore,
    image: ImageConfig,
    layers: list[Descriptor],
    *,
    name: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Descriptor:
    """Write ``image`` and a manifest over ``layers`` (already in the store); name it ``name`` if given.

    Returns the manifest's descriptor, with the platform filled in from the config.
    """
    if len(layers) != len(image.rootfs.diff_ids):
        raise ValueError(f"{len(layers)} layers but {len(image.rootfs.diff_ids)} diff_ids")
    config_desc = put_json(store.content, MT_OCI_CONFIG, image.to_json())
    manifest = Manifest(config=config_desc, layers=list(layers), annotations=annotations)
    desc = put_json(store.content, MT_OCI_MANIFEST, manifest.to_json(), platform=image.platform())
    if name is not None:
        store.put(name, desc)
    return desc


def layer_from_tar_writer(
    store: ImageStore, write: Callable[[BinaryIO], None], compression: str = "gzip"
) -> tuple[Descriptor, Digest]:
    """Run ``write`` (one of layer.generate's tar writers) and store its output as a layer blob."""
    os.makedirs(store.content.ingest_dir, exist_ok=True)
    with tempfile.TemporaryFile(dir=store.content.ingest_dir) as tmp:
        write(tmp)
        tmp.seek(0)
        return put_layer(store.content, tmp, compression)


def image_from_dir(
    store: ImageStore,
    rootfs: str,
    name: str | None = None,
    *,
    config: ContainerConfig | None = None,
    compression: str = "gzip",
) -> Descriptor:
    """A one-layer image of the tree ``rootfs`` (``ketch image import DIR``)."""
    with store.lease():
        layer, diff_id = layer_from_tar_writer(store, lambda out: tar_directory(rootfs, out), compression)
        history = [History(created=now_rfc3339(), created_by=f"ketch import {os.path.basename(rootfs)}")]
        return write_image(store, new_config([diff_id], config, history), [layer], name=name)
