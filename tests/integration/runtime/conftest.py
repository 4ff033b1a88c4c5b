from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch.spec.runtime_defaults import default_config
from ketch.testing import make_bundle
from ketch.testing.peers import ensure_crun_hugetlb, ketch_tool
from ketch.testing.runtimes import Runtime


@pytest.fixture
def ketch(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(ketch_tool("ketch-runtime"), tmp_path / "state")
    yield rt
    rt.cleanup()


def _peer(name: str, tmp_path: Path) -> Runtime:
    binary = shutil.which(name)
    if binary is None:
        pytest.skip(f"needs {name}")
    if name == "crun":
        ensure_crun_hugetlb()
    return Runtime(binary, tmp_path / f"state-{name}")


@pytest.fixture(params=["ketch-runtime", "runc", "crun"])
def any_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """The same test under ketch-runtime and the peers, so the tests are proved against real runtimes."""
    rt = Runtime(ketch_tool("ketch-runtime"), tmp_path / "state") if request.param == "ketch-runtime" else _peer(request.param, tmp_path)
    yield rt
    rt.cleanup()


BundleFactory = Callable[..., Path]


@pytest.fixture
def bundle(tmp_path: Path, busybox_rootfs: str) -> BundleFactory:
    """bundle(args, edit=lambda cfg: ...) -> a bundle dir with a copy of the busybox root."""
    counter = [0]

    def make(args: list[str], edit: Callable[[dict[str, Any]], None] | None = None, **process: Any) -> Path:
        counter[0] += 1
        cfg = default_config(args, terminal=False)
        cfg["process"].update(process)
        if edit is not None:
            edit(cfg)
        path = tmp_path / f"bundle{counter[0]}"
        make_bundle(str(path), config=cfg, rootfs=busybox_rootfs)
        return path

    return make


@pytest.fixture
def cid() -> str:
    """A fresh container id."""
    return "t" + uuid.uuid4().hex[:10]
