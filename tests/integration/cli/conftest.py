"""A private ketch for the CLI tests: its own root, run root, config file, runtime launcher, test image and
bridge network (10.66.x.0/24, traffic only between namespaces these tests create)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"


@dataclass
class Ketch:
    base: Path
    config: Path
    network: str
    subnet: str

    def env(self) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(SRC), KETCH_CONFIG=str(self.config))

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ketch.cli.main", *args]

    def __call__(self, *args: str, timeout: float = 90, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``ketch ARGS`` as a user would; output through files (detached containers keep pipes open)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run(
                self.argv(*args), env=self.env(), stdout=out, stderr=err, timeout=timeout,
                input=input.encode() if input is not None else None,
                stdin=subprocess.DEVNULL if input is None else None,
            ).returncode  # fmt: skip
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(list(args), code, out.read().decode(), err.read().decode())

    def ok(self, *args: str, timeout: float = 90) -> str:
        proc = self(*args, timeout=timeout)
        assert proc.returncode == 0, f"ketch {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
        return proc.stdout


@pytest.fixture(scope="session")
def kt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketch]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if shutil.which("conmon") is None:
        pytest.skip("needs conmon")
    from ketch.cli.launcher import install
    from ketch.testing import make_rootfs

    base = Path(tempfile.mkdtemp(prefix="kcli-", dir="/tmp"))  # short: conmon's socket paths are limited
    (base / "bin").mkdir()
    runtime = install(str(base / "bin"), sys.executable)
    config = base / "ketch.toml"
    subnet_byte = 100 + os.getpid() % 100
    config.write_text(
        f'[storage]\nroot = "{base}/root"\nrun_root = "{base}/run"\n'
        f'[runtime]\ndefault = "ketch-runtime"\n[runtime.paths]\n"ketch-runtime" = "{runtime}"\n'
        f'[network]\ndefault_subnet = "10.66.{subnet_byte}.0/24"\n'
    )
    k = Ketch(base, config, f"kt{os.getpid()}", f"10.66.{subnet_byte}.0/24")
    try:
        rootfs = base / "rootfs"
        make_rootfs(str(rootfs))
        (rootfs / "www").mkdir()
        (rootfs / "www" / "index.html").write_text("hello from the container\n")
        k.ok("image", "import", "--rootfs", str(rootfs), "--name", "testbox")
        k.ok("network", "create", "--subnet", k.subnet, k.network)
        yield k
    finally:
        for cid in k("ps", "-aq").stdout.split():
            k("rm", "-f", cid)
        k("network", "rm", k.network)
        k("volume", "rm", "kvol")
        subprocess.run(["umount", "-R", str(base / "run" / "netns")], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
