"""From a name or descriptor to a checked image: manifest for the platform, config, layers present."""

from __future__ import annotations

from ketch._common.digest import Digest
from ketch._common.model import model
from ketch.image.blobs import read_verified
from ketch.image.content.protocol import ContentStore
from ketch.image.errors import BlobNotFound, InvalidImage, UnsupportedMediaType
from ketch.image.platform import select_manifest
from ketch.spec.image import (
    CONFIG_MEDIA_TYPES,
    LAYER_MEDIA_TYPES,
    Descriptor,
    ImageConfig,
    ImageSpecError,
    Manifest,
    Platform,
)

__all__ = ["Image", "load_image"]


@model(frozen=True)
class Image:
    target: Descriptor  # what the name points at (index or manifest)
    manifest_descriptor: Descriptor
    manifest: Manifest
    config: ImageConfig

    @property
    def layers(self) -> list[tuple[Descriptor, Digest]]:
        """(layer descriptor, DiffID) pairs, lowest first."""
        return list(zip(self.manifest.layers, self.config.rootfs.diff_ids, strict=True))


def load_image(
    content: ContentStore,
    target: Descriptor,
    platform: Platform | None = None,
    *,
    require_layers: bool = True,
) -> Image:
    """Resolve ``target`` for ``platform`` (default: the host) and check the image is complete and usable."""
    selected = select_manifest(lambda d: read_verified(content, d), target, platform)
    manifest = selected.manifest
    where = f"manifest {selected.descriptor.digest}"
    if manifest.config.media_type not in CONFIG_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"{where}: config.mediaType {manifest.config.media_type!r} is not an image config (an artifact?)"
        )
    try:
        config = ImageConfig.parse(read_verified(content, manifest.config))
    except ImageSpecError as e:
        raise InvalidImage(f"config {manifest.config.digest}: {e}") from None
    except BlobNotFound:
        raise BlobNotFound(f"{where} refers to config {manifest.config.digest}, which is missing") from None
    for i, layer in enumerate(manifest.layers):
        if layer.media_type not in LAYER_MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"{where}: layers[{i}].mediaType {layer.media_type!r} is not supported"
            )
        if require_layers:
            try:
                info = content.info(layer.digest)
            except BlobNotFound:
                raise BlobNotFound(f"{where} refers to layer {layer.digest}, which is missing") from None
            if info.size != layer.size:
                raise InvalidImage(
                    f"{where}: layers[{i}] has size {layer.size}, blob {layer.digest} has {info.size}"
                )
    if len(manifest.layers) != len(config.rootfs.diff_ids):
        raise InvalidImage(
            f"{where} has {len(manifest.layers)} layers but config {manifest.config.digest} lists "
            f"{len(config.rootfs.diff_ids)} diff_ids"
        )
    return Image(target, selected.descriptor, manifest, config)
