"""The registry's aiohttp application: one dispatcher for ``/v2/``, middlewares for errors, auth, read-only
mode, access logs and metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ketch._common.digest import InvalidDigest
from ketch.registry.api import RegistryError, error_body
from ketch.registry.server import base, blobs, listing, manifests, uploads
from ketch.registry.server.auth import Authenticator, Scope
from ketch.registry.server.config import RegistryConfig
from ketch.registry.server.context import API_VERSION_HEADER, CTX, Context
from ketch.registry.server.errors import ConfigError
from ketch.registry.server.ratelimit import retry_after
from ketch.registry.server.routing import PathMatch, match_path
from ketch.registry.storage import ManifestBlobUnknown, RegistryStore, StorageError
from ketch.registry.storage.driver import DriverError, FilesystemDriver

__all__ = ["ROUTE_TABLE", "make_app", "open_store"]

log = logging.getLogger("ketch.registry")
access_log = logging.getLogger("ketch.registry.access")

Handler = Callable[[web.Request, PathMatch], Awaitable[web.StreamResponse]]

# (path kind, method) -> (spec route id, handler, actions needed on the repository)
ROUTE_TABLE: dict[tuple[str, str], tuple[str, Handler, tuple[str, ...]]] = {
    ("ping", "GET"): ("end-1", base.ping, ()),
    ("blob", "GET"): ("end-2", blobs.get_blob, ("pull",)),
    ("blob", "DELETE"): ("end-10", blobs.delete_blob, ("delete",)),
    ("manifest", "GET"): ("end-3", manifests.get_manifest, ("pull",)),
    ("manifest", "PUT"): ("end-7", manifests.put_manifest, ("pull", "push")),
    ("manifest", "DELETE"): ("end-9", manifests.delete_manifest, ("delete",)),
    ("uploads", "POST"): ("end-4a", uploads.start_upload, ("pull", "push")),
    ("upload", "PATCH"): ("end-5", uploads.patch_upload, ("pull", "push")),
    ("upload", "PUT"): ("end-6", uploads.finish_upload, ("pull", "push")),
    ("upload", "GET"): ("end-13", uploads.upload_status, ("pull", "push")),
    ("upload", "DELETE"): ("end-14", uploads.cancel_upload, ("pull", "push")),
    ("tags", "GET"): ("end-8a", listing.get_tags, ("pull",)),
    ("referrers", "GET"): ("end-12a", listing.get_referrers, ("pull",)),
    ("catalog", "GET"): ("catalog", listing.get_catalog, ("*",)),
}
ROUTE_KEY: web.RequestKey[str] = web.RequestKey("ketch_route", str)
USER_KEY: web.RequestKey[str] = web.RequestKey("ketch_user", str)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _scopes(m: PathMatch, actions: tuple[str, ...], request: web.Request) -> list[Scope]:
    if m.kind == "ping":
        return []
    if m.kind == "catalog":
        return [Scope("registry", "catalog", ("*",))]
    scopes = [Scope("repository", m.name, actions)]
    source = request.query.get("from")
    if m.kind == "uploads" and request.query.get("mount") and source and source != m.name:
        scopes.append(Scope("repository", source, ("pull",)))
    return scopes


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def dispatch(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    method = "GET" if request.method == "HEAD" else request.method
    m = match_path(request.match_info["tail"])
    if m is None:
        raise RegistryError("NAME_UNKNOWN", f"no registry endpoint at {request.path!r}", status=404)
    entry = ROUTE_TABLE.get((m.kind, method))
    if entry is None:
        allowed = sorted({meth for (kind, meth) in ROUTE_TABLE if kind == m.kind})
        raise RegistryError(
            "UNSUPPORTED",
            f"{request.method} is not supported on {request.path!r}",
            headers={"Allow": ", ".join(allowed + (["HEAD"] if "GET" in allowed else []))},
        )
    route_id, handler, actions = entry
    request[ROUTE_KEY] = route_id
    if ctx.limiter is not None:
        wait = ctx.limiter.check(request.remote or "")
        if wait > 0:
            raise RegistryError(
                "TOOMANYREQUESTS",
                f"client {request.remote} exceeds {ctx.config.rate_limit:g} requests per second",
                headers={"Retry-After": retry_after(wait)},
            )
    if ctx.auth.mode != "none":
        args = (request.headers.get("Authorization", ""), _scopes(m, actions, request), _base_url(request))
        # a bcrypt check takes tens of milliseconds: never on the event loop
        if ctx.auth.mode == "htpasswd":
            user = await asyncio.to_thread(ctx.auth.authorize, *args)
        else:
            user = ctx.auth.authorize(*args)
        request[USER_KEY] = user
    if ctx.config.read_only and request.method in _WRITE_METHODS:
        raise RegistryError("UNSUPPORTED", "this registry is in read-only mode")
    return await handler(request, m)


def _error_response(err: RegistryError) -> web.Response:
    resp = web.Response(body=error_body(err), status=err.status, headers=err.headers)
    resp.content_type = "application/json"
    return resp


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except RegistryError as e:
        return _error_response(e)
    except StorageError as e:
        if isinstance(e, ManifestBlobUnknown) and isinstance(e.detail, list):
            # spec.md "Pushing an Image Manifest": one error per unknown blob, each naming its digest
            errors = [RegistryError(e.code, str(e), detail=d) for d in e.detail]
            resp = web.Response(body=error_body(*errors), status=errors[0].status)
            resp.content_type = "application/json"
            return resp
        return _error_response(RegistryError(e.code, str(e), detail=e.detail, status=e.status))
    except InvalidDigest as e:
        return _error_response(RegistryError("DIGEST_INVALID", str(e)))
    except web.HTTPException as e:
        if e.status >= 400 and request.path.startswith("/v2"):
            code = "NAME_UNKNOWN" if e.status == 404 else "UNKNOWN"
            return _error_response(RegistryError(code, e.reason, status=e.status))
        raise
    except DriverError as e:
        log.error("storage failure on %s %s: %s", request.method, request.path, e)
        return _error_response(RegistryError("UNAVAILABLE", f"storage failure: {e}"))
    except (ConnectionResetError, TimeoutError):
        raise
    except Exception as e:
        log.exception("internal error on %s %s", request.method, request.path)
        return _error_response(RegistryError("UNKNOWN", f"internal error: {type(e).__name__}"))


@web.middleware
async def observe_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    ctx = request.app[CTX]
    start = time.perf_counter()
    ctx.metrics.in_flight += 1
    status = 500
    resp: web.StreamResponse | None = None
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    finally:
        ctx.metrics.in_flight -= 1
        elapsed = time.perf_counter() - start
        route_id = request.get(ROUTE_KEY, "other")
        sent = resp.content_length or 0 if resp is not None else 0
        received = request.content_length or 0
        ctx.metrics.observe(request.method, route_id, status, elapsed, sent, received)
        if ctx.config.access_log and access_log.isEnabledFor(logging.INFO):
            access_log.info(
                json.dumps(
                    {
                        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "remote": request.remote,
                        "user": request.get(USER_KEY, ""),
                        "method": request.method,
                        "path": request.path_qs,
                        "route": route_id,
                        "status": status,
                        "bytes_sent": sent,
                        "bytes_received": received,
                        "duration_ms": round(elapsed * 1000, 3),
                        "user_agent": request.headers.get("User-Agent", ""),
                    },
                    separators=(",", ":"),
                )
            )


def open_store(config: RegistryConfig) -> RegistryStore:
    """The store the configuration names: the filesystem under ``root``, or an S3 bucket."""
    st = config.storage
    if st.driver == "s3":
        from ketch.registry.storage.driver.s3 import S3Driver

        try:
            driver = S3Driver(st.endpoint, st.bucket, st.prefix, st.region, st.access_key, st.secret_key)
        except (ValueError, DriverError) as e:
            raise ConfigError(f"storage: {e}") from None
        return RegistryStore(driver)
    return RegistryStore(FilesystemDriver(config.root))


def make_app(config: RegistryConfig, store: RegistryStore | None = None) -> web.Application:
    """The application for ``config``; ``store`` defaults to a filesystem store under ``config.root``."""
    if store is None:
        store = open_store(config)
    app = web.Application(middlewares=[observe_middleware, errors_middleware], client_max_size=1 << 40)
    app[CTX] = Context(config, store, Authenticator(config.auth))
    app.on_response_prepare.append(_add_version_header)
    app.router.add_route("*", "/v2/{tail:.*}", dispatch)
    app.router.add_route("*", "/v2", _redirect_v2)
    app.router.add_get("/health", base.get_health)
    app.router.add_get("/metrics", base.get_metrics)
    app.router.add_route("GET", "/token", base.get_token)
    app.router.add_route("POST", "/token", base.get_token)
    return app


async def _add_version_header(request: web.Request, response: web.StreamResponse) -> None:
    # spec.md end-1: clients look for this header on every response to recognise a registry
    response.headers.setdefault(*API_VERSION_HEADER)
    # blobs are arbitrary bytes served from the registry's origin: browsers must not sniff them into HTML
    # or script (content-sniffing XSS)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


async def _redirect_v2(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/v2/")
