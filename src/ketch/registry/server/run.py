"""Running the registry: listen (TCP, optionally TLS), serve until SIGTERM/SIGINT, then stop accepting and
let in-flight requests finish (up to ``shutdown_timeout`` seconds) before exiting."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl

from aiohttp import web

from ketch.registry.server.app import make_app
from ketch.registry.server.config import RegistryConfig, parse_addr
from ketch.registry.server.context import CTX
from ketch.registry.server.gc import periodic_gc

__all__ = ["serve", "ssl_context"]

log = logging.getLogger("ketch.registry")

_READ_BUFSIZE = 1 << 20


def ssl_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(
    config: RegistryConfig,
    *,
    ready: asyncio.Event | None = None,
    shutdown_timeout: float = 30.0,
    stop: asyncio.Event | None = None,
) -> None:
    app = make_app(config)
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
        handle_signals=False,
        # a request body may buffer this much (twice, before reading pauses) while an upload's writer thread
        # catches up: aiohttp's 64 KiB default stops and restarts the socket every few chunks of a push
        read_bufsize=_READ_BUFSIZE,
    )
    await runner.setup()
    host, port = parse_addr(config.addr)
    tls = ssl_context(config.tls_cert, config.tls_key) if config.tls_cert else None
    site = web.TCPSite(runner, host, port, ssl_context=tls, reuse_address=True)
    await site.start()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    gc_task = asyncio.create_task(periodic_gc(app, config)) if config.gc.interval > 0 else None
    bound = [a for a in runner.addresses if isinstance(a, tuple)]
    log.info(
        "registry listening on %s (%s)",
        ", ".join(f"{a[0]}:{a[1]}" for a in bound),
        "https" if tls else "http",
    )
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("registry stopping: finishing in-flight requests")
    if gc_task is not None:
        gc_task.cancel()
    # Stop accepting connections, then wait for in-flight requests ourselves: aiohttp's own shutdown stops
    # reading request bodies at once, which would cut off an upload mid-chunk.
    for running in list(runner.sites):
        await running.stop()
    metrics = app[CTX].metrics
    deadline = loop.time() + shutdown_timeout
    while metrics.in_flight > 0 and loop.time() < deadline:
        await asyncio.sleep(0.02)
    await runner.cleanup()
    log.info("registry stopped")
