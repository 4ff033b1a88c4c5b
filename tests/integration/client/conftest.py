"""Fixtures for the client's integration tests: both registries, and images built offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from client_registries import Registry

from ketch.image.build import image_from_dir
from ketch.image.store import ImageStore
from ketch.spec.image import ContainerConfig
from ketch.testing import make_rootfs


@pytest.fixture(params=["ketch", "distribution"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    r = Registry(request.param, tmp_path / "registry").start()
    yield r
    r.stop()


@pytest.fixture
def distribution(tmp_path: Path) -> Iterator[Registry]:
    r = Registry("distribution", tmp_path / "registry").start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _no_host_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETCH_HOSTS_DIR", str(tmp_path / "no-hosts"))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker"))


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "root"), durable=False)


@pytest.fixture
def busybox(store: ImageStore, tmp_path: Path) -> str:
    rootfs = make_rootfs(str(tmp_path / "busybox-rootfs"))
    image_from_dir(store, rootfs, "busybox", config=ContainerConfig(cmd=["sh", "-c", "echo hello; id -u"]))
    return "busybox"
