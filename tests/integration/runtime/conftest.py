from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch.spec.runtime_defaults import default_config
from ketch.testing import make_bundle
from ketch.testing.peers import ensure_crun_hugetlb, ketch_tool


class Runtime:
    """Runs one OCI runtime binary with its own --root."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.name = os.path.basename(binary)

    def __call__(self, *args: str, check: bool = True, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command; output goes through files, not pipes: a created container keeps its stdio open, so
        a pipe would not see EOF until the container exits (runc behaves the same)."""
        import tempfile

        kw.setdefault("stdin", subprocess.DEVNULL)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run(
                [self.binary, "--root", str(self.root), *args], stdout=out, stderr=err, timeout=timeout, **kw
            ).returncode
            out.seek(0)
            err.seek(0)
            proc = subprocess.CompletedProcess(args, code, out.read().decode(), err.read().decode())
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def state(self, cid: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self("state", cid).stdout)
        return result

    def cleanup(self) -> None:
        if self.root.exists():
            for cid in os.listdir(self.root):
                self("delete", "--force", cid, check=False)


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
