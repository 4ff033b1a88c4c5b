"""Driving an OCI runtime binary (ketch-runtime, runc, crun) with runc's command line and its own --root."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Any

from ketch.engine.errors import RuntimeFailed

__all__ = ["OciRuntime"]


class OciRuntime:
    def __init__(self, name: str, binary: str, state_root: str) -> None:
        self.name = name
        self.binary = binary
        self.root = state_root
        os.makedirs(state_root, 0o700, exist_ok=True)

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a runtime command. Output goes through files: a created container holds the runtime's stdio,
        so a pipe would not see EOF until the container exits."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                code = subprocess.run(
                    self.argv(*args), stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=120
                ).returncode
            except FileNotFoundError:
                raise RuntimeFailed(f"OCI runtime {self.binary} not found") from None
            out.seek(0)
            err.seek(0)
            proc = subprocess.CompletedProcess(list(args), code, out.read().decode(), err.read().decode())
        if check and code != 0:
            message = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit status {code}"
            raise RuntimeFailed(f"{self.name} {args[0]}: {message}")
        return proc

    def known(self, cid: str) -> bool:
        """Whether the runtime may know ``cid``: runc, crun and ketch-runtime all keep a container's state in
        ``<root>/<id>``, so no directory means no container and no process to spawn to learn that."""
        return os.path.lexists(os.path.join(self.root, cid))

    def state(self, cid: str) -> dict[str, Any] | None:
        """The runtime's state of ``cid``, None when the runtime does not know it."""
        if not self.known(cid):
            return None
        proc = self.call("state", cid, check=False)
        if proc.returncode != 0:
            return None
        try:
            data: dict[str, Any] = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return None
        return data

    def start(self, cid: str) -> None:
        self.call("start", cid)

    def kill(self, cid: str, signal: str, *, all_processes: bool = False) -> bool:
        args = ["kill", *(["--all"] if all_processes else []), cid, signal]
        return self.call(*args, check=False).returncode == 0

    def delete(self, cid: str, *, force: bool = False) -> None:
        """Delete ``cid``; nothing to do when the runtime does not know it (``run`` deletes its container)."""
        if not self.known(cid):
            return
        proc = self.call("delete", *(["--force"] if force else []), cid, check=False)
        if proc.returncode != 0 and self.known(cid):
            message = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit status {proc.returncode}"
            raise RuntimeFailed(f"{self.name} delete: {message}")
