"""Driving an OCI runtime binary (ketch-runtime, runc, crun) with runc's command line and its own --root."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Any

from ketch.engine.errors import RuntimeFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Spawner = Callable[..., Any]

__all__ = ["OciRuntime"]


def _popen(argv: list[str], *, stdin: Any = None, stdout: Any = None, stderr: Any = None) -> Any:
    return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr)


class OciRuntime:
    """``spawn`` starts a runtime process (``subprocess.Popen``'s signature and result): the command line
    gives one that runs ketch-runtime in a fork of itself (ketch.cli.runtime_fork)."""

    def __init__(self, name: str, binary: str, state_root: str, spawn: Spawner | None = None) -> None:
        self.name = name
        self.binary = binary
        self.root = state_root
        self._spawn: Spawner = spawn or _popen
        os.makedirs(state_root, 0o700, exist_ok=True)

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def popen(self, *args: str, stdin: Any = None, stdout: Any = None, stderr: Any = None) -> Any:
        """Start ``RUNTIME --root ROOT ARGS...``; a Popen-like object (wait, poll, send_signal, returncode)."""
        try:
            return self._spawn(self.argv(*args), stdin=stdin, stdout=stdout, stderr=stderr)
        except FileNotFoundError:
            raise RuntimeFailed(f"OCI runtime {self.binary} not found") from None

    def call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a runtime command. Output goes through files: a created container holds the runtime's stdio,
        so a pipe would not see EOF until the container exits."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = self.popen(*args, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            try:
                code: int = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeFailed(f"{self.name} {args[0]}: no answer in 120 s") from None
            out.seek(0)
            err.seek(0)
            done = subprocess.CompletedProcess(list(args), code, out.read().decode(), err.read().decode())
        if check and code != 0:
            raise self._failed(done)
        return done

    def _failed(self, done: subprocess.CompletedProcess[str]) -> RuntimeFailed:
        """The error for a failed call: the runtime's last line of stderr (runc's shape), else the status."""
        lines = done.stderr.strip().splitlines()
        return RuntimeFailed(f"{self.name} {done.args[0]}: {lines[-1] if lines else f'exit status {done.returncode}'}")

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
            raise self._failed(proc)
