"""Fixtures for the image integration tests: a store, and a busybox image built offline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# helpers shared with the unit tests (crafted layer tars)
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "image"))
sys.path.insert(0, str(Path(__file__).parent))

from ketch.image.build import image_from_dir
from ketch.image.store import ImageStore
from ketch.spec.image import ContainerConfig
from ketch.testing import make_rootfs


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "root"), durable=False)


@pytest.fixture
def busybox(store: ImageStore, tmp_path: Path) -> str:
    """Name of a one-layer busybox image in ``store`` whose Cmd prints a greeting."""
    rootfs = make_rootfs(str(tmp_path / "busybox-rootfs"))
    image_from_dir(store, rootfs, "busybox", config=ContainerConfig(cmd=["sh", "-c", "echo hello; id -u"]))
    return "busybox"
