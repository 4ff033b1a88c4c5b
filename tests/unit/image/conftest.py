"""Fixtures for the image tests: a store in a temp dir and a way to make small images from crafted tars."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from image_testkit import MakeImage

from ketch.image.blobs import put_layer
from ketch.image.build import new_config, write_image
from ketch.image.store import ImageStore
from ketch.spec.image import ContainerConfig, Descriptor


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "root"), durable=False)


@pytest.fixture
def make_image(store: ImageStore) -> MakeImage:
    def make(*layers: bytes, name: str | None = None, compression: str = "gzip", **config: Any) -> Descriptor:
        descs = []
        diff_ids = []
        for tar in layers:
            d, diff = put_layer(store.content, io.BytesIO(tar), compression)
            descs.append(d)
            diff_ids.append(diff)
        cc = ContainerConfig(**config) if config else ContainerConfig(cmd=["sh"])
        return write_image(store, new_config(diff_ids, cc), descs, name=name)

    return make
