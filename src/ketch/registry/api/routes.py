"""The distribution-spec endpoints as data (spec.md "Endpoints", end-1 .. end-14).

Each :class:`Route` names its spec id, method and path template; the server binds a handler to each one and
the client builds URLs from the same templates, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["NAME_PATTERN", "REFERENCE_PATTERN", "ROUTES", "Route", "route"]

# spec.md "Pulling manifests": <name> grammar (slash-separated lowercase components) and <reference>
# (a tag, or a digest) as path-segment regexes for the router. Validation proper happens in the handlers.
NAME_PATTERN = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
REFERENCE_PATTERN = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}|[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    """One endpoint: ``id`` is the spec's (``end-1`` ...), ``path`` a template with ``{name}``-style fields."""

    id: str
    method: str
    path: str
    summary: str

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.path))

    def url(self, **values: str) -> str:
        """The path with fields filled in (``name`` keeps its slashes; everything else is quoted)."""

        def fill(m: re.Match[str]) -> str:
            key = m.group(1)
            if key not in values:
                raise KeyError(f"route {self.id} needs a value for {key!r}")
            return quote(values[key], safe="/:" if key == "name" else ":")

        return _PARAM.sub(fill, self.path)


ROUTES: tuple[Route, ...] = (
    Route("end-1", "GET", "/v2/", "API version check"),
    Route("end-2", "GET", "/v2/{name}/blobs/{digest}", "pull a blob (HEAD: check existence)"),
    Route("end-3", "GET", "/v2/{name}/manifests/{reference}", "pull a manifest (HEAD: check existence)"),
    Route("end-4a", "POST", "/v2/{name}/blobs/uploads/", "open an upload session"),
    Route("end-4b", "POST", "/v2/{name}/blobs/uploads/", "monolithic upload with ?digest="),
    Route("end-5", "PATCH", "/v2/{name}/blobs/uploads/{reference}", "upload a chunk"),
    Route("end-6", "PUT", "/v2/{name}/blobs/uploads/{reference}", "close an upload with ?digest="),
    Route("end-7", "PUT", "/v2/{name}/manifests/{reference}", "push a manifest"),
    Route("end-8a", "GET", "/v2/{name}/tags/list", "list tags"),
    Route("end-8b", "GET", "/v2/{name}/tags/list", "list tags with ?n= and ?last="),
    Route("end-9", "DELETE", "/v2/{name}/manifests/{reference}", "delete a manifest or a tag"),
    Route("end-10", "DELETE", "/v2/{name}/blobs/{digest}", "delete a blob"),
    Route("end-11", "POST", "/v2/{name}/blobs/uploads/", "mount a blob with ?mount= and ?from="),
    Route("end-12a", "GET", "/v2/{name}/referrers/{digest}", "list referrers of a manifest"),
    Route("end-12b", "GET", "/v2/{name}/referrers/{digest}", "list referrers with ?artifactType="),
    Route("end-13", "GET", "/v2/{name}/blobs/uploads/{reference}", "upload status"),
    Route("end-14", "DELETE", "/v2/{name}/blobs/uploads/{reference}", "cancel an upload"),
    # not in the spec's table but served by every registry: repository listing (CNCF distribution)
    Route("catalog", "GET", "/v2/_catalog", "list repositories with ?n= and ?last="),
)

_BY_ID = {r.id: r for r in ROUTES}


def route(route_id: str) -> Route:
    """The route with a spec id, e.g. ``route("end-2").url(name="a/b", digest=d)``."""
    try:
        return _BY_ID[route_id]
    except KeyError:
        raise KeyError(f"no registry route {route_id!r}") from None
