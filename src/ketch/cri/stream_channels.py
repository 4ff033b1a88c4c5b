"""The channels of a Kubernetes stream (exec, attach, port-forward) over either transport: WebSocket
messages prefixed with their channel byte, or one SPDY/3.1 stream per channel (apimachinery
``pkg/util/remotecommand``, ``wsstream`` and ``httpstream/spdy``; see :mod:`ketch.cri.streaming`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web

from ketch.cri import spdy

__all__ = [
    "CLOSE", "ERROR", "MAX_HEAD", "PORTFORWARD_PROTOCOLS", "PROTOCOLS", "RESIZE", "SPDY_PORTFORWARD_PROTOCOLS",
    "SPDY_PROTOCOLS", "STDERR", "STDIN", "STDOUT", "STREAM_CHANNELS", "STREAM_WAIT", "Channels", "SpdyChannels",
    "WsChannels", "status",
]

PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
             "channel.k8s.io"]
PORTFORWARD_PROTOCOLS = ["v4.channel.k8s.io", "portforward.k8s.io"]
SPDY_PROTOCOLS = PROTOCOLS[1:]  # v5 exists only over WebSocket
SPDY_PORTFORWARD_PROTOCOLS = ["portforward.k8s.io"]
INITIAL_SIZE_WAIT = 1.0
STREAM_WAIT = 30.0  # how long the client may take to open the streams it asked for (kubelet: 30 s)
MAX_HEAD = 65536
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def status(exit_code: int, message: str = "") -> bytes:
    if exit_code == 0 and not message:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    doc: dict[str, Any] = {"metadata": {}, "status": "Failure", "message": message or
                           f"command terminated with non-zero exit code: exit status {exit_code}"}
    if exit_code > 0:
        doc["reason"] = "NonZeroExitCode"
        doc["details"] = {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}
    return json.dumps(doc).encode()


class Channels:
    """The numbered channels of one exec or attach session, whichever transport carries them."""

    proto = "channel.k8s.io"

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    async def send(self, channel: int, data: bytes) -> None:
        raise NotImplementedError

    def messages(self) -> AsyncIterator[tuple[int, bytes]]:
        """What the client sends: (STDIN, data), (RESIZE, json), (CLOSE, bytes([STDIN])) at stdin's end;
        ends when the client goes away."""
        raise NotImplementedError

    async def finish(self, code: int, message: str) -> None:
        """Report how the command ended on the error channel and end the session."""
        raise NotImplementedError

    async def initial_size(self) -> bytes | None:
        """A terminal size the client sends before any input, when the transport promises one."""
        return None

    def _error_doc(self, code: int, message: str) -> bytes | None:
        if self.proto in ("v4.channel.k8s.io", "v5.channel.k8s.io"):
            return status(code, message)
        if code != 0 or message:
            return (message or f"command terminated with exit code {code}").encode()
        return None


class WsChannels(Channels):
    def __init__(self, ws: web.WebSocketResponse, proto: str) -> None:
        self.ws, self.proto = ws, proto
        self._pending: list[tuple[int, bytes]] = []  # read by initial_size, not yet handed out

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, channel: int, data: bytes) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def messages(self) -> AsyncIterator[tuple[int, bytes]]:
        while self._pending:
            yield self._pending.pop(0)
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY and msg.data:
                yield msg.data[0], msg.data[1:]

    async def initial_size(self) -> bytes | None:
        """Clients of a terminal send its size first (kubectl, crictl): wait a moment for it, so the command
        starts at the right size instead of racing a resize. Anything else that comes first is kept."""
        try:
            msg = await self.ws.receive(timeout=1.0)
        except TimeoutError:
            return None
        if msg.type == WSMsgType.BINARY and msg.data:
            if msg.data[0] == RESIZE:
                return bytes(msg.data[1:])
            self._pending.append((msg.data[0], bytes(msg.data[1:])))
        return None

    async def finish(self, code: int, message: str) -> None:
        if self.ws.closed:
            return
        if (doc := self._error_doc(code, message)) is not None:
            await self.ws.send_bytes(bytes([ERROR]) + doc)
        await self.ws.close()


class SpdyChannels(Channels):
    """Channels as SPDY streams (remotecommand over ``SPDY/3.1``): one stream per channel, the resize stream
    carrying a sequence of JSON ``{"Width", "Height"}`` documents."""

    def __init__(self, session: spdy.Session, proto: str, streams: dict[int, spdy.Stream]) -> None:
        self.session, self.proto, self.streams = session, proto, streams
        self._resize_buf = ""
        self._first_size: asyncio.Future[bytes | None] | None = None

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def send(self, channel: int, data: bytes) -> None:
        s = self.streams.get(channel)
        if s is not None and not s.local_closed and not s.reset and not self.session.closed:
            with contextlib.suppress(spdy.SpdyError, ConnectionError):
                await s.write(data)

    async def messages(self) -> AsyncIterator[tuple[int, bytes]]:
        q: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

        async def stdin(s: spdy.Stream) -> None:
            while data := await s.read():
                q.put_nowait((STDIN, data))
            q.put_nowait((CLOSE, bytes([STDIN])))

        async def resize(s: spdy.Stream) -> None:
            if self._first_size is not None:  # initial_size started the first read: take it over
                if (doc := await self._first_size) is None:
                    return
                q.put_nowait((RESIZE, doc))  # applied already if it came in time; again does no harm
            while (doc := await self._next_size(s)) is not None:
                q.put_nowait((RESIZE, doc))

        async def gone() -> None:
            await self.session.wait_closed()
            q.put_nowait(None)

        tasks = [asyncio.create_task(gone())]
        if (s := self.streams.get(RESIZE)) is not None:  # first: a size sent before input applies before it
            tasks.append(asyncio.create_task(resize(s)))
        if (s := self.streams.get(STDIN)) is not None:
            tasks.append(asyncio.create_task(stdin(s)))
        try:
            while (item := await q.get()) is not None:
                yield item
        finally:
            for t in tasks:
                t.cancel()

    async def _next_size(self, s: spdy.Stream) -> bytes | None:
        """The next JSON document on the resize stream, None at its end."""
        dec = json.JSONDecoder()
        while True:
            text = self._resize_buf.lstrip()
            if text:
                try:
                    doc, end = dec.raw_decode(text)
                except ValueError:
                    pass  # an incomplete document: wait for more
                else:
                    self._resize_buf = text[end:]
                    return json.dumps(doc).encode()
            data = await s.read()
            if not data:
                return None
            self._resize_buf += data.decode(errors="replace")

    async def initial_size(self) -> bytes | None:
        # kubectl and crictl send the terminal's size as soon as the streams exist; waiting a moment for it
        # lets a short command start on a terminal of the right size instead of 0x0.
        s = self.streams.get(RESIZE)
        if s is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self._size_task(s)), INITIAL_SIZE_WAIT)
        except TimeoutError:
            return None

    def _size_task(self, s: spdy.Stream) -> asyncio.Future[bytes | None]:
        if self._first_size is None:
            self._first_size = asyncio.ensure_future(self._next_size(s))
        return self._first_size

    async def finish(self, code: int, message: str) -> None:
        if self.session.closed:
            return
        err = self.streams.get(ERROR)
        if err is not None and (doc := self._error_doc(code, message)) is not None:
            await self.send(ERROR, doc)
        for s in self.streams.values():
            with contextlib.suppress(spdy.SpdyError, ConnectionError):
                await s.close()
        await self.session.close(linger=5.0)


STREAM_CHANNELS = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR, "error": ERROR, "resize": RESIZE}
