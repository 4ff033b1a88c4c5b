"""Manifest endpoints: GET/HEAD (end-3), PUT (end-7), DELETE (end-9)."""

from __future__ import annotations

from aiohttp import web

from ketch.registry.api import RegistryError, route
from ketch.registry.server.context import CTX, run_blocking
from ketch.registry.server.routing import PathMatch
from ketch.registry.storage import parse_reference
from ketch.spec.distribution import is_digest_reference

__all__ = ["delete_manifest", "get_manifest", "put_manifest"]


async def get_manifest(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    if request.method == "HEAD":
        meta = await ctx.io(ctx.store.manifests.stat, name, m.value)
        body = b""
    else:
        meta, body = await ctx.io(ctx.store.manifests.get, name, m.value)
    etag = f'"{meta.digest}"'
    headers = {"Docker-Content-Digest": str(meta.digest), "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    if request.method == "HEAD":
        resp = web.StreamResponse(status=200, headers=headers)
        resp.content_type = meta.media_type
        resp.content_length = meta.size
        await resp.prepare(request)
        await resp.write_eof()
        return resp
    resp2 = web.Response(body=body, headers=headers)
    resp2.content_type = meta.media_type
    return resp2


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RegistryError(
            "SIZE_INVALID",
            f"manifest of {request.content_length} bytes exceeds the limit of {limit}",
            status=413,
        )
    parts: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        total += len(chunk)
        if total > limit:
            raise RegistryError("SIZE_INVALID", f"manifest exceeds the limit of {limit} bytes", status=413)
        parts.append(chunk)
    return b"".join(parts)


async def put_manifest(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    parse_reference(m.value)
    body = await _read_limited(request, ctx.config.max_manifest_bytes)
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip() or None
    tags = tuple(request.query.getall("tag", []))
    result = await run_blocking(ctx.store.put_manifest, name, m.value, body, content_type, tags)
    headers = {
        "Location": route("end-3").url(name=name, reference=str(result.digest)),
        "Docker-Content-Digest": str(result.digest),
        "Content-Length": "0",
    }
    if result.subject is not None:
        # spec.md "Pushing Manifests with Subject": tells the client this registry indexes referrers
        headers["OCI-Subject"] = str(result.subject)
    return web.Response(status=201, headers=headers)


async def delete_manifest(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    ref = parse_reference(m.value)
    if not ctx.config.delete_enabled:
        raise RegistryError("UNSUPPORTED", "deletes are disabled on this registry")
    if is_digest_reference(m.value):
        await run_blocking(ctx.store.manifests.delete, name, ref)
    else:
        await run_blocking(ctx.store.manifests.untag, name, str(ref))
    return web.Response(status=202, headers={"Content-Length": "0"})
