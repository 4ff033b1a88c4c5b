"""Detached containers: conmon creates the container through the runtime binary, holds its stdio, writes its
output to a k8s-file log and its exit code to an exit file, and outlives the ``ketch`` command.

The engine learns that the container is created through conmon's sync pipe (``_OCI_SYNCPIPE``: conmon
writes ``{"data": PID}`` on success, or a negative ``data`` and a ``message`` on failure), then starts it
with ``RUNTIME start``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from ketch.engine.errors import RuntimeFailed
from ketch.engine.ocirt import OciRuntime

__all__ = ["conmon_binary", "create_with_conmon", "read_exit_file"]


def conmon_binary() -> str:
    found = shutil.which("conmon") or ("/usr/bin/conmon" if os.access("/usr/bin/conmon", os.X_OK) else None)
    if found is None:
        raise RuntimeFailed("conmon not found", hint="install Debian's conmon package")
    return found


def create_with_conmon(
    runtime: OciRuntime,
    cid: str,
    name: str,
    bundle: str,
    *,
    log_path: str,
    exit_dir: str,
    socket_dir: str,
    state_dir: str,
    tty: bool,
    stdin: bool,
    exit_command: list[str] | None = None,
) -> int:
    """Create container ``cid`` under a new conmon; returns the container's pid."""
    for d in (exit_dir, socket_dir, state_dir):
        os.makedirs(d, 0o700, exist_ok=True)
    argv = [
        conmon_binary(), "--api-version", "1", "-c", cid, "-u", cid, "-n", name,
        "-r", runtime.binary, "--runtime-arg", f"--root={runtime.root}", "-b", bundle,
        "-p", os.path.join(state_dir, "pidfile"), "-P", os.path.join(state_dir, "conmon.pid"),
        "-l", f"k8s-file:{log_path}", "--exit-dir", exit_dir, "--socket-dir-path", socket_dir,
        "--log-level", "error",
    ]  # fmt: skip
    if tty:
        argv.append("-t")
    if stdin:
        argv.append("-i")
    if exit_command:
        argv += ["--exit-command", exit_command[0]]
        for arg in exit_command[1:]:
            argv += ["--exit-command-arg", arg]
    read_end, write_end = os.pipe()
    err_path = os.path.join(state_dir, "conmon.err")
    try:
        with open(err_path, "wb") as err:
            # conmon reads the pipe's fd number from the environment (conmon's get_pipe_fd_from_env)
            env = dict(os.environ, _OCI_SYNCPIPE=str(write_end))
            proc = subprocess.run(
                argv, pass_fds=(write_end,), env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err
            )
        os.close(write_end)
        write_end = -1
        data = b""
        while b"\n" not in data:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    if proc.returncode != 0 and not data:
        with open(err_path, errors="replace") as f:
            text = f.read().strip()
        raise RuntimeFailed(f"conmon failed (exit status {proc.returncode}): {text or 'no message'}")
    try:
        answer = json.loads(data.decode(errors="replace").splitlines()[0])
    except (json.JSONDecodeError, IndexError):
        raise RuntimeFailed(f"conmon gave no container pid for {name} (got {data[:200]!r})") from None
    pid = answer.get("data")
    if not isinstance(pid, int) or pid <= 0:
        message = str(answer.get("message") or "").strip().splitlines()
        raise RuntimeFailed(f"creating container {name} failed: {message[-1] if message else 'no message'}")
    return pid


def read_exit_file(exit_dir: str, cid: str) -> int | None:
    try:
        with open(os.path.join(exit_dir, cid)) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        return None
