"""Fixtures for the image integration tests: a store, and a busybox image built offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ketch.image.build import image_from_dir
from ketch.image.store import ImageStore
from ketch.spec.image import ContainerConfig
from ketch.testing import make_rootfs


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "root"), durable=False)


@pytest.fixture
def busybox(store: ImageStore, tmp_path: Path) -> str:
    """Name of a one-layer busybox image in ``store`` whose Cmd prints a greeting."""
    rootfs = make_rootfs(str(tmp_path / "busybox-rootfs"))
    image_from_dir(store, rootfs, "busybox", config=ContainerConfig(cmd=["sh", "-c", "echo hello; id -u"]))
    return "busybox"
