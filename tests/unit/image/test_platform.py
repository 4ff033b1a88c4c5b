"""Selecting the manifest for a platform from indexes, nested ones included."""

from __future__ import annotations

import pytest
from layer_tars import entry, make_tar

from ketch.image.blobs import put_json, read_verified
from ketch.image.errors import PlatformNotFound, UnsupportedMediaType
from ketch.image.platform import host_platform, matches, parse_platform, select_manifest
from ketch.image.store import ImageStore
from ketch.spec.image import MT_OCI_INDEX, Descriptor, Platform

TAR = make_tar(entry("f", data=b"x"))


def plat(text: str, **kw: object) -> Platform:
    p = parse_platform(text)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def index(store: ImageStore, *entries: Descriptor) -> Descriptor:
    return put_json(
        store.content,
        MT_OCI_INDEX,
        {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [e.to_json() for e in entries]},
    )


def with_platform(d: Descriptor, p: Platform | None) -> Descriptor:
    return Descriptor(d.media_type, d.digest, d.size, platform=p)


def test_matching_rules() -> None:
    assert matches(plat("linux/amd64"), plat("linux/amd64"))
    assert not matches(plat("linux/arm64"), plat("linux/amd64"))
    assert not matches(plat("windows/amd64"), plat("linux/amd64"))
    assert matches(plat("linux/arm/v7"), plat("linux/arm"))
    assert not matches(plat("linux/arm/v6"), plat("linux/arm/v7"))
    assert matches(plat("linux/arm64"), plat("linux/arm64/v8"))
    assert not matches(plat("linux/amd64", os_version="10.0.1"), plat("linux/amd64", os_version="10.0.2"))
    assert not matches(plat("linux/amd64", os_features=["win32k"]), plat("linux/amd64"))
    assert matches(plat("linux/amd64", os_features=["win32k"]), plat("linux/amd64", os_features=["win32k"]))
    assert host_platform().os == "linux"
    with pytest.raises(ValueError):
        parse_platform("linux")


def test_select_from_nested_index(store: ImageStore, make_image) -> None:  # type: ignore[no-untyped-def]
    m = make_image(TAR)
    amd = with_platform(m, plat("linux/amd64"))
    arm = with_platform(m, plat("linux/arm/v7"))
    inner = index(store, arm)
    outer = index(store, with_platform(inner, None), amd)
    read = lambda d: read_verified(store.content, d)  # noqa: E731
    assert select_manifest(read, outer, plat("linux/arm/v7")).descriptor.platform == plat("linux/arm/v7")
    assert select_manifest(read, outer, plat("linux/amd64")).descriptor.digest == m.digest
    with pytest.raises(PlatformNotFound, match=r"linux/s390x.*available: linux/amd64, linux/arm/v7"):
        select_manifest(read, outer, plat("linux/s390x"))


def test_entry_without_platform_uses_config(store: ImageStore, make_image) -> None:  # type: ignore[no-untyped-def]
    m = make_image(TAR)
    idx = index(store, with_platform(m, None))
    read = lambda d: read_verified(store.content, d)  # noqa: E731
    assert select_manifest(read, idx, host_platform()).descriptor.digest == m.digest
    with pytest.raises(PlatformNotFound, match=str(host_platform())):
        select_manifest(read, idx, plat("linux/mips64le"))


def test_unknown_target_type(store: ImageStore) -> None:
    d = put_json(store.content, "application/vnd.example+json", {})
    with pytest.raises(UnsupportedMediaType, match=r"application/vnd\.example"):
        select_manifest(lambda x: read_verified(store.content, x), d)
