"""Driving an OCI runtime binary (ketch-runtime, runc, crun) from tests, each with its own --root."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Runtime"]


class Runtime:
    """Runs one OCI runtime binary with its own --root."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.name = os.path.basename(binary)

    def __call__(self, *args: str, check: bool = True, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command; output goes through files, not pipes: a created container keeps its stdio open, so
        a pipe would not see EOF until the container exits (runc behaves the same)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run(
                [self.binary, "--root", str(self.root), *args], stdout=out, stderr=err, timeout=timeout, **kw
            ).returncode
            out.seek(0)
            err.seek(0)
            proc = subprocess.CompletedProcess(list(args), code, out.read().decode(), err.read().decode())
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
