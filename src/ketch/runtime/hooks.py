"""Lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks").

Each hook is run with the container's state JSON on stdin, its own args and env (env is *not* inherited),
and an optional timeout in seconds. What a failure means depends on the hook kind:

    prestart, createRuntime, createContainer, startContainer   failure is an error: the container is destroyed
    poststart, poststop                                        failure is logged as a warning; the rest go on
"""

from __future__ import annotations

import os
import time

from ketch.runtime.errors import HookFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["run_hook", "run_hooks"]


def run_hook(hook: dict[str, Any], state_json: bytes, kind: str, index: int) -> None:
    """Run one hook; raises HookFailed on a non-zero exit, a signal, a timeout, or a failure to start."""
    path = hook["path"]
    args = hook.get("args") or [path]
    env = hook.get("env", [])
    timeout = hook.get("timeout")
    name = f"{kind}[{index}] {path}"
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.fork()
    except BaseException:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # pragma: no cover - child
        try:
            os.dup2(r, 0)
            os.execve(path, args, dict(item.split("=", 1) for item in env))
        except BaseException as exc:
            os.write(2, f"hook {name}: {exc}\n".encode())
        os._exit(127)
    os.close(r)
    try:
        try:
            os.write(w, state_json)
        except BrokenPipeError:
            pass  # the hook need not read its stdin
    finally:
        os.close(w)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        if done:
            break
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(pid, 9)  # SIGKILL
            os.waitpid(pid, 0)
            raise HookFailed(f"hook {name} timed out after {timeout}s")
        time.sleep(0.005)
    if os.WIFSIGNALED(status):
        raise HookFailed(f"hook {name} was killed by signal {os.WTERMSIG(status)}")
    code = os.WEXITSTATUS(status)
    if code == 127:
        raise HookFailed(f"hook {name} could not be run (exit status 127)")
    if code != 0:
        raise HookFailed(f"hook {name} failed with exit status {code}")


def run_hooks(hooks: dict[str, Any] | None, kind: str, state_json: bytes, *, warn_only: bool = False) -> list[str]:
    """Run every hook of ``kind`` in order. With ``warn_only`` failures are collected and returned."""
    warnings: list[str] = []
    for i, hook in enumerate((hooks or {}).get(kind, [])):
        try:
            run_hook(hook, state_json, kind, i)
        except (HookFailed, OSError) as exc:
            if not warn_only:
                raise HookFailed(str(exc)) from exc
            warnings.append(str(exc))
    return warnings
