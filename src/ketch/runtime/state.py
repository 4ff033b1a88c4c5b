"""Container state on disk, and the status derived from it.

On disk, under the runtime's ``--root`` (default /run/ketch)::

    <root>/
      <id>/                 made with mkdir(2): a second create with the same id fails atomically
        state.json          written atomically (temp, fsync, rename); "version": 1
        exec.fifo           exists from create until start (the init blocks opening it for writing)

The lifecycle (runtime-spec runtime.md "Lifecycle"); the status is derived on every read from state.json,
the init process (alive? same start time, so not a recycled pid?) and the fifo, never stored::

    create ──> creating ──> created ──start──> running ──(exit, kill)──> stopped ──delete──> gone
                  │                               ↑   │pause
                  └─ failure: everything removed   └───┴──> paused (cgroup frozen) ──resume──> running

A failed create removes the directory, so a container either exists whole or not at all.
"""

from __future__ import annotations

import os
import time

from ketch._common import fastjson
from ketch._common.atomicio import write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "STATE_VERSION",
    "StateStore",
    "format_time",
    "process_start_time",
]

STATE_VERSION = 1
FIFO_NAME = "exec.fifo"
STATE_NAME = "state.json"


def format_time(ns: int) -> str:
    """RFC 3339 with nanoseconds in UTC, as runc writes ``created``."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def process_start_time(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks, state letter) of ``pid`` from /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name may contain spaces and parentheses: fields start after the last ')'
    fields = raw[raw.rindex(b")") + 2 :].split()
    return int(fields[19]), fields[0].decode()


class StateStore:
    """The containers under one ``--root``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def dir(self, container_id: str) -> str:
        return os.path.join(self.root, container_id)

    def fifo_path(self, container_id: str) -> str:
        return os.path.join(self.root, container_id, FIFO_NAME)

    def claim(self, container_id: str) -> str:
        """Create the container's directory; raises FileExistsError if the id is taken."""
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        path = self.dir(container_id)
        os.mkdir(path, 0o711)
        return path

    def exists(self, container_id: str) -> bool:
        return os.path.isdir(self.dir(container_id))

    def load(self, container_id: str) -> dict[str, Any] | None:
        """The stored state, or None if the container does not exist (or is still being created)."""
        try:
            with open(os.path.join(self.dir(container_id), STATE_NAME), "rb") as f:
                state: dict[str, Any] = fastjson.loads(f.read())
        except FileNotFoundError:
            return None
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"state of container {container_id!r} has unknown version {state.get('version')!r}")
        return state

    def save(self, state: dict[str, Any]) -> None:
        state["version"] = STATE_VERSION
        data = fastjson.dumps(state).encode()
        write_atomic(os.path.join(self.dir(state["id"]), STATE_NAME), data, 0o600)

    def remove(self, container_id: str) -> None:
        path = self.dir(container_id)
        for name in os.listdir(path) if os.path.isdir(path) else ():
            try:
                os.unlink(os.path.join(path, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.isfile(os.path.join(self.root, n, STATE_NAME)))

    def status(self, state: dict[str, Any]) -> str:
        """creating | created | running | paused | stopped, derived from the process and the fifo."""
        if state.get("phase") == "creating":
            info = process_start_time(state["pid"]) if state.get("pid") else None
            return "creating" if info is None or info[1] != "Z" else "stopped"
        pid = state.get("pid") or 0
        info = process_start_time(pid) if pid > 0 else None
        if info is None or info[0] != state.get("pidStartTime") or info[1] in ("Z", "X"):
            return "stopped"
        if os.path.exists(self.fifo_path(state["id"])):
            return "created"
        if _is_frozen(state):
            return "paused"
        return "running"


def _is_frozen(state: dict[str, Any]) -> bool:
    cg = state.get("cgroup")
    if not cg:
        return False
    from ketch.runtime.cgroups.peek import is_frozen

    return is_frozen(cg)
