"""Fixtures shared by every test: markers that skip what this machine cannot do, and the busybox kit."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.testing import make_rootfs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    is_root = os.geteuid() == 0
    for item in items:
        if item.get_closest_marker("root") and not is_root:
            item.add_marker(pytest.mark.skip(reason="needs root"))


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One busybox root per test session; bundles copy it (see ketch.testing.make_bundle)."""
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    make_rootfs(str(root))
    yield str(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temporary directory (unix socket paths are limited to 108 bytes)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="kt-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)
