"""Blob upload endpoints (spec.md "Pushing blobs"): POST (end-4a, end-4b, end-11), PATCH (end-5),
PUT (end-6), GET status (end-13), DELETE (end-14)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor

from aiohttp import web

from ketch.registry.api import HeaderError, RegistryError, parse_upload_range, route, upload_range
from ketch.registry.server.context import CTX, parse_digest, run_blocking
from ketch.registry.server.routing import PathMatch
from ketch.registry.storage import StorageError, UploadAppender, UploadOutOfOrder, UploadStore

__all__ = ["cancel_upload", "finish_upload", "patch_upload", "start_upload", "upload_status"]

# bytes of body collected before they are handed to the writer thread
_BATCH = 1 << 20
# threads that write and hash upload bodies; kept apart from the default executor so a cancelled await can
# still tell whether a write is running (the thread's own future stays pending until it is over)
_WRITERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ketch-upload")


def _upload_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
    return {
        "Location": route("end-13").url(name=name, reference=upload_id),
        "Range": upload_range(size),
        "Docker-Upload-UUID": upload_id,
        "Blob-Upload-Session-ID": upload_id,
        "Content-Length": "0",
    }


def _blob_created(name: str, digest: str) -> web.Response:
    return web.Response(
        status=201,
        headers={"Location": route("end-2").url(name=name, digest=digest), "Docker-Content-Digest": digest},
    )


async def _receive(request: web.Request, appender: UploadAppender) -> int:
    """Copy the request body into an upload; returns the bytes received.

    The event loop only collects the body's chunks as they arrive; batches of them are written and hashed
    in a worker thread (both release the GIL), one batch in flight while the next is collected. So the
    loop never waits on the disk or the digest, and a slow sender's many small chunks cost one thread hop
    per batch rather than a write and a hash update each.
    """
    content = request.content
    inflight: Future[None] | None = None
    batch: list[bytes] = []
    batched = received = 0
    try:
        while True:
            chunk = await content.readany()
            if chunk:
                batch.append(chunk)
                batched += len(chunk)
                received += len(chunk)
            if batch and (not chunk or batched >= _BATCH):
                if inflight is not None:
                    await asyncio.wrap_future(inflight)
                inflight = _WRITERS.submit(appender.write_all, batch)
                batch, batched = [], 0
            if not chunk:
                break
        if inflight is not None:
            await asyncio.wrap_future(inflight)
    except BaseException:
        if inflight is not None and not inflight.done():
            # a worker may still be writing to the appender's file (cancelling the await does not stop a
            # running thread): close the file only once that write is over, never under its feet
            inflight.add_done_callback(lambda prior: _keep_and_abort(appender, batch, prior))
        else:
            _keep_and_abort(appender, batch, inflight)
        raise
    await run_blocking(appender.finish)
    return received


def _keep_and_abort(appender: UploadAppender, batch: list[bytes], prior: Future[None] | None) -> None:
    """End a failed receive: keep the bytes that did arrive (an upload is append-only, and a client resuming
    after a cut connection continues from the Range the registry holds), then release the upload. Nothing
    is appended after a batch that was not written, which would leave a gap."""
    try:
        if batch and (prior is None or (not prior.cancelled() and prior.exception() is None)):
            appender.write_all(batch)
    except Exception:
        # the request has already failed: its own error is what the client gets
        pass
    finally:
        appender.abort()


async def start_upload(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    q = request.query
    mount = q.get("mount")
    if mount is not None:
        wanted = parse_digest(mount)
        source = q.get("from")
        if source is not None:
            source = ctx.name(source)
        # Without ?from= any stored blob could be mounted; with authentication on, that would let anyone who
        # knows a digest read blobs of repositories they cannot pull (cross-repository blob disclosure), so
        # then only an explicit, authorized source is mounted.
        may_mount = source is not None or ctx.auth.mode == "none"
        if may_mount and await run_blocking(ctx.store.mount, name, source, wanted):
            return _blob_created(name, str(wanted))
        # spec.md "Mounting a blob from another repository": otherwise open an upload session (202)
    algorithm = q.get("digest-algorithm", "sha256")
    digest_param = q.get("digest")
    digest = parse_digest(digest_param) if digest_param is not None else None
    if digest is not None:
        algorithm = digest.algorithm
    info = await run_blocking(ctx.store.uploads.start, name, algorithm)
    if digest is None:
        return web.Response(status=202, headers=_upload_headers(name, info.id, 0))
    # end-4b: a monolithic upload, the whole blob in this request's body
    # the session exists only for this request: whatever goes wrong, it is not left behind
    try:
        appender = await ctx.io(ctx.store.uploads.open_append, name, info.id, 0)
        await _receive(request, appender)
        await run_blocking(ctx.store.complete_upload, name, info.id, digest)
    except BaseException:
        await run_blocking(_cancel_quietly, ctx.store.uploads, name, info.id)
        raise
    return _blob_created(name, str(digest))


def _cancel_quietly(uploads: UploadStore, name: str, upload_id: str) -> None:
    try:
        uploads.cancel(name, upload_id)
    except StorageError:
        pass  # already completed or cancelled


def _content_range(request: web.Request) -> int | None:
    """The start offset a chunk claims, checked against its Content-Length."""
    raw = request.headers.get("Content-Range")
    if raw is None:
        return None
    try:
        start, end = parse_upload_range(raw)
    except HeaderError as e:
        raise RegistryError("RANGE_INVALID", str(e)) from None
    length = request.content_length
    if length is not None and length != end - start + 1:
        raise RegistryError(
            "SIZE_INVALID",
            f"Content-Range {raw!r} covers {end - start + 1} bytes but Content-Length is {length}",
        )
    return start


async def patch_upload(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    start = _content_range(request)
    try:
        appender = await ctx.io(ctx.store.uploads.open_append, name, m.value, start)
    except UploadOutOfOrder as e:
        # spec.md "Pushing a blob in chunks": 416 with the Range the upload really holds
        size = e.detail["size"] if isinstance(e.detail, dict) else 0
        raise RegistryError(
            "BLOB_UPLOAD_INVALID", str(e), status=416, headers=_upload_headers(name, m.value, int(size))
        ) from None
    await _receive(request, appender)
    return web.Response(status=202, headers=_upload_headers(name, m.value, appender.size))


async def finish_upload(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    raw = request.query.get("digest")
    if raw is None:
        raise RegistryError("DIGEST_INVALID", "closing an upload needs ?digest=")
    digest = parse_digest(raw)
    start = _content_range(request)
    if request.content_length or request.headers.get("Transfer-Encoding"):
        appender = await ctx.io(ctx.store.uploads.open_append, name, m.value, start)
        await _receive(request, appender)
    else:
        await ctx.io(ctx.store.uploads.info, name, m.value)  # BLOB_UPLOAD_UNKNOWN before anything else
    await run_blocking(ctx.store.complete_upload, name, m.value, digest)
    return _blob_created(name, str(digest))


async def upload_status(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    info = await ctx.io(ctx.store.uploads.info, name, m.value)
    return web.Response(status=204, headers=_upload_headers(name, m.value, info.size))


async def cancel_upload(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    await run_blocking(ctx.store.uploads.cancel, name, m.value)
    return web.Response(status=204, headers={"Content-Length": "0"})
