"""Blob endpoints: GET/HEAD (end-2, with Range), DELETE (end-10)."""

from __future__ import annotations

from aiohttp import web

from ketch.registry.api import HeaderError, RegistryError, parse_byte_range
from ketch.registry.server.context import CTX, parse_digest, run_blocking
from ketch.registry.server.routing import PathMatch
from ketch.registry.server.sendfile import send_local_file, send_stream

__all__ = ["delete_blob", "get_blob"]


async def get_blob(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    digest = parse_digest(m.value)
    size = await ctx.io(ctx.store.blobs.size_in, name, digest)
    etag = f'"{digest}"'
    headers = {
        "Docker-Content-Digest": str(digest),
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
        "Content-Type": "application/octet-stream",
    }
    if request.headers.get("If-None-Match") in (etag, str(digest)):
        return web.Response(status=304, headers=headers)
    offset, count, status = 0, size, 200
    range_header = request.headers.get("Range")
    if range_header:
        try:
            rng = parse_byte_range(range_header, size)
        except HeaderError as e:
            raise RegistryError(
                "RANGE_INVALID", str(e), headers={"Content-Range": f"bytes */{size}"}
            ) from None
        if rng is not None:
            offset, count, status = rng.start, rng.length, 206
            headers["Content-Range"] = rng.content_range(size)
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = count
    local = ctx.store.blobs.local_path(digest)
    if local is not None:
        return await send_local_file(request, resp, local, offset, count)
    stream = await run_blocking(ctx.store.blobs.reader, digest, offset)
    return await send_stream(request, resp, stream, count)


async def delete_blob(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    digest = parse_digest(m.value)
    if not ctx.config.delete_enabled:
        raise RegistryError("UNSUPPORTED", "deletes are disabled on this registry")
    await run_blocking(ctx.store.blobs.unlink, name, digest)
    return web.Response(status=202, headers={"Docker-Content-Digest": str(digest)})
