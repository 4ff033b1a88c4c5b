"""Streaming a stored blob: ``sendfile(2)`` from a local file, or a read loop over a driver stream."""

from __future__ import annotations

import asyncio
from typing import BinaryIO

from aiohttp import web

from ketch.registry.api import RegistryError

__all__ = ["send_local_file", "send_stream"]

_CHUNK = 1 << 20


async def send_local_file(
    request: web.Request, resp: web.StreamResponse, path: str, offset: int, count: int
) -> web.StreamResponse:
    """Send ``count`` bytes of ``path`` from ``offset``. Headers (status, length) must already be set."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        # raced with garbage collection after the size was read
        raise RegistryError("BLOB_UNKNOWN", "blob was removed while being requested") from None
    try:
        await resp.prepare(request)
        if request.method == "HEAD" or count == 0:
            await resp.write_eof()
            return resp
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("connection lost")
        loop = asyncio.get_running_loop()
        try:
            await loop.sendfile(transport, f, offset, count)
        except NotImplementedError:
            await _copy(resp, f, offset, count)
        await resp.write_eof()
        return resp
    finally:
        f.close()


async def _copy(resp: web.StreamResponse, f: BinaryIO, offset: int | None, count: int) -> None:
    """Copy ``count`` bytes from ``f`` (seeking to ``offset`` first unless it is None)."""
    if offset is not None:
        f.seek(offset)
    while count > 0:
        chunk = await asyncio.to_thread(f.read, min(_CHUNK, count))
        if not chunk:
            raise ConnectionResetError("blob shrank while being sent")
        await resp.write(chunk)
        count -= len(chunk)


async def send_stream(
    request: web.Request, resp: web.StreamResponse, stream: BinaryIO, count: int
) -> web.StreamResponse:
    """Send ``count`` bytes from a driver stream already positioned at the range start."""
    try:
        await resp.prepare(request)
        if request.method != "HEAD":
            try:
                await _copy(resp, stream, None, count)
            except Exception:
                # the status line is gone: the only honest signal left is to cut the connection short
                if request.transport is not None:
                    request.transport.close()
                raise ConnectionResetError("blob stream failed mid-response") from None
        await resp.write_eof()
        return resp
    finally:
        await asyncio.to_thread(stream.close)
