"""The streaming server's front door: SPDY/3.1 upgrades go to the SPDY code (one-time tokens, protocol
negotiation as in apimachinery's httpstream.Handshake), everything else still reaches aiohttp."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from ketch.cri import spdy
from ketch.cri.config import Config, Handler
from ketch.cri.service import CriService
from ketch.cri.stream_channels import RESIZE, STDIN, SpdyChannels
from ketch.cri.streaming import StreamServer


def _svc(tmp_path: Path) -> CriService:
    cfg = Config(root=str(tmp_path / "r"), state=str(tmp_path / "s"), handlers={"t": Handler("t", "/bin/true")},
                 default_handler="t", conmon="/bin/true")
    return CriService(cfg)


def test_spdy_tokens_negotiation_and_plain_http(tmp_path: Path) -> None:
    svc = _svc(tmp_path)

    async def main() -> list[str]:
        srv = StreamServer(svc, "127.0.0.1", 0)
        await srv.start()
        errors = []
        try:
            for url, protos in [(svc.stream_url + "/exec/not-a-token", ["v4.channel.k8s.io"]),
                                (srv.url_for("exec", object()), ["v9.channel.k8s.io", "v8.channel.k8s.io"]),
                                (srv.url_for("portforward", object()), ["v4.channel.k8s.io"])]:
                with pytest.raises(spdy.SpdyError) as e:
                    await spdy.connect(url, protos)
                errors.append(str(e.value))
            # A plain request (and so a WebSocket handshake) is still aiohttp's, through the same port.
            async with aiohttp.ClientSession() as s, s.get(svc.stream_url + "/nowhere") as r:
                errors.append(str(r.status))
        finally:
            await srv.close()
        return errors

    errors = asyncio.run(main())
    assert "404 Not Found" in errors[0] and "unknown or expired" in errors[0]
    assert "403 Forbidden" in errors[1] and "v9.channel.k8s.io" in errors[1]
    assert "403 Forbidden" in errors[2] and "portforward.k8s.io" in errors[2]
    assert errors[3] == "404"


def test_a_head_that_never_ends_is_cut_off(tmp_path: Path) -> None:
    svc = _svc(tmp_path)

    async def main() -> bytes:
        srv = StreamServer(svc, "127.0.0.1", 0)
        await srv.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", srv.port)
            w.write(b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000)
            await w.drain()
            try:
                got = await asyncio.wait_for(r.read(), 10)
            except ConnectionResetError:  # closed with our surplus unread: the kernel resets
                got = b""
            w.close()
            return got
        finally:
            await srv.close()

    assert asyncio.run(main()) == b""


def test_resize_documents_split_across_frames() -> None:
    async def main() -> tuple[bytes | None, list[tuple[int, bytes]]]:
        ready: asyncio.Future[spdy.Session] = asyncio.get_running_loop().create_future()

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            s = spdy.Session(r, w, server=True)
            s.start()
            ready.set_result(s)

        srv = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        r, w = await asyncio.open_connection("127.0.0.1", srv.sockets[0].getsockname()[1])
        client = spdy.Session(r, w, server=False)
        client.start()
        server = await ready
        try:
            rs = await client.open([("streamtype", "resize")])
            si = await client.open([("streamtype", "stdin")])
            a, b = await server.accept(), await server.accept()
            assert a is not None and b is not None
            ch = SpdyChannels(server, "v4.channel.k8s.io", {RESIZE: a, STDIN: b})
            await rs.write(b'{"Width": 80,')
            await rs.write(b' "Height": 24}\n{"Width"')
            first = await ch.initial_size()
            await rs.write(b': 100, "Height": 30}\n')
            await si.write(b"typed")
            await si.close()
            got: list[tuple[int, bytes]] = []
            async for item in ch.messages():
                got.append(item)
                if len(got) == 4:
                    break
            return first, got
        finally:
            await client.close()
            await server.close()
            srv.close()

    first, got = asyncio.run(asyncio.wait_for(main(), 20))
    assert first == b'{"Width": 80, "Height": 24}'
    assert sorted(got) == sorted([(RESIZE, b'{"Width": 80, "Height": 24}'), (RESIZE, b'{"Width": 100, "Height": 30}'),
                                  (STDIN, b"typed"), (255, b"\x00")])
