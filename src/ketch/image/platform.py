"""Platform matching and manifest selection from (possibly nested) image indexes (image-index.md)."""

from __future__ import annotations

import os
from collections.abc import Callable

from ketch._common.model import model
from ketch.image.errors import InvalidImage, PlatformNotFound, UnsupportedMediaType
from ketch.spec.image import (
    CONFIG_MEDIA_TYPES,
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    Descriptor,
    ImageConfig,
    ImageSpecError,
    Index,
    Manifest,
    Platform,
)

__all__ = ["Selected", "host_platform", "matches", "parse_platform", "select_manifest"]

# uname -m -> (GOARCH, variant) as image-spec config.md refers to Go's names.
_ARCHES = {
    "x86_64": ("amd64", None),
    "aarch64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i686": ("386", None),
    "i386": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}
_MAX_DEPTH = 8


def host_platform() -> Platform:
    machine = os.uname().machine  # not platform.machine(): the platform module costs milliseconds to load
    arch, variant = _ARCHES.get(machine, (machine, None))
    return Platform(architecture=arch, os="linux", variant=variant)


def parse_platform(text: str) -> Platform:
    """``os/arch[/variant]`` as users type it (``linux/arm64/v8``)."""
    parts = text.split("/")
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant]")
    return Platform(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None)


def _variant(p: Platform) -> str | None:
    # arm64 images usually omit the variant; v8 is the only one there is in practice.
    if p.architecture == "arm64" and p.variant in (None, "v8"):
        return None
    return p.variant


def matches(candidate: Platform, wanted: Platform) -> bool:
    """Does an index entry's ``candidate`` platform satisfy ``wanted``?

    os and architecture must be equal; variant and os.version must be equal when ``wanted`` names them; every
    os.feature the candidate requires must be in ``wanted``'s.
    """
    if candidate.os != wanted.os or candidate.architecture != wanted.architecture:
        return False
    if wanted.variant is not None and _variant(candidate) != _variant(wanted):
        return False
    if wanted.os_version is not None and candidate.os_version != wanted.os_version:
        return False
    return set(candidate.os_features or ()) <= set(wanted.os_features or ())


@model(frozen=True)
class Selected:
    descriptor: Descriptor
    manifest: Manifest


def select_manifest(
    read: Callable[[Descriptor], bytes], target: Descriptor, wanted: Platform | None = None
) -> Selected:
    """Follow ``target`` (a manifest or index) to the image manifest for ``wanted`` (default: the host).

    ``read`` returns a blob's verified bytes. Nested indexes are searched depth-first in order and the first
    match wins (image-index.md: "the first matching entry SHOULD be used").
    """
    want = wanted or host_platform()
    seen: list[str] = []
    found = _select(read, target, want, seen, 0)
    if found is None:
        available = ", ".join(sorted(set(seen))) or "none"
        raise PlatformNotFound(
            f"no manifest in {target.digest} matches platform {want}; available: {available}"
        )
    return found


def _parse_manifest(data: bytes, desc: Descriptor) -> Manifest:
    try:
        return Manifest.parse(data)
    except ImageSpecError as e:
        raise InvalidImage(f"manifest {desc.digest}: {e}") from None


def _select(
    read: Callable[[Descriptor], bytes], desc: Descriptor, want: Platform, seen: list[str], depth: int
) -> Selected | None:
    if desc.media_type in MANIFEST_MEDIA_TYPES:
        return Selected(desc, _parse_manifest(read(desc), desc))
    if desc.media_type not in INDEX_MEDIA_TYPES:
        raise UnsupportedMediaType(f"{desc.digest}: unsupported media type {desc.media_type!r}")
    if depth >= _MAX_DEPTH:
        raise InvalidImage(f"index {desc.digest}: indexes nested deeper than {_MAX_DEPTH}")
    try:
        index = Index.parse(read(desc))
    except ImageSpecError as e:
        raise InvalidImage(f"index {desc.digest}: {e}") from None
    for entry in index.manifests:
        if entry.media_type in INDEX_MEDIA_TYPES:
            if entry.platform is not None and not matches(entry.platform, want):
                seen.append(str(entry.platform))
                continue
            found = _select(read, entry, want, seen, depth + 1)
            if found is not None:
                return found
        elif entry.media_type in MANIFEST_MEDIA_TYPES:
            if entry.platform is not None:
                if matches(entry.platform, want):
                    return Selected(entry, _parse_manifest(read(entry), entry))
                seen.append(str(entry.platform))
                continue
            # No platform in the entry (common in OCI layouts' index.json): the image config says it.
            manifest = _parse_manifest(read(entry), entry)
            if manifest.config.media_type not in CONFIG_MEDIA_TYPES:
                continue  # an artifact, not a runnable image
            try:
                config = ImageConfig.parse(read(manifest.config))
            except ImageSpecError as e:
                raise InvalidImage(f"config {manifest.config.digest}: {e}") from None
            if matches(config.platform(), want):
                return Selected(entry, manifest)
            seen.append(str(config.platform()))
    return None
