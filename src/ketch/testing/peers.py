"""Finding the peer tools tests compare against (runc, crun, skopeo, ...), and skipping without them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

__all__ = ["ensure_crun_hugetlb", "ketch_tool", "needs"]


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
