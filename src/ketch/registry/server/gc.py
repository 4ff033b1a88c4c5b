"""Running garbage collection inside the server, every ``gc.interval`` seconds, off the event loop."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ketch.registry.server.config import RegistryConfig
from ketch.registry.server.context import CTX
from ketch.registry.storage.gc import collect_garbage

__all__ = ["periodic_gc"]

log = logging.getLogger("ketch.registry.gc")


async def periodic_gc(app: web.Application, config: RegistryConfig) -> None:
    store = app[CTX].store
    while True:
        await asyncio.sleep(config.gc.interval)
        try:
            result = await asyncio.to_thread(
                collect_garbage,
                store,
                grace=config.gc.grace,
                untagged=config.gc.untagged,
                upload_max_age=config.upload_purge_after,
            )
        except Exception:
            log.exception("garbage collection failed")
            continue
        log.info("garbage collection: %s", result)
