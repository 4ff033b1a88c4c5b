"""An OCI runtime binary (runc's command line: ketch-runtime, runc, crun) with conmon as each container's
monitor.

conmon (containers/conmon docs/conmon.8.md, driven as CRI-O's internal/oci/runtime_oci.go does) runs
``RUNTIME create``, then double-forks away from ketchd: it holds the container's stdio, writes the CRI log
format (``<RFC3339Nano> <stream> <P|F> <msg>``), writes the exit status to ``<exit dir>/<id>`` and
``<persist dir>/exit`` (and ``oom`` there after an OOM kill), and reopens the log when ``2`` is written to
the bundle's ``ctl`` fifo. It is not ketchd's child once created, so ketchd can restart without stopping
containers or losing their output and exit codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from dataclasses import dataclass
from typing import Any

from ketch._common.atomicio import write_atomic
from ketch.cri.errors import DeadlineExceeded, ExternalError, NotFound
from ketch.cri.proc import run, run_checked

__all__ = ["ExecResult", "OciRuntime", "kill_tree"]


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class OciRuntime:
    def __init__(self, name: str, path: str, root: str, *, conmon: str, exits_dir: str) -> None:
        self.name = name
        self.path = path
        self.root = root
        self.conmon = conmon
        self.exits_dir = exits_dir
        os.makedirs(root, exist_ok=True)
        os.makedirs(exits_dir, exist_ok=True)

    def _argv(self, *args: str) -> list[str]:
        return [self.path, "--root", self.root, *args]

    async def create(
        self, cid: str, bundle: str, *, log_path: str, persist_dir: str, tty: bool = False, stdin: bool = False,
        timeout: float = 120.0,
    ) -> int:
        """Create ``cid`` under a new conmon; returns the container's pid (the process is not started)."""
        os.makedirs(persist_dir, exist_ok=True)  # conmon writes <persist>/exit and gives up if it cannot
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.exits_dir, cid))
        argv = [
            self.conmon, "--api-version", "1", "-c", cid, "-u", cid, "-n", cid,
            "-r", self.path, "-b", bundle,
            "-p", os.path.join(persist_dir, "pid"), "-P", os.path.join(persist_dir, "conmon.pid"),
            "-l", f"k8s-file:{log_path}", "--exit-dir", self.exits_dir, "--persist-dir", persist_dir,
            "--socket-dir-path", os.path.join(persist_dir, "sock"), "--runtime-arg", f"--root={self.root}",
            "--log-level", "error", "--full-attach",
        ]
        if tty:
            argv.append("-t")
        if stdin:
            argv += ["-i", "--leave-stdin-open"]
        os.makedirs(os.path.join(persist_dir, "sock"), exist_ok=True)
        r, w = os.pipe()
        try:
            env = dict(os.environ, _OCI_SYNCPIPE=str(w))
            # cwd: conmon drops an "oom" marker in its working directory after an OOM kill.
            res = await run(argv, env=env, pass_fds=(w,), timeout=timeout, new_session=True, cwd=persist_dir)
        finally:
            os.close(w)
        try:
            data = await asyncio.wait_for(asyncio.to_thread(_read_all, r), timeout)
        except TimeoutError:
            raise DeadlineExceeded(f"conmon for container {cid} reported nothing in {timeout}s") from None
        finally:
            os.close(r)
        msg = _parse_sync(data)
        if res.returncode != 0 and msg is None:
            raise ExternalError(f"conmon for container {cid}: {res.describe()}")
        if msg is None:
            raise ExternalError(f"conmon for container {cid} exited without reporting a pid")
        pid, text = msg
        if pid <= 0:
            raise ExternalError(f"{os.path.basename(self.path)} create {cid} failed: {text.strip()}")
        return pid

    async def start(self, cid: str) -> None:
        await run_checked(self._argv("start", cid), timeout=60)

    async def kill(self, cid: str, sig: int, *, all_procs: bool = False) -> None:
        args = ["kill", *(["--all"] if all_procs else []), cid, str(sig)]
        res = await run(self._argv(*args), timeout=30)
        if res.returncode != 0:
            st = await self.state(cid)
            if st is None or st.get("status") == "stopped":
                return  # already gone: killing is idempotent
            raise ExternalError(res.describe())

    async def delete(self, cid: str) -> None:
        res = await run(self._argv("delete", "--force", cid), timeout=60)
        if res.returncode != 0 and await self.state(cid) is not None:
            raise ExternalError(res.describe())

    async def state(self, cid: str) -> dict[str, Any] | None:
        res = await run(self._argv("state", cid), timeout=30)
        if res.returncode != 0:
            return None
        try:
            doc = json.loads(res.stdout)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    async def update(self, cid: str, resources: dict[str, Any], tmpdir: str) -> None:
        path = os.path.join(tmpdir, f"update-{cid}.json")
        write_atomic(path, json.dumps(resources).encode(), 0o600, durable=False)
        try:
            await run_checked(self._argv("update", "--resources", path, cid), timeout=60)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    async def exec_sync(self, cid: str, process: dict[str, Any], tmpdir: str, timeout: float | None,
                        limit: int) -> ExecResult:
        """Run ``process`` in ``cid``; output past ``limit`` bytes per stream is cut (kubelet's 16 MiB cap)."""
        path = os.path.join(tmpdir, f"exec-{cid}-{os.urandom(4).hex()}.json")
        write_atomic(path, json.dumps(process).encode(), 0o600, durable=False)
        try:
            p = await asyncio.create_subprocess_exec(
                *self._argv("exec", "--process", path, cid),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            assert p.stdout is not None and p.stderr is not None
            stdout, stderr = p.stdout, p.stderr

            async def collect() -> tuple[bytes, bytes]:
                out, err, _ = await asyncio.gather(_read_capped(stdout, limit), _read_capped(stderr, limit),
                                                   p.wait())
                return out, err

            try:
                out, err = await asyncio.wait_for(collect(), timeout)
            except TimeoutError:
                # Kill the command itself (the runtime cannot forward SIGKILL; it is the runtime's child, the
                # runtime being its subreaper), then the runtime.
                kill_tree(p.pid)
                await p.wait()
                raise DeadlineExceeded(f"command {process['args']!r} in container {cid} timed out after "
                                       f"{timeout}s") from None
            return ExecResult(p.returncode if p.returncode is not None else -1, out, err)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def exit_status(self, cid: str) -> tuple[int, int] | None:
        """(exit code, time of exit in ns) from conmon's exit file, or None while running."""
        path = os.path.join(self.exits_dir, cid)
        try:
            with open(path) as f:
                text = f.read().strip()
            st = os.stat(path)
        except FileNotFoundError:
            return None
        try:
            return int(text), st.st_mtime_ns
        except ValueError:
            return 255, st.st_mtime_ns

    def forget_exit(self, cid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.exits_dir, cid))

    @staticmethod
    def reopen_log(bundle: str) -> None:
        """Ask conmon to reopen the log file (after kubelet rotated it): "2" on the ctl fifo."""
        ctl = os.path.join(bundle, "ctl")
        try:
            fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"container bundle {bundle} has no conmon control fifo") from None
        except OSError as e:  # ENXIO: no reader, conmon is gone
            raise ExternalError(f"conmon of {bundle} is not running: {e.strerror}") from None
        try:
            os.write(fd, b"2 0 0\n")
        finally:
            os.close(fd)


def kill_tree(root: int) -> None:
    """SIGKILL ``root`` and every process descending from it (children found through /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces and parentheses): state, ppid, ...
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    doomed, todo = [], [root]
    while todo:
        pid = todo.pop()
        doomed.append(pid)
        todo.extend(children.get(pid, []))
    for pid in reversed(doomed):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)
        if b.endswith(b"\n"):
            return b"".join(chunks)


def _parse_sync(data: bytes) -> tuple[int, str] | None:
    for line in data.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "data" in doc:
            return int(doc["data"]), str(doc.get("message", ""))
    return None


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> bytes:
    buf = bytearray()
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return bytes(buf)
        room = limit - len(buf)
        if room > 0:
            buf += chunk[:room]
