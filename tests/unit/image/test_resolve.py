"""load_image: a usable image or a clear error naming what is missing or wrong."""

from __future__ import annotations

import pytest
from image_testkit import MakeImage
from layer_tars import entry, make_tar

from ketch.image.blobs import put_json, read_verified
from ketch.image.errors import BlobInvalid, BlobNotFound, InvalidImage, UnsupportedMediaType
from ketch.image.resolve import load_image
from ketch.image.store import ImageStore
from ketch.spec.image import MT_OCI_EMPTY, MT_OCI_MANIFEST, Descriptor, Manifest

TAR = make_tar(entry("f", data=b"x"))


def rewrite(store: ImageStore, d: Descriptor, **changes: object) -> Descriptor:
    doc = Manifest.parse(read_verified(store.content, d)).to_json()
    doc.update(changes)
    return put_json(store.content, MT_OCI_MANIFEST, doc)


def test_missing_layer(store: ImageStore, make_image: MakeImage) -> None:
    d = make_image(TAR)
    layer = load_image(store.content, d).manifest.layers[0].digest
    store.content.delete(layer)
    with pytest.raises(BlobNotFound, match=f"manifest {d.digest} refers to layer {layer}, which is missing"):
        load_image(store.content, d)
    assert load_image(store.content, d, require_layers=False).manifest.layers[0].digest == layer


def test_missing_config(store: ImageStore, make_image: MakeImage) -> None:
    d = make_image(TAR)
    config = load_image(store.content, d).manifest.config.digest
    store.content.delete(config)
    with pytest.raises(BlobNotFound, match=f"refers to config {config}"):
        load_image(store.content, d)


def test_layer_count_mismatch(store: ImageStore, make_image: MakeImage) -> None:
    d = make_image(TAR)
    m = load_image(store.content, d).manifest
    bad = rewrite(store, d, layers=[m.layers[0].to_json(), m.layers[0].to_json()])
    with pytest.raises(InvalidImage, match=r"has 2 layers but config .* lists 1 diff_ids"):
        load_image(store.content, bad)


def test_unknown_layer_media_type(store: ImageStore, make_image: MakeImage) -> None:
    d = make_image(TAR)
    layer = load_image(store.content, d).manifest.layers[0].to_json()
    layer["mediaType"] = "application/x-squashfs"
    with pytest.raises(UnsupportedMediaType, match=r"layers\[0\]\.mediaType 'application/x-squashfs'"):
        load_image(store.content, rewrite(store, d, layers=[layer]))


def test_artifact_is_not_an_image(store: ImageStore) -> None:
    empty = put_json(store.content, MT_OCI_EMPTY, {})
    art = put_json(
        store.content,
        MT_OCI_MANIFEST,
        {
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": empty.to_json(),
            "layers": [],
        },
    )
    with pytest.raises(UnsupportedMediaType, match="not an image config"):
        load_image(store.content, art)


def test_manifest_digest_mismatch(store: ImageStore, make_image: MakeImage) -> None:
    d = make_image(TAR)
    lying = Descriptor(d.media_type, d.digest, d.size + 1)
    with pytest.raises(BlobInvalid, match="bytes, its descriptor says"):
        load_image(store.content, lying)
