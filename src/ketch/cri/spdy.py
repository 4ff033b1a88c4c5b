"""SPDY/3.1 framing and sessions over an asyncio stream pair: what Kubernetes' ``SPDY/3.1`` upgrade speaks.

The wire format follows the SPDY/3 draft (draft-mbelshe-httpbis-spdy-00) as moby/spdystream implements it
(the library behind kubelet, kubectl and crictl):

* control frame: ``1 | version(15) | type(16) | flags(8) | length(24) | payload``;
  data frame: ``0 | stream id(31) | flags(8) | length(24) | payload``; flag 0x01 is FIN on both.
* header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are ``count(32)`` then ``len(32) name len(32) value`` pairs,
  compressed with one zlib context per direction for the whole session, primed with ``DICTIONARY`` and
  ended by a sync flush after every block (draft section 2.6.10). Names are lower case; several values of
  one name are joined by NUL.
* stream ids: the client opens odd ids, the server even ones, each larger than the last.

Flow control (SPDY/3.1 section 2.6.8): every stream and the session start with a 64 KiB receive window;
a server grants WINDOW_UPDATE credit as the application consumes data (a client only once the peer has shown
it does flow control). spdystream ignores WINDOW_UPDATE and never sends it, so the send window is only
enforced once the peer has shown it does flow control (it sent a WINDOW_UPDATE or an INITIAL_WINDOW_SIZE
setting); otherwise a Go peer would stall after 64 KiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ketch.cri.errors import CriError

__all__ = [
    "DICTIONARY",
    "Data",
    "Frame",
    "GoAway",
    "HeaderCodec",
    "Headers",
    "Ping",
    "RstStream",
    "Session",
    "Settings",
    "SpdyError",
    "Stream",
    "SynReply",
    "SynStream",
    "WindowUpdate",
    "connect",
    "decode_frame",
    "encode_frame",
    "read_frame",
]

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, FLOW_CONTROL_ERROR, STREAM_IN_USE = 1, 2, 3, 5, 7, 8
SETTINGS_INITIAL_WINDOW_SIZE = 7
DEFAULT_WINDOW = 65536
MAX_HEADER_BLOCK = 1 << 20
MAX_CHUNK = 32768
MAX_STREAMS = 1000


class SpdyError(CriError):
    """A peer broke the SPDY framing or session rules, or the upgrade to SPDY was refused."""


def _dictionary() -> bytes:
    # SPDY/3 draft section 2.6.10.1: length-prefixed header names and values, then a run of status codes,
    # reason phrases, dates and media types. Written out here from the draft's listing.
    names = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
             "accept-ranges age allow authorization cache-control connection content-base content-encoding "
             "content-language content-length content-location content-md5 content-range content-type date "
             "etag expect expires from host if-match if-modified-since if-none-match if-range "
             "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
             "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
             "user-agent vary via warning www-authenticate method get status")
    words = [*names.split(" "), "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    out = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    out += (b"100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            b"203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
            b"401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
            b"503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
            b"Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
            b"application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
            b"gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    return out


DICTIONARY = _dictionary()

HeaderList = list[tuple[str, str]]


# -- frames -----------------------------------------------------------------------------------------------------


@dataclass
class Data:
    stream_id: int
    data: bytes
    flags: int = 0


@dataclass
class SynStream:
    stream_id: int
    headers: HeaderList
    flags: int = 0
    associated_id: int = 0
    priority: int = 0
    slot: int = 0


@dataclass
class SynReply:
    stream_id: int
    headers: HeaderList
    flags: int = 0


@dataclass
class RstStream:
    stream_id: int
    status: int


@dataclass
class Settings:
    entries: list[tuple[int, int, int]]  # (flags, id, value)
    flags: int = 0


@dataclass
class Ping:
    ping_id: int


@dataclass
class GoAway:
    last_good_id: int
    status: int = 0


@dataclass
class Headers:
    stream_id: int
    headers: HeaderList
    flags: int = 0


@dataclass
class WindowUpdate:
    stream_id: int
    delta: int


Frame = Data | SynStream | SynReply | RstStream | Settings | Ping | GoAway | Headers | WindowUpdate


class HeaderCodec:
    """The two zlib contexts of one session: one compresses what we send, one inflates what we receive."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY,
                                         DICTIONARY)
        self._inflate = zlib.decompressobj(15, DICTIONARY)

    def encode(self, headers: Iterable[tuple[str, str]]) -> bytes:
        merged: dict[str, list[str]] = {}
        for name, value in headers:
            merged.setdefault(name.lower(), []).append(value)
        raw = struct.pack(">I", len(merged))
        for name, values in merged.items():
            n, v = name.encode(), "\0".join(values).encode()
            raw += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> HeaderList:
        try:
            # A small block can inflate to gigabytes (a "zip bomb"): cap what one block may expand to.
            raw = self._inflate.decompress(block, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise SpdyError(f"header block does not inflate: {e}") from None
        if self._inflate.unconsumed_tail:
            raise SpdyError(f"header block inflates past {MAX_HEADER_BLOCK} bytes")
        try:
            (count,) = struct.unpack_from(">I", raw, 0)
            pos, out = 4, []
            for _ in range(count):
                (nl,) = struct.unpack_from(">I", raw, pos)
                name = raw[pos + 4:pos + 4 + nl]
                pos += 4 + nl
                (vl,) = struct.unpack_from(">I", raw, pos)
                value = raw[pos + 4:pos + 4 + vl]
                pos += 4 + vl
                if len(name) != nl or len(value) != vl:
                    raise struct.error("truncated")
                if name != name.lower():
                    raise SpdyError(f"header name {name.decode(errors='replace')!r} is not lower case")
                out += [(name.decode(), v.decode()) for v in value.split(b"\0")]
        except struct.error:
            raise SpdyError("header block is truncated") from None
        except UnicodeDecodeError:
            raise SpdyError("header block is not UTF-8") from None
        return out


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def encode_frame(frame: Frame, codec: HeaderCodec) -> bytes:
    if isinstance(frame, Data):
        if len(frame.data) >= 1 << 24:
            raise SpdyError(f"data frame of {len(frame.data)} bytes is too large")
        return struct.pack(">II", frame.stream_id & 0x7FFFFFFF, (frame.flags << 24) | len(frame.data)) + frame.data
    if isinstance(frame, SynStream):
        head = struct.pack(">IIBB", frame.stream_id & 0x7FFFFFFF, frame.associated_id & 0x7FFFFFFF,
                           (frame.priority & 7) << 5, frame.slot)
        return _control(SYN_STREAM, frame.flags, head + codec.encode(frame.headers))
    if isinstance(frame, SynReply):
        return _control(SYN_REPLY, frame.flags, struct.pack(">I", frame.stream_id) + codec.encode(frame.headers))
    if isinstance(frame, Headers):
        return _control(HEADERS, frame.flags, struct.pack(">I", frame.stream_id) + codec.encode(frame.headers))
    if isinstance(frame, RstStream):
        return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
    if isinstance(frame, Settings):
        body = struct.pack(">I", len(frame.entries)) + b"".join(
            struct.pack(">II", (f << 24) | i, v) for f, i, v in frame.entries)
        return _control(SETTINGS, frame.flags, body)
    if isinstance(frame, Ping):
        return _control(PING, 0, struct.pack(">I", frame.ping_id))
    if isinstance(frame, GoAway):
        return _control(GOAWAY, 0, struct.pack(">II", frame.last_good_id, frame.status))
    return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id, frame.delta & 0x7FFFFFFF))


def decode_frame(head: bytes, payload: bytes, codec: HeaderCodec) -> Frame | None:
    """One frame from its 8-byte header and payload; None for a control frame type this side ignores
    (CREDENTIAL, NOOP: the draft says unknown types are ignored)."""
    word, flags_len = struct.unpack(">II", head)
    flags = flags_len >> 24
    if not word & 0x80000000:
        return Data(word & 0x7FFFFFFF, payload, flags)
    version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
    if version != VERSION:
        raise SpdyError(f"control frame of SPDY version {version}, not {VERSION}")

    def need(n: int, name: str) -> None:
        if len(payload) < n:
            raise SpdyError(f"{name} frame of {len(payload)} bytes is shorter than {n}")

    if kind == SYN_STREAM:
        need(10, "SYN_STREAM")
        sid, assoc, pri, slot = struct.unpack_from(">IIBB", payload)
        return SynStream(sid & 0x7FFFFFFF, codec.decode(payload[10:]), flags, assoc & 0x7FFFFFFF, pri >> 5, slot)
    if kind in (SYN_REPLY, HEADERS):
        need(4, "SYN_REPLY" if kind == SYN_REPLY else "HEADERS")
        sid = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
        cls = SynReply if kind == SYN_REPLY else Headers
        return cls(sid, codec.decode(payload[4:]), flags)
    if kind == RST_STREAM:
        need(8, "RST_STREAM")
        sid, status = struct.unpack_from(">II", payload)
        return RstStream(sid & 0x7FFFFFFF, status)
    if kind == SETTINGS:
        need(4, "SETTINGS")
        (n,) = struct.unpack_from(">I", payload)
        need(4 + 8 * n, "SETTINGS")
        entries = []
        for i in range(n):
            fid, value = struct.unpack_from(">II", payload, 4 + 8 * i)
            entries.append((fid >> 24, fid & 0xFFFFFF, value))
        return Settings(entries, flags)
    if kind == PING:
        need(4, "PING")
        return Ping(struct.unpack_from(">I", payload)[0])
    if kind == GOAWAY:
        need(4, "GOAWAY")
        last = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
        status = struct.unpack_from(">I", payload, 4)[0] if len(payload) >= 8 else 0
        return GoAway(last, status)
    if kind == WINDOW_UPDATE:
        need(8, "WINDOW_UPDATE")
        sid, delta = struct.unpack_from(">II", payload)
        return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
    return None


async def read_frame(reader: asyncio.StreamReader, codec: HeaderCodec) -> Frame:
    """The next frame; raises asyncio.IncompleteReadError at the end of the connection."""
    while True:
        head = await reader.readexactly(8)
        length = struct.unpack(">I", head[4:])[0] & 0xFFFFFF
        frame = decode_frame(head, await reader.readexactly(length), codec)
        if frame is not None:
            return frame


# -- session ----------------------------------------------------------------------------------------------------


@dataclass
class Stream:
    """One SPDY stream: ``headers`` from its SYN_STREAM, ``read`` until b"" (the peer's FIN), ``write`` and
    ``close`` (our FIN)."""

    session: Session
    id: int
    headers: HeaderList
    _inbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _buffered: int = 0
    _unacked: int = 0
    _replied: asyncio.Event = field(default_factory=asyncio.Event)
    _send_window: int = DEFAULT_WINDOW
    _window_open: asyncio.Event = field(default_factory=asyncio.Event)
    remote_closed: bool = False
    local_closed: bool = False
    reset: bool = False

    def header(self, name: str, default: str = "") -> str:
        for n, v in self.headers:
            if n == name.lower():
                return v
        return default

    async def read(self) -> bytes:
        """The next chunk the peer sent, b"" once it half-closed (or reset) the stream."""
        if self.remote_closed and self._inbox.empty():
            return b""
        data = await self._inbox.get()
        self._buffered -= len(data)
        self.session._consumed(self, len(data))
        if not data:
            self._inbox.put_nowait(b"")  # every later read sees the end too
        return data

    async def write(self, data: bytes) -> None:
        for i in range(0, len(data), MAX_CHUNK):
            chunk = data[i:i + MAX_CHUNK]
            await self.session._send_data(self, chunk, 0)

    async def close(self) -> None:
        """Half-close: a FIN with no data. Idempotent."""
        if not self.local_closed and not self.reset and not self.session.closed:
            await self.session._send_data(self, b"", FLAG_FIN)

    async def wait_reply(self) -> None:
        await self._replied.wait()
        if self.reset:
            raise SpdyError(f"stream {self.id} was refused")

    def _end(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._inbox.put_nowait(b"")


class Session:
    """Both ends of a SPDY connection: ``server=True`` accepts streams the client opens (``accept``) and
    answers each with SYN_REPLY; the client opens streams with ``open``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, server: bool,
                 buffer_limit: int = 1 << 20) -> None:
        self.reader, self.writer, self.server = reader, writer, server
        self.codec = HeaderCodec()
        self.streams: dict[int, Stream] = {}
        self.closed = False
        self._next_id = 2 if server else 1
        self._last_remote_id = 0
        self._incoming: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._buffer_limit = buffer_limit
        self._room = asyncio.Event()
        self._room.set()
        self._session_unacked = 0
        self._initial_window = DEFAULT_WINDOW
        self._peer_flow_control = False
        self._session_window = DEFAULT_WINDOW
        self._session_open = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._pending_sends: set[asyncio.Future[None]] = set()
        self._discard = False  # closing: drop what the peer still sends
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def __aenter__(self) -> Session:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending ----------------------------------------------------------------------------------------------

    async def send(self, frame: Frame) -> None:
        if self.closed:
            raise SpdyError("the SPDY connection is closed")
        # Compression state is shared by every header block: encode and write in one step, in order.
        async with self._write_lock:
            self.writer.write(encode_frame(frame, self.codec))
            await self.writer.drain()

    async def _send_data(self, stream: Stream, data: bytes, flags: int) -> None:
        if stream.local_closed or stream.reset:
            raise SpdyError(f"stream {stream.id} is closed for writing")
        while self._peer_flow_control and data and (stream._send_window <= 0 or self._session_window <= 0):
            stream._window_open.clear()
            self._session_open.clear()
            waits = [asyncio.ensure_future(stream._window_open.wait()),
                     asyncio.ensure_future(self._session_open.wait())]
            _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            if stream.reset or self.closed:
                raise SpdyError(f"stream {stream.id} was reset")
        if self._peer_flow_control and data:
            n = min(len(data), stream._send_window, self._session_window)
            if n < len(data):
                await self._send_data(stream, data[:n], 0)
                await self._send_data(stream, data[n:], flags)
                return
            stream._send_window -= len(data)
            self._session_window -= len(data)
        if flags & FLAG_FIN:
            stream.local_closed = True
        await self.send(Data(stream.id, data, flags))
        self._forget_if_done(stream)

    async def open(self, headers: HeaderList, *, fin: bool = False, wait: bool = True) -> Stream:
        """A new stream (client side: odd ids), waiting for the peer's SYN_REPLY unless ``wait`` is False."""
        sid = self._next_id
        self._next_id += 2
        stream = Stream(self, sid, headers, _send_window=self._initial_window)
        self.streams[sid] = stream
        if fin:
            stream.local_closed = True
        await self.send(SynStream(sid, headers, FLAG_FIN if fin else 0))
        if wait:
            await stream.wait_reply()
        return stream

    async def accept(self) -> Stream | None:
        """The next stream the peer opened (already answered with SYN_REPLY), None once the session ends."""
        s = await self._incoming.get()
        if s is None:
            self._incoming.put_nowait(None)
        return s

    async def wait_closed(self) -> None:
        """Until the peer closes the connection (or sends GOAWAY)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def close(self, status: int = 0, *, linger: float = 0.0) -> None:
        """GOAWAY, then close the connection; streams still open see their end. With ``linger``, first wait
        that long for the peer to close its side, reading (and dropping) what it still sends: closing a
        socket with unread input makes the kernel send RST, and the peer may lose our last frames."""
        if not self.closed:
            with contextlib.suppress(SpdyError, ConnectionError, RuntimeError):
                await self.send(GoAway(self._last_remote_id, status))
            if linger > 0 and self._task is not None:
                self._discard = True
                self._room.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wait_closed(), linger)
            self.closed = True
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._shutdown()
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    def _shutdown(self) -> None:
        self.closed = True
        for s in list(self.streams.values()):
            s._end()
            s._replied.set()
            s._window_open.set()
        self._session_open.set()
        self._room.set()
        self._incoming.put_nowait(None)

    def _forget_if_done(self, stream: Stream) -> None:
        if (stream.local_closed and stream.remote_closed) or stream.reset:
            self.streams.pop(stream.id, None)

    def _consumed(self, stream: Stream, n: int) -> None:
        """Grant the peer credit for what the application took (SPDY/3.1 section 2.6.8), once half a window
        has been read, so a sender that honours windows never stalls."""
        if n <= 0 or self.closed:
            return
        if self._buffered_total() <= self._buffer_limit:
            self._room.set()
        if not self.server and not self._peer_flow_control:
            # A client talking to a server that never grants or asks for credit (every Go one) sends nothing
            # it does not have to: a frame arriving after such a server closed its socket draws a RST, and
            # the RST makes our kernel drop the server's last frames (the exit status) before we read them.
            return
        stream._unacked += n
        self._session_unacked += n
        updates = []
        if stream._unacked >= DEFAULT_WINDOW // 2 and not stream.remote_closed:
            updates.append(WindowUpdate(stream.id, stream._unacked))
            stream._unacked = 0
        if self._session_unacked >= DEFAULT_WINDOW // 2:
            updates.append(WindowUpdate(0, self._session_unacked))
            self._session_unacked = 0
        for u in updates:
            t = asyncio.ensure_future(self._send_quietly(u))
            self._pending_sends.add(t)
            t.add_done_callback(self._pending_sends.discard)

    async def _send_quietly(self, frame: Frame) -> None:
        with contextlib.suppress(SpdyError, ConnectionError, RuntimeError):
            await self.send(frame)

    def _buffered_total(self) -> int:
        return sum(s._buffered for s in self.streams.values())

    # -- receiving --------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                frame = await read_frame(self.reader, self.codec)
                if isinstance(frame, GoAway):
                    break  # the peer opens nothing more and is about to close the connection
                await self._handle(frame)
                if self._buffered_total() > self._buffer_limit:
                    # Backpressure for a peer that ignores windows: stop reading the socket until the
                    # application catches up, so a fast sender cannot grow our memory without bound.
                    self._room.clear()
                    await self._room.wait()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except SpdyError:
            with contextlib.suppress(SpdyError, ConnectionError, RuntimeError):
                await self.send(GoAway(self._last_remote_id, 1))  # 1: PROTOCOL_ERROR
        finally:
            self._shutdown()

    async def _handle(self, frame: Frame) -> None:
        if isinstance(frame, Data):
            s = self.streams.get(frame.stream_id)
            if s is None or s.remote_closed:
                await self._send_quietly(RstStream(frame.stream_id, INVALID_STREAM))
                return
            if frame.data and not self._discard:
                s._buffered += len(frame.data)
                s._inbox.put_nowait(frame.data)
            if frame.flags & FLAG_FIN:
                s._end()
                self._forget_if_done(s)
        elif isinstance(frame, SynStream):
            await self._on_syn_stream(frame)
        elif isinstance(frame, SynReply):
            s = self.streams.get(frame.stream_id)
            if s is not None:
                s._replied.set()
                if frame.flags & FLAG_FIN:
                    s._end()
        elif isinstance(frame, Headers):
            s = self.streams.get(frame.stream_id)
            if s is not None:
                s.headers += frame.headers
                if frame.flags & FLAG_FIN:
                    s._end()
        elif isinstance(frame, RstStream):
            s = self.streams.pop(frame.stream_id, None)
            if s is not None:
                s.reset = True
                s._end()
                s._replied.set()
                s._window_open.set()
        elif isinstance(frame, Settings):
            for _flags, sid, value in frame.entries:
                if sid == SETTINGS_INITIAL_WINDOW_SIZE:
                    self._peer_flow_control = True
                    delta = value - self._initial_window
                    self._initial_window = value
                    for s in self.streams.values():  # section 2.6.8: the change applies to open streams
                        s._send_window += delta
                        s._window_open.set()
        elif isinstance(frame, Ping):
            if (frame.ping_id % 2 == 1) == self.server:  # the peer's ping: echo it
                await self.send(frame)
        elif isinstance(frame, WindowUpdate):
            self._peer_flow_control = True
            if frame.stream_id == 0:
                self._session_window += frame.delta
                self._session_open.set()
            elif (s := self.streams.get(frame.stream_id)) is not None:
                s._send_window += frame.delta
                s._window_open.set()

    async def _on_syn_stream(self, frame: SynStream) -> None:
        sid = frame.stream_id
        if not self.server or sid % 2 == 0 or sid <= self._last_remote_id:
            # Section 2.3.2: a stream id must be larger than every earlier one the peer used.
            raise SpdyError(f"SYN_STREAM with invalid stream id {sid}")
        self._last_remote_id = sid
        if len(self.streams) >= MAX_STREAMS:
            await self.send(RstStream(sid, REFUSED_STREAM))  # a peer may not pile up streams without end
            return
        stream = Stream(self, sid, frame.headers, _send_window=self._initial_window)
        self.streams[sid] = stream
        if frame.flags & FLAG_FIN:
            stream._end()
        if frame.flags & FLAG_UNIDIRECTIONAL:
            stream.local_closed = True
        await self.send(SynReply(sid, []))
        stream._replied.set()
        self._incoming.put_nowait(stream)


# -- client upgrade ---------------------------------------------------------------------------------------------


async def connect(url: str, protocols: list[str]) -> tuple[Session, str]:
    """Upgrade an HTTP connection to SPDY/3.1 the way client-go's SPDY round tripper does, offering
    ``protocols`` in X-Stream-Protocol-Version; returns the running client session and the chosen protocol."""
    u = urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise SpdyError(f"cannot connect to {url!r}: only http:// URLs are supported")
    reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
    target = u.path + (f"?{u.query}" if u.query else "")
    lines = [f"POST {target} HTTP/1.1", f"Host: {u.netloc}", "Connection: Upgrade", "Upgrade: SPDY/3.1",
             "Content-Length: 0"]
    lines += [f"X-Stream-Protocol-Version: {p}" for p in protocols]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        writer.close()
        raise SpdyError(f"{url}: the server closed the connection during the upgrade") from None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        body = b""
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            body = await asyncio.wait_for(reader.read(4096), 2)
        writer.close()
        raise SpdyError(f"{url}: upgrade refused: {status_line} {body.decode(errors='replace').strip()}")
    chosen = ""
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-stream-protocol-version":
            chosen = value.strip()
    session = Session(reader, writer, server=False)
    session.start()
    return session, chosen
