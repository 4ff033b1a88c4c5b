"""Finding the peer tools tests compare against (runc, crun, skopeo, ...), and skipping without them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["containerd", "ensure_crun_hugetlb", "ketch_tool", "needs", "require"]


def needs(*tools: str) -> Any:
    """A pytest skip marker unless every tool is on PATH (setup.sh installs the peers from Debian)."""
    import pytest

    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


def ketch_tool(name: str) -> str:
    """The path of one of ketch's console scripts, next to the running interpreter or on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(here):
        return here
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (pip install -e .)")
    return found


def ensure_crun_hugetlb() -> None:
    """crun refuses to start on a hybrid host whose v1 hierarchies lack hugetlb; mount it if missing."""
    path = "/sys/fs/cgroup/hugetlb"
    if os.path.ismount(path) or not os.path.isdir("/sys/fs/cgroup/memory"):
        return
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", path], check=False, capture_output=True)


def require(*tools: str) -> None:
    """Inside a test: skip it unless every tool is on PATH and we are root."""
    import pytest

    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    if os.geteuid() != 0:
        pytest.skip("needs root")


@contextlib.contextmanager
def containerd(base: str) -> Iterator[str]:
    """A containerd of its own (root, state and socket under ``base``); yields the socket address."""
    import time

    address = os.path.join(base, "containerd.sock")
    with open(os.path.join(base, "containerd.log"), "wb") as log:
        proc = subprocess.Popen(
            ["containerd", "--root", os.path.join(base, "root"), "--state", os.path.join(base, "state"),
             "--address", address],
            stdout=log, stderr=log,
        )  # fmt: skip
        try:
            deadline = time.time() + 20
            while not os.path.exists(address):
                if time.time() > deadline or proc.poll() is not None:
                    with open(os.path.join(base, "containerd.log")) as f:
                        raise AssertionError("containerd did not start: " + f.read()[-2000:])
                time.sleep(0.05)
            yield address
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
