"""Listing endpoints: tags (end-8a/8b), referrers (end-12a/12b) and the catalog, with pagination."""

from __future__ import annotations

from aiohttp import web

from ketch.registry.api import RegistryError, build_link
from ketch.registry.server.context import CTX, json_response, parse_digest, run_blocking
from ketch.registry.server.routing import PathMatch
from ketch.spec.distribution import OCI_INDEX

__all__ = ["get_catalog", "get_referrers", "get_tags", "paginate"]

_DEFAULT_PAGE = 1000


def paginate(items: list[str], request: web.Request, path: str) -> tuple[list[str], dict[str, str]]:
    """Apply ``?n=`` and ``?last=`` to a lexically sorted list (spec.md "Listing Tags"): results start after
    ``last``; when more remain, a ``Link`` header points at the next page."""
    raw_n = request.query.get("n")
    last = request.query.get("last")
    if raw_n is None:
        n = None
    else:
        try:
            n = int(raw_n)
        except ValueError:
            n = -1
        if n < 0:
            raise RegistryError("PAGINATION_NUMBER_INVALID", f"n={raw_n!r} is not a non-negative integer")
    if last is not None:
        items = [t for t in items if t > last]
    if n is None:
        return items, {}
    page = items[:n]
    headers = {}
    if n > 0 and len(items) > n:
        headers["Link"] = build_link(path, n=str(n), last=page[-1])
    return page, headers


async def get_tags(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    tags = await run_blocking(ctx.store.manifests.tags, name)
    page, headers = paginate(tags, request, f"/v2/{name}/tags/list")
    return json_response({"name": name, "tags": page}, headers=headers)


async def get_referrers(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    name = ctx.name(m.name)
    subject = parse_digest(m.value)
    artifact_type = request.query.get("artifactType")
    # spec.md "Listing Referrers": 200 with an (possibly empty) image index even when the subject is absent
    descriptors = await run_blocking(ctx.store.manifests.referrers, name, subject, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type is not None else {}
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    return json_response(doc, headers=headers, content_type=OCI_INDEX)


async def get_catalog(request: web.Request, m: PathMatch) -> web.StreamResponse:
    ctx = request.app[CTX]
    repos = await run_blocking(ctx.store.catalog)
    if request.query.get("n") is None:
        # an unbounded catalog can be huge: serve the first page and link to the rest
        page, headers = paginate(repos, _with_n(request, _DEFAULT_PAGE), "/v2/_catalog")
    else:
        page, headers = paginate(repos, request, "/v2/_catalog")
    return json_response({"repositories": page}, headers=headers)


def _with_n(request: web.Request, n: int) -> web.Request:
    return request.clone(rel_url=request.rel_url.update_query(n=str(n)))
