"""ketchd (and containerd's CRI plugin, as the reference) on private directories for the CRI tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from ketch.cri.client import CriClient
from ketch.cri.harness import Daemon, free_network, remove_bridge, start_containerd, start_ketchd
from ketch.testing import make_rootfs
from ketch.testing.peers import require

TOOLS = ("conmon", "runc", "unshare", "nsenter")


def _base(tag: str) -> str:
    return tempfile.mkdtemp(prefix=f"kcri-{tag}-", dir="/tmp")


def _cleanup(d: Daemon) -> None:
    with d.client() as c:
        for p in c.pods():
            try:
                c.stop_pod(p.id)
                c.remove_pod(p.id)
            except Exception:  # best effort: the daemon is going away
                pass
    d.stop()


@pytest.fixture(scope="session")
def ketchd() -> Iterator[Daemon]:
    require(*TOOLS)
    base = _base("k")
    bridge, subnet = free_network()
    d = start_ketchd(base, make_rootfs, bridge=bridge, subnet=subnet)
    yield d
    _cleanup(d)
    remove_bridge(bridge)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def containerd() -> Iterator[Daemon]:
    require(*TOOLS, "containerd", "ctr", "containerd-shim-runc-v2")
    base = _base("c")
    bridge, subnet = free_network()
    d = start_containerd(base, make_rootfs, bridge=bridge, subnet=subnet)
    yield d
    _cleanup(d)
    remove_bridge(bridge)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["ketchd", "containerd"])
def cri(request: pytest.FixtureRequest) -> Iterator[tuple[str, CriClient, Daemon]]:
    """The same client tests against ketchd and containerd."""
    d: Daemon = request.getfixturevalue(request.param)
    with d.client() as c:
        yield request.param, c, d


@pytest.fixture
def k(ketchd: Daemon) -> Iterator[CriClient]:
    with ketchd.client() as c:
        yield c


@pytest.fixture
def logdir(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("podlogs")
    os.chmod(d, 0o755)
    return str(d)
