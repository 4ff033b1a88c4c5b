"""Endpoints outside the repository tree: the version check (end-1), health, metrics, and the built-in
token issuer (distribution token.md)."""

from __future__ import annotations

import os
import time

from aiohttp import web

from ketch.registry.api import RegistryError
from ketch.registry.server.auth import Grant, Scope, parse_basic, parse_scope
from ketch.registry.server.context import CTX, json_response, run_blocking
from ketch.registry.server.routing import PathMatch
from ketch.registry.storage.driver import DriverError, PathNotFound

__all__ = ["get_health", "get_metrics", "get_token", "ping"]

_MAX_FORM = 64 * 1024


async def ping(request: web.Request, m: PathMatch) -> web.StreamResponse:
    return json_response({})


async def get_health(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    local = ctx.store.driver.local_path("v2")
    ok = True
    detail = "ok"
    if local is not None:
        root = os.path.dirname(local)
        if not os.access(root, os.W_OK):
            ok, detail = False, f"storage root {root!r} is not writable"
    else:
        try:
            await run_blocking(ctx.store.driver.list, "v2")
        except PathNotFound:
            pass  # an empty bucket
        except DriverError as e:
            ok, detail = False, f"storage unreachable: {e}"
    return json_response({"status": "ok" if ok else "unhealthy", "detail": detail}, status=200 if ok else 503)


async def get_metrics(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    return web.Response(
        text=ctx.metrics.render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


async def get_token(request: web.Request) -> web.StreamResponse:
    """GET (token.md) or POST (OAuth2 password grant, oauth.md) a bearer token for the requested scopes.

    Credentials come as HTTP Basic (GET) or form fields (POST); without them the grant is anonymous. Scopes
    the user may not have are granted with fewer (or no) actions: the registry then answers 403.
    """
    ctx = request.app[CTX]
    auth = ctx.auth
    if auth.issuer is None:
        raise RegistryError("UNSUPPORTED", "this registry does not issue tokens")
    if request.method == "POST":
        # the form is a few fields: refuse big bodies before buffering them (memory exhaustion)
        if request.content_length is None or request.content_length > _MAX_FORM:
            raise RegistryError(
                "SIZE_INVALID", f"token request body must be at most {_MAX_FORM} bytes", status=413
            )
        form = await request.post()
        user = str(form.get("username", ""))
        password = str(form.get("password", ""))
        service = str(form.get("service", ""))
        scope_texts = " ".join(str(s) for s in form.getall("scope", [])).split()
        grant_type = str(form.get("grant_type", ""))
        if grant_type != "password":
            raise RegistryError("UNSUPPORTED", f"grant_type {grant_type!r} is not supported; use password")
    else:
        creds = parse_basic(request.headers.get("Authorization", ""))
        user, password = creds if creds else ("", "")
        service = request.query.get("service", "")
        scope_texts = " ".join(request.query.getall("scope", [])).split()
    if service and service != auth.config.service:
        raise RegistryError("DENIED", f"tokens here are for service {auth.config.service!r}, not {service!r}")
    if user and not await run_blocking(auth.check_password, user, password):
        raise RegistryError("UNAUTHORIZED", f"invalid username or password for {user!r}")
    requested: list[Scope] = [s for s in (parse_scope(t) for t in scope_texts) if s is not None]
    granted = auth.grant(user, requested)

    token = auth.issuer.issue(user, [Grant(s.type, s.name, s.actions) for s in granted])
    now = time.time()
    doc = {
        "token": token,
        "access_token": token,
        "expires_in": auth.issuer.ttl,
        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
    }
    return json_response(doc)
