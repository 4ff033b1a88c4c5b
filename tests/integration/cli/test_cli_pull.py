"""``--pull missing|always|never`` against a ketch registry on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any as Ketch

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture
def registry(kt: Ketch, tmp_path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ketch.cli.main", "registry", "serve", "--addr", f"127.0.0.1:{port}",
         "--root", str(tmp_path / "registry")],
        env=kt.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_pull_policies(kt: Ketch, registry: str) -> None:
    ref = f"{registry}/cli/box:v1"
    kt.ok("tag", "testbox", ref)
    kt.ok("push", "-q", ref)
    kt.ok("rmi", ref)
    never = kt("run", "--rm", "--network", "none", "--pull", "never", ref, "true")
    assert never.returncode == 125 and f"image '{ref}' not found locally" in never.stderr
    # missing: pulled once; the pull's progress stays off stdout, which carries only the container's output
    assert kt.ok("run", "--rm", "--network", "none", ref, "echo", "ran") == "ran\n"
    always = kt("run", "--rm", "--network", "none", "--pull", "always", ref, "echo", "again")
    assert (always.returncode, always.stdout) == (0, "again\n")
    assert "already present" in always.stderr
    missing = kt("run", "--rm", "--network", "none", f"{registry}/cli/nosuch:v1", "true")
    assert missing.returncode == 125
    assert "pulling it failed" in missing.stderr and "unknown to repository 'cli/nosuch'" in missing.stderr
    kt.ok("rmi", ref)
