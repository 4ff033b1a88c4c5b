"""The operations of runtime-spec runtime.md on containers kept in a :class:`StateStore`.

create lives in :mod:`ketch.runtime.process.parent`; this module does the rest: start, state, kill, delete,
list, and the foreground ``run``.
"""

from __future__ import annotations

import errno
import os
import time

from ketch.linux import signals
from ketch.runtime.errors import ContainerNotFound, InvalidState
from ketch.runtime.hooks import run_hooks
from ketch.runtime.state import StateStore, process_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["delete", "kill", "list_containers", "load", "start", "state_of"]


def load(store: StateStore, container_id: str) -> tuple[dict[str, Any], str]:
    state = store.load(container_id)
    if state is None:
        raise ContainerNotFound(container_id)
    return state, store.status(state)


def state_of(store: StateStore, container_id: str) -> dict[str, Any]:
    """runc's ``state`` output: the runtime-spec state plus rootfs, created and owner."""
    state, status = load(store, container_id)
    out: dict[str, Any] = {
        "ociVersion": state["ociVersion"],
        "id": state["id"],
        "pid": state["pid"] if status != "stopped" else 0,
        "status": status,
        "bundle": state["bundle"],
        "rootfs": state["rootfs"],
        "created": state["created"],
        "owner": state.get("owner", ""),
    }
    if state.get("annotations"):
        out["annotations"] = state["annotations"]
    return out


def _spec_state_json(state: dict[str, Any], status: str) -> bytes:
    from ketch.runtime.process.parent import _json, public_state

    return _json(public_state(state, status))


def start(store: StateStore, container_id: str) -> list[str]:
    """Let the created container's program run; returns poststart hook warnings."""
    state, status = load(store, container_id)
    if status != "created":
        raise InvalidState(f'container "{container_id}" is {status}, not created: cannot start it')
    fifo = store.fifo_path(container_id)
    try:
        # non-blocking: fails with ENXIO at once if the init (the fifo's only reader) is gone
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidState(f'container "{container_id}" was already started') from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise InvalidState(f'container "{container_id}" exited before it could be started') from None
        raise
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    try:
        os.unlink(fifo)
    except FileNotFoundError:
        pass
    hooks = state["config"].get("hooks")
    if not (hooks and hooks.get("poststart")):
        return []
    # poststart hooks run once the program has been executed (runtime-spec runtime.md "Lifecycle" step 9)
    _wait_for_exec(state)
    return run_hooks(
        state["config"].get("hooks"), "poststart", _spec_state_json(state, "running"), warn_only=True
    )


def _wait_for_exec(state: dict[str, Any], timeout: float = 30.0) -> None:
    """Until the init has exec'd: its /proc/<pid>/exe stops being this interpreter (or the init is gone)."""
    import sys

    pid = state["pid"]
    runtime_exe = os.path.realpath(sys.executable)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{pid}/exe") != runtime_exe:
                return
        except OSError:
            return
        time.sleep(0.0002)


def kill(store: StateStore, container_id: str, sig: int, *, all_processes: bool = False) -> None:
    state, status = load(store, container_id)
    if status == "stopped":
        raise InvalidState(f'container "{container_id}" is not running')
    if all_processes and state.get("cgroup"):
        from ketch.runtime.cgroups import new_manager_from_state

        new_manager_from_state(state["cgroup"]).kill_all(sig)
        return
    try:
        os.kill(state["pid"], sig)
    except ProcessLookupError:
        raise InvalidState(f'container "{container_id}" is not running') from None


def _wait_gone(pid: int, start_time: int | None, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return True
        except ChildProcessError:
            pass
        info = process_start_time(pid)
        if info is None or info[1] in ("Z", "X") or info[0] != start_time:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def delete(store: StateStore, container_id: str, *, force: bool = False) -> list[str]:
    """Remove a stopped (or, like runc, a created) container; ``force`` kills a running one first.
    Returns poststop hook warnings."""
    state = store.load(container_id)
    if state is None:
        if store.exists(container_id):
            store.remove(container_id)  # a create that died before writing any state
            return []
        if force:
            return []
        raise ContainerNotFound(container_id)
    status = store.status(state)
    if status in ("running", "paused") and not force:
        raise InvalidState(f'container "{container_id}" is {status}: stop it first or use --force')
    cgroup = None
    if state.get("cgroup"):
        from ketch.runtime.cgroups import new_manager_from_state

        cgroup = new_manager_from_state(state["cgroup"])
    if status != "stopped":
        if status == "paused" and cgroup is not None:
            cgroup.thaw()
        try:
            os.kill(state["pid"], signals.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_gone(state["pid"], state.get("pidStartTime"))
    if cgroup is not None:
        try:
            if cgroup.pids():
                cgroup.kill_all(signals.SIGKILL)
        except OSError:
            pass
        cgroup.destroy()
    warnings = run_hooks(
        state["config"].get("hooks"), "poststop", _spec_state_json(state, "stopped"), warn_only=True
    )
    store.remove(container_id)
    return warnings


def list_containers(store: StateStore) -> list[dict[str, Any]]:
    out = []
    for cid in store.ids():
        try:
            out.append(state_of(store, cid))
        except (ContainerNotFound, ValueError, OSError) as exc:
            if getattr(exc, "errno", None) not in (None, errno.ENOENT):
                raise
    return out


def _cgroup_of(state: dict[str, Any], container_id: str) -> Any:
    if not state.get("cgroup"):
        raise InvalidState(f'container "{container_id}" has no cgroup')
    from ketch.runtime.cgroups import new_manager_from_state

    return new_manager_from_state(state["cgroup"])


def pause(store: StateStore, container_id: str) -> None:
    """Freeze every process of the container (v1 freezer, v2 cgroup.freeze)."""
    state, status = load(store, container_id)
    if status != "running":
        raise InvalidState(f'container "{container_id}" is {status}, not running: cannot pause it')
    _cgroup_of(state, container_id).freeze()


def resume(store: StateStore, container_id: str) -> None:
    state, status = load(store, container_id)
    if status != "paused":
        raise InvalidState(f'container "{container_id}" is {status}, not paused: cannot resume it')
    _cgroup_of(state, container_id).thaw()


def processes(store: StateStore, container_id: str) -> list[int]:
    state, status = load(store, container_id)
    if status == "stopped":
        raise InvalidState(f'container "{container_id}" is not running')
    pids: list[int] = _cgroup_of(state, container_id).pids()
    return sorted(pids)


def update(store: StateStore, container_id: str, resources: dict[str, Any]) -> None:
    """Change the resources of a live container; the stored config follows, so state shows them."""
    state, status = load(store, container_id)
    if status == "stopped":
        raise InvalidState(f'container "{container_id}" is stopped: cannot update it')
    from ketch.runtime.cgroups import CgroupError

    try:
        _cgroup_of(state, container_id).update(resources)
    except CgroupError as exc:
        from ketch.runtime.errors import ConfigInvalid

        raise ConfigInvalid(str(exc)) from None
    merged = state["config"].setdefault("linux", {}).setdefault("resources", {})
    for key, value in resources.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    store.save(state)


def stats(store: StateStore, container_id: str) -> dict[str, Any]:
    state, status = load(store, container_id)
    if status == "stopped":
        raise InvalidState(f'container "{container_id}" is not running')
    data: dict[str, Any] = _cgroup_of(state, container_id).stats()
    return data


def events(store: StateStore, container_id: str, interval: float) -> Any:
    """Yield runc-style events: {"type": "stats", ...} every ``interval`` seconds and {"type": "oom"} when the
    OOM killer strikes, until the container stops."""
    state, status = load(store, container_id)
    if status == "stopped":
        raise InvalidState(f'container "{container_id}" is not running')
    mgr = _cgroup_of(state, container_id)
    watch = mgr.oom_watch()
    try:
        while True:
            deadline = time.monotonic() + interval
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if watch.wait(min(left, 0.25)):
                    yield {"type": "oom", "id": container_id}
                if store.status(state) == "stopped":
                    return
            if store.status(state) == "stopped":
                return
            yield {"type": "stats", "id": container_id, "data": mgr.stats()}
    finally:
        watch.close()
