"""``ketch image unpack``: an image from the store made into a runtime bundle (rootfs + config.json)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from ketch._common.atomicio import write_atomic
from ketch._common.jsonio import dumps_pretty
from ketch.image.content.protocol import ContentStore
from ketch.image.convert import runtime_config
from ketch.image.errors import ImageError
from ketch.image.layer.unpack import apply_layer
from ketch.image.resolve import Image
from ketch.image.volumes import seed_volumes
from ketch.spec.image import Descriptor

__all__ = ["UnpackResult", "unpack_bundle", "unpack_rootfs"]


@dataclass(frozen=True)
class UnpackResult:
    bundle: str
    manifest: Descriptor
    layers: int


def unpack_rootfs(content: ContentStore, image: Image, rootfs: str) -> None:
    """Apply every layer of ``image``, lowest first, onto the (new, empty) directory ``rootfs``."""
    for layer, diff_id in image.layers:
        apply_layer(content, layer, rootfs, diff_id=diff_id)


def unpack_bundle(
    content: ContentStore,
    image: Image,
    bundle: str,
    *,
    terminal: bool = False,
    args: list[str] | None = None,
    volumes: str = "tmpfs",
) -> UnpackResult:
    """Write ``bundle``/rootfs and ``bundle``/config.json. ``bundle`` must be absent or empty.

    ``volumes`` (see ``runtime_config``): with ``"copy"`` each Config.Volumes path is seeded from the image
    into ``bundle/volumes/<n>`` and bind-mounted. The rootfs is built in ``bundle/.rootfs.partial`` and
    renamed into place only when every layer applied and verified; on any error the bundle directory is left
    as it was found.
    """
    created = not os.path.exists(bundle)
    if not created and os.listdir(bundle):
        raise ImageError(f"bundle directory {bundle} is not empty")
    os.makedirs(bundle, exist_ok=True)
    partial = os.path.join(bundle, ".rootfs.partial")
    try:
        os.mkdir(partial, 0o755)
        unpack_rootfs(content, image, partial)
        sources = None
        cc = image.config.config
        if volumes == "copy" and cc and cc.volumes:
            sources = seed_volumes(partial, list(cc.volumes), os.path.join(bundle, "volumes"))
        config = runtime_config(
            image.config, partial, terminal=terminal, args=args, volumes=volumes, volume_sources=sources
        )
        os.rename(partial, os.path.join(bundle, "rootfs"))
        # not fsynced: nor is the rootfs; a bundle is scratch state rebuilt from the store
        write_atomic(os.path.join(bundle, "config.json"), dumps_pretty(config), durable=False)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(os.path.join(bundle, "rootfs"), ignore_errors=True)
        shutil.rmtree(os.path.join(bundle, "volumes"), ignore_errors=True)
        if created:
            shutil.rmtree(bundle, ignore_errors=True)
        raise
    return UnpackResult(bundle, image.manifest_descriptor, len(image.manifest.layers))
