"""SPDY sessions over real sockets on 127.0.0.1: stream open/reply/FIN, both roles talking to each other, and
a raw peer checking the session's rules (ids, pings, resets, window updates, flow control)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ketch.cri import spdy
from ketch.cri.spdy import (
    Data,
    GoAway,
    HeaderCodec,
    Ping,
    RstStream,
    Settings,
    SynReply,
    SynStream,
    WindowUpdate,
)


async def _with_server(body: Callable[[spdy.Session, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[Any]]
                       ) -> Any:
    """A server Session on 127.0.0.1 and the raw client connection to it."""
    ready: asyncio.Future[spdy.Session] = asyncio.get_running_loop().create_future()

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        s = spdy.Session(r, w, server=True)
        s.start()
        ready.set_result(s)

    srv = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    session = await ready
    try:
        return await asyncio.wait_for(body(session, reader, writer), 20)
    finally:
        await session.close()
        writer.close()
        srv.close()


def test_client_and_server_sessions_exchange_streams() -> None:
    async def body(server: spdy.Session, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        client = spdy.Session(r, w, server=False)
        client.start()
        a = await client.open([("streamtype", "stdin"), ("port", "1")])
        b = await client.open([("streamtype", "stdout")])
        assert (a.id, b.id) == (1, 3)
        sa, sb = await server.accept(), await server.accept()
        assert sa is not None and sb is not None
        assert sa.header("streamType") == "stdin" and sa.header("port") == "1" and sb.header("streamtype") == "stdout"
        await a.write(b"x" * 100000)  # more than one window: the reader's credit lets it through
        await a.close()
        got = b""
        while chunk := await sa.read():
            got += chunk
        assert got == b"x" * 100000
        assert await sa.read() == b""  # the end stays the end
        await sb.write(b"reply")
        await sb.close()
        assert await b.read() == b"reply" and await b.read() == b""
        await client.close()
        assert await server.accept() is None  # the client went away

    asyncio.run(_with_server(body))


async def _frames(r: asyncio.StreamReader, codec: HeaderCodec, n: int) -> list[spdy.Frame]:
    return [await spdy.read_frame(r, codec) for _ in range(n)]


def test_raw_peer_ping_reset_and_credit() -> None:
    async def body(server: spdy.Session, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        tx, rx = HeaderCodec(), HeaderCodec()
        w.write(spdy.encode_frame(Ping(1), tx))
        assert await _frames(r, rx, 1) == [Ping(1)]  # the client's (odd) ping comes back
        w.write(spdy.encode_frame(Data(9, b"nobody"), tx))
        assert await _frames(r, rx, 1) == [RstStream(9, spdy.INVALID_STREAM)]
        w.write(spdy.encode_frame(SynStream(1, [("streamtype", "stdin")]), tx))
        assert await _frames(r, rx, 1) == [SynReply(1, [])]
        w.write(spdy.encode_frame(Data(1, b"y" * 40000), tx))
        s = await server.accept()
        assert s is not None
        got = b""
        while len(got) < 40000:
            got += await s.read()
        # Half the 64 KiB window consumed: the stream and the session get their credit back.
        updates = await _frames(r, rx, 2)
        assert sorted(updates, key=lambda f: getattr(f, "stream_id", 0)) == [WindowUpdate(0, 40000),
                                                                             WindowUpdate(1, 40000)]

    asyncio.run(_with_server(body))


def test_flow_control_is_enforced_once_the_peer_uses_it() -> None:
    async def body(server: spdy.Session, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        tx, rx = HeaderCodec(), HeaderCodec()
        w.write(spdy.encode_frame(Settings([(0, spdy.SETTINGS_INITIAL_WINDOW_SIZE, 10)]), tx))
        w.write(spdy.encode_frame(SynStream(1, [("streamtype", "stdout")]), tx))
        assert await _frames(r, rx, 1) == [SynReply(1, [])]
        s = await server.accept()
        assert s is not None
        writing = asyncio.create_task(s.write(b"0123456789abcdefghijklmnopqrstuvwxy"))
        assert await _frames(r, rx, 1) == [Data(1, b"0123456789")]
        await asyncio.sleep(0.05)
        assert not writing.done()  # window used up: the writer waits for credit
        w.write(spdy.encode_frame(WindowUpdate(1, 20), tx))
        assert await _frames(r, rx, 1) == [Data(1, b"abcdefghijklmnopqrst")]
        w.write(spdy.encode_frame(WindowUpdate(1, 100), tx))
        assert await _frames(r, rx, 1) == [Data(1, b"uvwxy")]
        await writing

    asyncio.run(_with_server(body))


def test_stream_ids_must_grow_and_be_odd() -> None:
    async def body(server: spdy.Session, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        tx, rx = HeaderCodec(), HeaderCodec()
        w.write(spdy.encode_frame(SynStream(3, []), tx))
        assert await _frames(r, rx, 1) == [SynReply(3, [])]
        w.write(spdy.encode_frame(SynStream(1, []), tx))  # not larger than 3: a protocol error
        assert await _frames(r, rx, 1) == [GoAway(3, 1)]
        assert await server.accept() is not None
        assert await server.accept() is None

    asyncio.run(_with_server(body))


def test_upgrade_refusal_is_reported() -> None:
    async def main() -> str:
        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 6\r\n\r\nno way")
            await w.drain()
            w.close()

        srv = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        try:
            await spdy.connect(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/exec/x", ["v4.channel.k8s.io"])
        except spdy.SpdyError as e:
            return str(e)
        finally:
            srv.close()
        return ""

    assert "404 Not Found no way" in asyncio.run(main())
