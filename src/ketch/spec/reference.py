"""Image references (``example.com/ns/app:tag@sha256:...``) parsed and normalised as Docker does.

The grammar is that of distribution/reference (the one registries and container engines share)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]
    host       := domain-name | IPv4 | "[" IPv6 "]"
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

Normalisation: a first component without ``.`` or ``:`` that is not ``localhost`` is not a domain, so
``busybox`` means ``docker.io/library/busybox:latest``; a reference with neither tag nor digest gets
``latest``. Pure string work; used by the image store and the registry client alike.
"""

from __future__ import annotations

import re

from ketch._common.digest import Digest, InvalidDigest
from ketch._common.model import model

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_TAG", "InvalidReference", "Reference", "parse_reference"]

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_DOMAIN = "index.docker.io"
_MAX_NAME = 255

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN_COMPONENT = re.compile(r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_PORT = re.compile(r"[0-9]+\Z")


class InvalidReference(ValueError):
    """A string is not an image reference."""


@model(frozen=True)
class Reference:
    """A fully normalised reference: ``domain``/``path`` with a tag, a digest, or both."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """``domain/path``, the repository's full name."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s

    def familiar(self) -> str:
        """The short form people type: ``busybox:latest`` for ``docker.io/library/busybox:latest``."""
        name = self.name
        if self.domain == DEFAULT_DOMAIN:
            name = self.path.removeprefix("library/") if self.path.count("/") == 1 else self.path
        s = name
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s

    def with_tag(self, tag: str) -> Reference:
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid tag {tag!r}")
        return Reference(self.domain, self.path, tag, None)

    @property
    def registry_host(self) -> str:
        """The host to contact: Docker Hub's API lives at ``registry-1`` of its domain."""
        return "registry-1.docker.io" if self.domain == DEFAULT_DOMAIN else self.domain


def _valid_domain(domain: str) -> bool:
    host, port = domain, None
    if domain.startswith("["):
        end = domain.find("]")
        if end < 0:
            return False
        host, rest = domain[1:end], domain[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return False
            port = rest[1:]
        import ipaddress  # only for bracketed hosts; keeps the common path's import light

        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
    else:
        if ":" in domain:
            host, port = domain.rsplit(":", 1)
        if not host or not all(_DOMAIN_COMPONENT.match(c) for c in host.split(".")):
            return False
    return port is None or bool(_PORT.match(port))


def parse_reference(value: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``value``; ``default_tag`` adds ``:latest`` when there is no tag and no digest."""
    if not value:
        raise InvalidReference("empty image reference")
    rest = value
    digest: Digest | None = None
    if "@" in rest:
        rest, _, dpart = rest.partition("@")
        try:
            digest = Digest(dpart)
        except InvalidDigest as e:
            raise InvalidReference(f"invalid reference {value!r}: {e}") from None
    tag: str | None = None
    # The tag is after the last ':' that follows the last '/' (a ':' before it is a port).
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid reference {value!r}: invalid tag {tag!r}")
    if not rest:
        raise InvalidReference(f"invalid reference {value!r}: missing repository name")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        domain, path = first, remainder
        if not _valid_domain(domain):
            raise InvalidReference(f"invalid reference {value!r}: invalid registry host {domain!r}")
    elif sep and first.lower() != first:
        # distribution/reference: an upper-case first component can only be a host, and no host lacks '.'
        raise InvalidReference(f"invalid reference {value!r}: repository name must be lowercase")
    else:
        domain, path = DEFAULT_DOMAIN, rest
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    for component in path.split("/"):
        if not _PATH_COMPONENT.match(component):
            what = "must be lowercase" if component.lower() != component else "is not a valid path component"
            raise InvalidReference(f"invalid reference {value!r}: {component!r} {what}")
    if len(f"{domain}/{path}") > _MAX_NAME:
        raise InvalidReference(f"invalid reference {value!r}: name is longer than {_MAX_NAME} characters")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)
