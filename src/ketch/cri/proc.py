"""Running the programs ketchd drives (OCI runtime, conmon, CNI plugins, unshare) as child processes.

ketchd never forks itself into a container: every namespace, mount and cgroup of a container is made by
a separate program, so the daemon's event loop and threads never run in a half-changed process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ketch.cri.errors import DeadlineExceeded, ExternalError

__all__ = ["Completed", "run", "run_checked"]


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes

    def describe(self) -> str:
        err = (self.stderr or self.stdout).decode(errors="replace").strip()
        return f"{os.path.basename(self.argv[0])} {' '.join(self.argv[1:3])} exited {self.returncode}: {err}"


async def run(
    argv: Sequence[str],
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    pass_fds: Sequence[int] = (),
    new_session: bool = False,
    cwd: str | None = None,
) -> Completed:
    """Run ``argv`` to completion; on timeout the program is killed and DeadlineExceeded raised."""
    try:
        p = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
            pass_fds=tuple(pass_fds),
            start_new_session=new_session,
            cwd=cwd,
        )
    except OSError as e:
        raise ExternalError(f"cannot run {argv[0]}: {e.strerror}") from None
    try:
        out, err = await asyncio.wait_for(p.communicate(stdin), timeout)
    except TimeoutError:
        p.kill()
        await p.wait()
        raise DeadlineExceeded(f"{os.path.basename(argv[0])} did not finish in {timeout}s") from None
    return Completed(list(argv), p.returncode if p.returncode is not None else -1, out, err)


async def run_checked(argv: Sequence[str], **kw: object) -> Completed:
    """:func:`run`, raising ExternalError (with the program's stderr) when it exits non-zero."""
    res = await run(argv, **kw)  # type: ignore[arg-type]
    if res.returncode != 0:
        raise ExternalError(res.describe())
    return res
