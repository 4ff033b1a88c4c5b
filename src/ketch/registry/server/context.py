"""What every handler needs: the store, the configuration, the authenticator, metrics; and small helpers
for building responses the same way everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from ketch._common.digest import Digest, InvalidDigest
from ketch.registry.api import RegistryError
from ketch.registry.server.auth import Authenticator
from ketch.registry.server.config import RegistryConfig
from ketch.registry.server.metrics import Metrics
from ketch.registry.server.ratelimit import RateLimiter
from ketch.registry.storage import RegistryStore, check_name

__all__ = ["API_VERSION_HEADER", "CTX", "Context", "json_response", "parse_digest", "run_blocking"]

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")
T = TypeVar("T")


@dataclass
class Context:
    config: RegistryConfig
    store: RegistryStore
    auth: Authenticator
    metrics: Metrics = field(default_factory=Metrics)
    limiter: RateLimiter | None = None

    def __post_init__(self) -> None:
        # quick metadata operations run inline on a local filesystem (a stat costs microseconds, a thread
        # hop more); on a remote store each one is a network round trip and must not block the event loop
        self.inline_io = self.store.driver.local_path("v2") is not None
        if self.config.rate_limit > 0 and self.limiter is None:
            self.limiter = RateLimiter(self.config.rate_limit, self.config.rate_burst)

    def name(self, raw: str) -> str:
        return check_name(raw)

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a quick storage operation: inline for local storage, in a worker thread otherwise."""
        if self.inline_io:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)


CTX: web.AppKey[Context] = web.AppKey("ketch_registry_context", Context)


def parse_digest(raw: str) -> Digest:
    try:
        return Digest(raw)
    except InvalidDigest as e:
        raise RegistryError("DIGEST_INVALID", str(e), detail={"digest": raw}) from None


def json_response(
    doc: Any, status: int = 200, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> web.Response:
    import json

    body = json.dumps(doc, separators=(",", ":")).encode()
    resp = web.Response(body=body, status=status, headers=headers)
    resp.content_type = content_type
    return resp


async def run_blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run storage work that may block (locks, fsync, hashing large files) off the event loop."""
    return await asyncio.to_thread(fn, *args)
