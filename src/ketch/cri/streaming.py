"""The streaming server behind Exec, Attach and PortForward: one-time URLs served over WebSocket.

Protocols (kubernetes apimachinery ``pkg/util/remotecommand`` and ``pkg/util/httpstream/wsstream``):

* exec / attach: subprotocols ``v5.channel.k8s.io``, ``v4.channel.k8s.io``, ``v3.channel.k8s.io``,
  ``v2.channel.k8s.io``, ``channel.k8s.io``; every binary message starts with its channel byte:
  0 stdin, 1 stdout, 2 stderr, 3 error (v4+: a JSON metav1.Status carrying the exit code), 4 resize
  (``{"Width", "Height"}``). v5 adds a close message from the client: ``[255, channel]`` (stdin EOF).
* port-forward: subprotocol ``v4.channel.k8s.io`` / ``portforward.k8s.io``, ports in ``?port=`` query
  parameters; port i uses data channel 2i and error channel 2i+1, and the first message the server sends
  on each channel is the port as two little-endian bytes.

The same URLs also accept the older SPDY/3.1 upgrade (``Upgrade: SPDY/3.1``, protocols offered in
``X-Stream-Protocol-Version``; apimachinery ``pkg/util/httpstream/spdy``), which kubelet, kubectl and crictl fall
back to: the client opens one SPDY stream per channel, named by its ``streamType`` header (error, stdin,
stdout, stderr, resize; for port-forward a ``data`` and an ``error`` stream per ``requestID`` and ``port``).
A small front server reads each request head and hands SPDY upgrades to ``ketch.cri.spdy``, everything else
to aiohttp.

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
from ketch.cri import spdy
from ketch.cri.errors import CriError
from ketch.cri.service import CriService
from ketch.cri.stream_channels import (
    CLOSE,
    ERROR,
    MAX_HEAD,
    PORTFORWARD_PROTOCOLS,
    PROTOCOLS,
    RESIZE,
    SPDY_PORTFORWARD_PROTOCOLS,
    SPDY_PROTOCOLS,
    STDERR,
    STDIN,
    STDOUT,
    STREAM_CHANNELS,
    STREAM_WAIT,
    Channels,
    SpdyChannels,
    WsChannels,
)
from ketch.linux.ns import CLONE_NEWNET, setns

__all__ = ["PROTOCOLS", "StreamServer"]

TOKEN_TTL = 60.0


@dataclass
class _Pending:
    kind: str
    request: Any
    expires: float


class _Front(asyncio.Protocol):
    """Reads one request head and hands the connection over: SPDY upgrades to ``StreamServer._spdy``,
    everything else (plain HTTP, WebSocket) to aiohttp, replaying the bytes read so far."""

    def __init__(self, server: StreamServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:  # a head that never ends must not grow our memory without bound
                self.transport.close()
            return
        head = bytes(self.buf[:end + 4])
        transport, rest = self.transport, bytes(self.buf)
        self.transport = None
        if _is_spdy_upgrade(head):
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=MAX_HEAD)
            proto = asyncio.StreamReaderProtocol(reader)
            transport.set_protocol(proto)
            proto.connection_made(transport)
            reader.feed_data(rest[end + 4:])
            writer = asyncio.StreamWriter(transport, proto, reader, loop)
            self.server._spawn(self.server._spdy(head, reader, writer))
        else:
            assert self.server._runner is not None and self.server._runner.server is not None
            handler = self.server._runner.server()
            transport.set_protocol(handler)
            handler.connection_made(transport)
            handler.data_received(rest)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _parse_head(head: bytes) -> tuple[str, str, dict[str, list[str]]]:
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, _, rest = request_line.partition(" ")
    target = rest.rpartition(" ")[0] or rest
    headers: dict[str, list[str]] = {}
    for line in lines:
        if ":" in line:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return method, target, headers


def _is_spdy_upgrade(head: bytes) -> bool:
    _m, _t, headers = _parse_head(head)
    upgrade = [v.strip().lower() for h in headers.get("upgrade", []) for v in h.split(",")]
    return "spdy/3.1" in upgrade


class StreamServer:
    def __init__(self, svc: CriService, address: str = "127.0.0.1", port: int = 0) -> None:
        self.svc = svc
        self.address = address
        self.port = port
        self._pending: dict[str, _Pending] = {}
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._netns_lock = threading.Lock()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/exec/{token}", self._exec)
        app.router.add_get("/attach/{token}", self._attach)
        app.router.add_get("/portforward/{token}", self._portforward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Front(self), self.address, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        host = f"[{self.address}]" if ":" in self.address else self.address
        self.svc.stream_url = f"http://{host}:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def url_for(self, kind: str, request: Any) -> str:
        now = time.monotonic()
        for t in [t for t, p in self._pending.items() if p.expires < now]:
            del self._pending[t]
        token = secrets.token_urlsafe(24)
        self._pending[token] = _Pending(kind, request, now + TOKEN_TTL)
        return f"{self.svc.stream_url}/{kind}/{token}"

    def _take(self, request: web.Request, kind: str) -> Any:
        req = self._take_token(kind, request.match_info["token"])
        if req is None:
            raise web.HTTPNotFound(text="unknown or expired streaming token\n")
        return req

    def _take_token(self, kind: str, token: str) -> Any:
        p = self._pending.pop(token, None)
        if p is None or p.kind != kind or p.expires < time.monotonic():
            return None
        return p.request

    # -- SPDY -----------------------------------------------------------------------------------------------

    async def _spdy(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One SPDY/3.1 upgrade (apimachinery httpstream/spdy/upgrade.go and httpstream.Handshake)."""
        method, target, headers = _parse_head(head)
        path = target.split("?", 1)[0]
        parts = path.strip("/").split("/")
        kind = parts[0] if len(parts) == 2 else ""
        req = self._take_token(kind, parts[1]) if kind in ("exec", "attach", "portforward") else None

        async def refuse(status: str, text: str) -> None:
            body = text.encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

        if method not in ("GET", "POST"):
            await refuse("405 Method Not Allowed", f"method {method} is not allowed\n")
            return
        if req is None:
            await refuse("404 Not Found", "unknown or expired streaming token\n")
            return
        offered = [p.strip() for h in headers.get("x-stream-protocol-version", []) for p in h.split(",") if p.strip()]
        ours = SPDY_PORTFORWARD_PROTOCOLS if kind == "portforward" else SPDY_PROTOCOLS
        # httpstream.Handshake: the header is required, and the client's preference comes first.
        if not offered:
            await refuse("400 Bad Request", "unable to upgrade: X-Stream-Protocol-Version is required\n")
            return
        proto = next((p for p in offered if p in ours), "")
        if not proto:
            await refuse("403 Forbidden", f"unable to upgrade: unable to negotiate protocol: client supports "
                         f"{offered}, server accepts {ours}\n")
            return
        writer.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                     f"X-Stream-Protocol-Version: {proto}\r\n\r\n".encode())
        session = spdy.Session(reader, writer, server=True)
        session.start()
        try:
            if kind == "portforward":
                await self._portforward_spdy(session, req)
            else:
                ch = await self._spdy_channels(session, proto, req)
                if ch is None:
                    return
                if kind == "exec":
                    await self._run_exec(ch, req)
                else:
                    await self._run_attach(ch, req)
        except (CriError, spdy.SpdyError, ConnectionError):
            pass  # the pod went away or the client broke the session: nothing is left to tell it
        finally:
            await session.close()

    async def _spdy_channels(self, session: spdy.Session, proto: str, req: Any) -> SpdyChannels | None:
        """Wait for the streams the request calls for (kubelet's remotecommand waitForStreams): error, stdin,
        stdout, stderr (not with a terminal) and, from v3 on with a terminal, resize."""
        want = {ERROR}
        want |= {STDIN} if req.stdin else set()
        want |= {STDOUT} if req.stdout else set()
        want |= {STDERR} if req.stderr and not req.tty else set()
        want |= {RESIZE} if req.tty and proto in ("v3.channel.k8s.io", "v4.channel.k8s.io") else set()
        streams: dict[int, spdy.Stream] = {}

        async def gather() -> None:
            while not want <= streams.keys():
                s = await session.accept()
                if s is None:
                    raise ConnectionError("the client went away before opening its streams")
                ch = STREAM_CHANNELS.get(s.header("streamtype"))
                if ch is None or ch in streams:
                    await session.send(spdy.RstStream(s.id, spdy.PROTOCOL_ERROR))
                    continue
                streams[ch] = s

        try:
            await asyncio.wait_for(gather(), STREAM_WAIT)
        except (TimeoutError, ConnectionError):
            if (err := streams.get(ERROR)) is not None:
                with contextlib.suppress(spdy.SpdyError, ConnectionError):
                    await err.write(b"timed out waiting for the client to create streams")
            return None
        return SpdyChannels(session, proto, streams)

    async def _portforward_spdy(self, session: spdy.Session, req: Any) -> None:
        """portforward.k8s.io over SPDY (kubelet's portforward/httpstream.go): the client opens an error
        and a data stream per connection, tied by ``requestID`` and naming the pod ``port``."""
        sb = self.svc.sandboxes.get(req.pod_sandbox_id)
        netns = sb.namespaces.get("net", "")
        pairs: dict[str, dict[str, spdy.Stream]] = {}
        tasks: set[asyncio.Task[None]] = set()
        try:
            while (s := await session.accept()) is not None:
                kind = s.header("streamtype")
                if kind not in ("data", "error"):
                    await session.send(spdy.RstStream(s.id, spdy.PROTOCOL_ERROR))
                    continue
                # Clients before requestID paired an error stream n with the data stream n+2.
                rid = s.header("requestid") or str(s.id if kind == "error" else s.id - 2)
                pair = pairs.setdefault(rid, {})
                pair[kind] = s
                if len(pair) == 2:
                    del pairs[rid]
                    t = asyncio.create_task(self._forward_spdy(netns, pair["data"], pair["error"]))
                    tasks.add(t)
                    t.add_done_callback(tasks.discard)
        finally:
            for t in list(tasks):
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _forward_spdy(self, netns: str, data: spdy.Stream, error: spdy.Stream) -> None:
        raw = data.header("port")
        try:
            port = int(raw)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            await error.write(f"invalid port {raw!r}".encode())
            await error.close()
            await data.close()
            return
        try:
            sock = await asyncio.to_thread(self._connect_in_netns, netns, port)
        except OSError as e:
            with contextlib.suppress(spdy.SpdyError, ConnectionError):
                await error.write(f"error forwarding port {port} to pod: {e}".encode())
                await error.close()
                await data.close()
            return
        loop = asyncio.get_running_loop()

        async def to_pod() -> None:
            while chunk := await data.read():
                await loop.sock_sendall(sock, chunk)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)  # the client half-closed: pass the end on to the pod

        async def from_pod() -> None:
            while chunk := await loop.sock_recv(sock, 65536):
                await data.write(chunk)
            await data.close()

        with sock:
            with contextlib.suppress(OSError, spdy.SpdyError, ConnectionError):
                await asyncio.gather(to_pod(), from_pod())
            with contextlib.suppress(spdy.SpdyError, ConnectionError):
                await error.close()
                await data.close()

    # -- exec ----------------------------------------------------------------------------------------------

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        req = self._take(request, "exec")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        await self._run_exec(WsChannels(ws, ws.ws_protocol or "channel.k8s.io"), req)
        return ws

    async def _run_exec(self, ch: Channels, req: Any) -> None:
        try:
            rec = self.svc.containers.get(req.container_id)
            with open(os.path.join(rec.bundle, "config.json"), "rb") as f:
                process = json.load(f)["process"]
            process["args"] = list(req.cmd)
            process["terminal"] = bool(req.tty)
            process.pop("oomScoreAdj", None)
            rt = self.svc.containers.runtime(rec.runtime_handler)
            code = await (self._exec_tty(ch, rt, rec.id, process, req) if req.tty
                          else self._exec_pipes(ch, rt, rec.id, process, req))
            await ch.finish(code, "")
        except CriError as e:
            await ch.finish(-1, str(e))

    def _process_file(self, cid: str, process: dict[str, Any]) -> str:
        path = os.path.join(self.svc.containers.tmp, f"exec-{cid}-{secrets.token_hex(4)}.json")
        write_atomic(path, json.dumps(process).encode(), 0o600, durable=False)
        return path

    async def _exec_pipes(self, ws: Channels, rt: Any, cid: str, process: dict[str, Any],
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
                        await ws.send(channel, chunk)

            async def feed() -> None:
                async for ch, data in ws.messages():
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
            # Input the command no longer reads (it exited, EPIPE) does not change how it ended.
            with contextlib.suppress(asyncio.CancelledError, OSError, spdy.SpdyError):
                await feeder
            return code
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    async def _exec_tty(self, ws: Channels, rt: Any, cid: str, process: dict[str, Any],
                        req: Any) -> int:
        """A command on a terminal: the runtime runs in the foreground with ``--tty`` (it allocates the
        container's pty and copies it to its own stdio), and its stdio is a pty pair ketchd opened, so
        resizes reach it as SIGWINCH and its exit status is the command's."""
        size = await ws.initial_size()
        if size is not None:
            # runtime-spec process.consoleSize: the runtime sizes the container's pty before the command
            # runs; a resize afterwards would race a quick command (``stty size`` would see 0x0).
            with contextlib.suppress(ValueError, KeyError, TypeError):
                doc = json.loads(size)
                process["consoleSize"] = {"height": int(doc["Height"]), "width": int(doc["Width"])}
        path = self._process_file(cid, process)
        master, slave = os.openpty()
        try:
            tty.setraw(slave)  # our pty only carries bytes; the container's pty does the line discipline
            if size is not None:
                _resize(master, size)  # and the runtime's own copy of our size agrees
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

    async def _relay_tty(self, ws: Channels, master: int, exited: asyncio.Future[int],
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
                    await ws.send(STDOUT, data)

        async def feed() -> None:
            async for ch, data in ws.messages():
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
                with contextlib.suppress(asyncio.CancelledError, OSError, spdy.SpdyError):
                    await t

    # -- attach ---------------------------------------------------------------------------------------------

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        req = self._take(request, "attach")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        await self._run_attach(WsChannels(ws, ws.ws_protocol or "channel.k8s.io"), req)
        return ws

    async def _run_attach(self, ws: Channels, req: Any) -> None:
        try:
            rec = self.svc.containers.get(req.container_id)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            sock.setblocking(False)
            # conmon's attach socket: reads give [pipe byte][data], writes are stdin.
            await asyncio.get_running_loop().sock_connect(sock, os.path.join(rec.bundle, "attach"))
        except (CriError, OSError) as e:
            await ws.finish(-1, f"cannot attach: {e}")
            return
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
                    await ws.send(ch, data[1:])

        async def feed() -> None:
            async for ch, data in ws.messages():
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
        await ws.finish(rec.exit_code if rec.state == "exited" else 0, "")

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
