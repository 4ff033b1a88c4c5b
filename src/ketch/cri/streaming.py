"""The streaming server behind Exec, Attach and PortForward: one-time URLs served over WebSocket.

Protocols (kubernetes apimachinery ``pkg/util/remotecommand`` and ``pkg/util/httpstream/wsstream``):

* exec / attach: subprotocols ``v5.channel.k8s.io``, ``v4.channel.k8s.io``, ``v3.channel.k8s.io``,
  ``v2.channel.k8s.io``, ``channel.k8s.io``; every binary message starts with its channel byte:
  0 stdin, 1 stdout, 2 stderr, 3 error (v4+: a JSON metav1.Status carrying the exit code), 4 resize
  (``{"Width", "Height"}``). v5 adds a close message from the client: ``[255, channel]`` (stdin EOF).
* port-forward: subprotocol ``v4.channel.k8s.io`` / ``portforward.k8s.io``, ports in ``?port=`` query
  parameters; port i uses data channel 2i and error channel 2i+1, and the first message the server sends
  on each channel is the port as two little-endian bytes.

A URL is good for one connection within a minute of the RPC that issued it (kubelet's token cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import struct
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from ketch._common.atomicio import write_atomic
from ketch.cri.errors import CriError
from ketch.cri.service import CriService
from ketch.linux.ns import CLONE_NEWNET, setns

__all__ = ["PROTOCOLS", "StreamServer"]

PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
             "channel.k8s.io"]
PORTFORWARD_PROTOCOLS = ["v4.channel.k8s.io", "portforward.k8s.io"]
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TOKEN_TTL = 60.0


@dataclass
class _Pending:
    kind: str
    request: Any
    expires: float


def _status(exit_code: int, message: str = "") -> bytes:
    if exit_code == 0 and not message:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    doc: dict[str, Any] = {"metadata": {}, "status": "Failure", "message": message or
                           f"command terminated with non-zero exit code: exit status {exit_code}"}
    if exit_code > 0:
        doc["reason"] = "NonZeroExitCode"
        doc["details"] = {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}
    return json.dumps(doc).encode()


class StreamServer:
    def __init__(self, svc: CriService, address: str = "127.0.0.1", port: int = 0) -> None:
        self.svc = svc
        self.address = address
        self.port = port
        self._pending: dict[str, _Pending] = {}
        self._runner: web.AppRunner | None = None
        self._netns_lock = threading.Lock()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/exec/{token}", self._exec)
        app.router.add_get("/attach/{token}", self._attach)
        app.router.add_get("/portforward/{token}", self._portforward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port)
        await site.start()
        server: Any = site._server
        self.port = int(server.sockets[0].getsockname()[1])
        host = f"[{self.address}]" if ":" in self.address else self.address
        self.svc.stream_url = f"http://{host}:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url_for(self, kind: str, request: Any) -> str:
        now = time.monotonic()
        for t in [t for t, p in self._pending.items() if p.expires < now]:
            del self._pending[t]
        token = secrets.token_urlsafe(24)
        self._pending[token] = _Pending(kind, request, now + TOKEN_TTL)
        return f"{self.svc.stream_url}/{kind}/{token}"

    def _take(self, request: web.Request, kind: str) -> Any:
        p = self._pending.pop(request.match_info["token"], None)
        if p is None or p.kind != kind or p.expires < time.monotonic():
            raise web.HTTPNotFound(text="unknown or expired streaming token\n")
        return p.request

    # -- exec ----------------------------------------------------------------------------------------------

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        req = self._take(request, "exec")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        proto = ws.ws_protocol or "channel.k8s.io"
        try:
            rec = self.svc.containers.get(req.container_id)
            with open(os.path.join(rec.bundle, "config.json"), "rb") as f:
                process = json.load(f)["process"]
            process["args"] = list(req.cmd)
            process["terminal"] = bool(req.tty)
            process.pop("oomScoreAdj", None)
            rt = self.svc.containers.runtime(rec.runtime_handler)
            code = await (self._exec_tty(ws, rt, rec.id, process, req) if req.tty
                          else self._exec_pipes(ws, rt, rec.id, process, req))
            await self._finish(ws, proto, code, "")
        except CriError as e:
            await self._finish(ws, proto, -1, str(e))
        return ws

    async def _finish(self, ws: web.WebSocketResponse, proto: str, code: int, message: str) -> None:
        if ws.closed:
            return
        if proto in ("v4.channel.k8s.io", "v5.channel.k8s.io"):
            await ws.send_bytes(bytes([ERROR]) + _status(code, message))
        elif code != 0 or message:
            await ws.send_bytes(bytes([ERROR]) + (message or f"command terminated with exit code {code}").encode())
        await ws.close()

    def _process_file(self, cid: str, process: dict[str, Any]) -> str:
        path = os.path.join(self.svc.containers.tmp, f"exec-{cid}-{secrets.token_hex(4)}.json")
        write_atomic(path, json.dumps(process).encode(), 0o600, durable=False)
        return path

    async def _exec_pipes(self, ws: web.WebSocketResponse, rt: Any, cid: str, process: dict[str, Any],
                          req: Any) -> int:
        path = self._process_file(cid, process)
        try:
            p = await asyncio.create_subprocess_exec(
                rt.path, "--root", rt.root, "exec", "--process", path, cid,
                stdin=asyncio.subprocess.PIPE if req.stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
            assert p.stdout is not None and p.stderr is not None

            async def pump(stream: asyncio.StreamReader, channel: int, wanted: bool) -> None:
                while chunk := await stream.read(32768):
                    if wanted and not ws.closed:
                        await ws.send_bytes(bytes([channel]) + chunk)

            async def feed() -> None:
                async for msg in ws:
                    if msg.type != WSMsgType.BINARY or not msg.data:
                        continue
                    ch, data = msg.data[0], msg.data[1:]
                    if ch == STDIN and p.stdin is not None:
                        p.stdin.write(data)
                        await p.stdin.drain()
                    elif ch == CLOSE and data[:1] == bytes([STDIN]) and p.stdin is not None:
                        p.stdin.close()
                if p.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        p.kill()  # the client went away: do not leave the command running

            feeder = asyncio.create_task(feed())
            await asyncio.gather(pump(p.stdout, STDOUT, req.stdout), pump(p.stderr, STDERR, req.stderr))
            code = await p.wait()
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            return code
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    async def _exec_tty(self, ws: web.WebSocketResponse, rt: Any, cid: str, process: dict[str, Any],
                        req: Any) -> int:
        """A command on a terminal: the runtime runs in the foreground with ``--tty`` (it allocates the
        container's pty and copies it to its own stdio), and its stdio is a pty pair ketchd opened, so
        resizes reach it as SIGWINCH and its exit status is the command's."""
        path = self._process_file(cid, process)
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # our pty only carries bytes; the container's pty does the line discipline
            p = await asyncio.create_subprocess_exec(
                rt.path, "--root", rt.root, "exec", "--tty", "--process", path, cid,
                stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
            os.close(slave)
            slave = -1

            def resized() -> None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGWINCH)  # the runtime copies our size to the container's pty

            exited = asyncio.ensure_future(p.wait())
            await self._relay_tty(ws, master, exited, resized)
            return await exited
        finally:
            os.close(master)
            if slave >= 0:
                os.close(slave)
            with contextlib.suppress(OSError):
                os.unlink(path)

    async def _relay_tty(self, ws: web.WebSocketResponse, master: int, exited: asyncio.Future[int],
                         resized: Callable[[], None]) -> None:
        """Copy the terminal to stdout and stdin/resize to the terminal until the command exits."""
        loop = asyncio.get_running_loop()
        os.set_blocking(master, False)
        out_q: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(master, 32768)
            except BlockingIOError:
                return
            except OSError:  # EIO: every slave fd is closed, the command has ended
                data = b""
            if not data:
                loop.remove_reader(master)
            out_q.put_nowait(data)

        loop.add_reader(master, readable)

        async def pump() -> None:
            while data := await out_q.get():
                if not ws.closed:
                    await ws.send_bytes(bytes([STDOUT]) + data)

        async def feed() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                ch, data = msg.data[0], msg.data[1:]
                if ch == STDIN:
                    await loop.run_in_executor(None, _write_all, master, data)
                elif ch == RESIZE:
                    _resize(master, data)
                    resized()

        feeder = asyncio.create_task(feed())
        pumper = asyncio.create_task(pump())
        try:
            await exited
            # Drain what the command wrote before it ended (the reader sees EIO/EOF last).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pumper), 1.0)
        finally:
            loop.remove_reader(master)
            for t in (feeder, pumper):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    # -- attach ---------------------------------------------------------------------------------------------

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        req = self._take(request, "attach")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        proto = ws.ws_protocol or "channel.k8s.io"
        try:
            rec = self.svc.containers.get(req.container_id)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            sock.setblocking(False)
            # conmon's attach socket: reads give [pipe byte][data], writes are stdin.
            await asyncio.get_running_loop().sock_connect(sock, os.path.join(rec.bundle, "attach"))
        except (CriError, OSError) as e:
            await self._finish(ws, proto, -1, f"cannot attach: {e}")
            return ws
        loop = asyncio.get_running_loop()
        ctl = os.path.join(rec.bundle, "ctl")

        async def pump() -> None:
            while True:
                data = await loop.sock_recv(sock, 32769)
                if not data:
                    return
                # conmon numbers its pipes 1 stdin, 2 stdout, 3 stderr; the channel protocol uses 0, 1 and 2.
                ch = {2: STDOUT, 3: STDERR}.get(data[0])
                if (ch == STDOUT and req.stdout) or (ch == STDERR and req.stderr):
                    await ws.send_bytes(bytes([ch]) + data[1:])

        async def feed() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                ch, data = msg.data[0], msg.data[1:]
                if ch == STDIN and req.stdin:
                    await loop.sock_sendall(sock, data)
                elif ch == RESIZE:
                    with contextlib.suppress(OSError, ValueError, KeyError):
                        size = json.loads(data)
                        fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
                        try:
                            os.write(fd, f"1 {int(size['Height'])} {int(size['Width'])}\n".encode())
                        finally:
                            os.close(fd)

        with sock:
            _done, pending = await asyncio.wait([asyncio.create_task(pump()), asyncio.create_task(feed())],
                                               return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
        self.svc.containers.poll_exit(rec)
        await self._finish(ws, proto, rec.exit_code if rec.state == "exited" else 0, "")
        return ws

    # -- port forward ----------------------------------------------------------------------------------------

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        req = self._take(request, "portforward")
        ports = [int(p) for p in request.query.getall("port", [])] or list(req.port)
        ws = web.WebSocketResponse(protocols=PORTFORWARD_PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        if not ports or any(not 0 < p < 65536 for p in ports):
            await ws.close(message=b"invalid port")
            return ws
        sb = self.svc.sandboxes.get(req.pod_sandbox_id)
        netns = sb.namespaces.get("net", "")
        loop = asyncio.get_running_loop()
        conns: dict[int, socket.socket] = {}
        for i, port in enumerate(ports):
            await ws.send_bytes(bytes([2 * i]) + struct.pack("<H", port))
            await ws.send_bytes(bytes([2 * i + 1]) + struct.pack("<H", port))
            try:
                s = await asyncio.to_thread(self._connect_in_netns, netns, port)
            except OSError as e:
                await ws.send_bytes(bytes([2 * i + 1]) + f"connect to port {port} in pod: {e}".encode())
                continue
            conns[i] = s

        async def pump(i: int, s: socket.socket) -> None:
            while data := await loop.sock_recv(s, 65536):
                await ws.send_bytes(bytes([2 * i]) + data)

        pumps = [asyncio.create_task(pump(i, s)) for i, s in conns.items()]
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or len(msg.data) < 1:
                    continue
                ch, data = msg.data[0], msg.data[1:]
                if ch % 2 == 0 and ch // 2 in conns and data:
                    await loop.sock_sendall(conns[ch // 2], data)
        finally:
            for t in pumps:
                t.cancel()
            for s in conns.values():
                s.close()
        return ws

    def _connect_in_netns(self, netns: str, port: int) -> socket.socket:
        """A TCP connection to 127.0.0.1:port inside the pod, made from a thread that enters the pod's
        network namespace and returns to ours (setns acts on the calling thread only)."""
        with self._netns_lock:
            own = os.open(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
            target = os.open(netns, os.O_RDONLY)
            try:
                setns(target, CLONE_NEWNET, netns)
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                finally:
                    setns(own, CLONE_NEWNET, "own network namespace")
            finally:
                os.close(own)
                os.close(target)
        s.setblocking(False)
        return s


def _write_all(fd: int, data: bytes) -> None:
    import select

    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
        except BlockingIOError:
            select.select([], [fd], [])


def _resize(fd: int, data: bytes) -> None:
    import fcntl
    import termios

    with contextlib.suppress(ValueError, KeyError, OSError):
        size = json.loads(data)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0))
